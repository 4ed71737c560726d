"""One error hierarchy for the engine.

    FlowError
    ├── GraphValidationError       the graph is not runnable; carries every issue at once
    ├── StepError                  a step failed; ``retryable`` decides whether a retry may help
    │   ├── RetryableError
    │   │   ├── RateLimitError             429; ``retry_after`` seconds when the vendor said
    │   │   ├── ProviderUnavailableError   5xx, overload, connection refused
    │   │   └── ProviderTimeoutError       the call took longer than its timeout
    │   └── PermanentError
    │       ├── ProviderAuthError          401/403: a key is missing or wrong
    │       ├── ProviderBadRequestError    4xx other than 429: retrying sends the same bad request
    │       ├── ProviderResponseError      the vendor answered with something we cannot parse
    │       ├── TemplateError              a template does not parse or fails to render
    │       ├── ExpressionError            a router expression does not parse or fails
    │       ├── NodeConfigError            settings that validation could not catch
    │       ├── OutputSchemaError          a model's answer failed its JSON Schema (after repairs)
    │       └── BudgetExceededError        the run spent more tokens or money than its budget
    └── RunCancelled               the run was cancelled while a step ran

Waiting for a human and delegating to other nodes are *not* errors: a node returns
:class:`runtime.nodes.base.Suspend` or :class:`runtime.nodes.base.Delegate` for those.
"""

from __future__ import annotations

from typing import Any


class FlowError(Exception):
    """Base of every error the engine raises on purpose."""


class GraphValidationError(FlowError):
    def __init__(self, issues: list[Any]) -> None:
        self.issues = issues
        lines = "; ".join(str(issue) for issue in issues[:5])
        more = f" (+{len(issues) - 5} more)" if len(issues) > 5 else ""
        super().__init__(f"{len(issues)} validation error(s): {lines}{more}")


class StepError(FlowError):
    """A step failed. Subclasses say whether trying again may help."""

    retryable: bool = False
    code: str = "step_error"

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": str(self), "retryable": self.retryable}


class RetryableError(StepError):
    retryable = True
    code = "retryable"


class PermanentError(StepError):
    retryable = False
    code = "permanent"


class RateLimitError(RetryableError):
    code = "rate_limited"

    def __init__(self, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "retry_after": self.retry_after}


class ProviderUnavailableError(RetryableError):
    code = "provider_unavailable"


class ProviderTimeoutError(RetryableError):
    code = "provider_timeout"


class ProviderAuthError(PermanentError):
    code = "provider_auth"


class ProviderBadRequestError(PermanentError):
    code = "provider_bad_request"


class ProviderResponseError(PermanentError):
    code = "provider_bad_response"


class TemplateError(PermanentError):
    code = "template_error"


class ExpressionError(PermanentError):
    code = "expression_error"


class NodeConfigError(PermanentError):
    code = "node_config_error"


class OutputSchemaError(PermanentError):
    """A model's answer is not the JSON its settings ask for, even after repair requests."""

    code = "invalid_output"


class BudgetExceededError(PermanentError):
    """The run has spent more than its budget: it stops here, whatever error edges say."""

    code = "budget_exceeded"

    def __init__(self, message: str, spent: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.spent = spent or {}

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "budget": self.spent}


class RunCancelled(FlowError):
    """Raised inside a step when its run was cancelled."""


class StepTimeoutError(RetryableError):
    code = "step_timeout"
