"""Per-node retry policy, decided by data (after Temporal's RetryPolicy)."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from runtime.errors import RateLimitError, StepError


class RetryPolicy(BaseModel):
    model_config = ConfigDict(extra="forbid")

    max_attempts: int = Field(
        default=3, ge=1, le=20, description="Attempts in all, the first included"
    )
    initial_delay: float = Field(
        default=1.0, ge=0, le=600, description="Seconds before the 2nd attempt"
    )
    backoff: float = Field(
        default=2.0, ge=1, le=10, description="Each delay is the last one times this"
    )
    max_delay: float = Field(
        default=60.0, ge=0, le=3600, description="No delay is longer than this"
    )
    retry_on: list[str] | None = Field(
        default=None,
        description="Error codes to retry (e.g. rate_limited); empty means every retryable error",
    )

    def should_retry(self, attempt: int, error: BaseException) -> bool:
        """Whether attempt number ``attempt`` (1-based) failing with ``error`` earns another."""
        if attempt >= self.max_attempts or not isinstance(error, StepError):
            return False
        if not error.retryable:
            return False
        return not self.retry_on or error.code in self.retry_on

    def next_delay(self, attempt: int, error: BaseException) -> float | None:
        """The retry decision: seconds to wait before another attempt after attempt number
        ``attempt`` failed with ``error``, or None when the step fails for good."""
        if not self.should_retry(attempt, error):
            return None
        return self.delay_before(attempt + 1, error)

    def delay_before(self, next_attempt: int, error: BaseException | None = None) -> float:
        """Seconds to wait before attempt ``next_attempt`` (2 for the first retry)."""
        if isinstance(error, RateLimitError) and error.retry_after is not None:
            # The vendor knows when its window reopens; waiting less only burns an attempt.
            return min(max(error.retry_after, 0.0), self.max_delay)
        delay = self.initial_delay * self.backoff ** max(next_attempt - 2, 0)
        return min(delay, self.max_delay)


NO_RETRY = RetryPolicy(max_attempts=1)
