"""The run's budget: what one run may spend (tokens and/or USD), and what it has spent.

Every model call charges it (:func:`runtime.llm.chat`). Once spend passes ``downgrade_at`` of a
limit, tiered nodes are sent to the cheapest tier (:mod:`runtime.model_tiers`); once it passes a
limit, the next check raises :class:`~runtime.errors.BudgetExceededError` and the run stops.

The in-process executor shares one Budget object between all steps of a run. The Celery side
builds one per step from the Run row (limits, and what the run has spent so far) and hands it to
the step in ``StepContext.budget``: spend is then exact within a step and bounded across steps by
what steps running at the same moment spend before they see each other's totals.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from runtime.errors import BudgetExceededError


@dataclass
class Budget:
    """What one run may spend, and what it has spent so far.

    ``max_tokens`` counts input and output tokens together; ``max_cost`` is USD. Either may be
    None (no limit on that). ``tokens`` and ``cost`` start at what was spent before (the Celery
    side reads them from the Run row) and grow with every model call.
    """

    max_tokens: int | None = None
    max_cost: float | None = None
    downgrade_at: float = 0.8  # fraction of a limit after which tiered nodes use the cheapest tier
    tokens: int = 0
    cost: float = 0.0

    def __post_init__(self) -> None:
        if self.max_tokens is not None and self.max_tokens < 0:
            raise ValueError("max_tokens must not be negative")
        if self.max_cost is not None and self.max_cost < 0:
            raise ValueError("max_cost must not be negative")
        if not 0 < self.downgrade_at <= 1:
            raise ValueError("downgrade_at must be in (0, 1]")

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Budget:
        """From JSON such as a run's ``{"max_tokens": 5000, "max_cost": 0.5}`` (+ spent so far)."""
        known = {"max_tokens", "max_cost", "downgrade_at", "tokens", "cost"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown budget fields: {', '.join(unknown)}")
        return cls(**dict(data))

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_tokens": self.max_tokens,
            "max_cost": self.max_cost,
            "downgrade_at": self.downgrade_at,
            "tokens": self.tokens,
            "cost": self.cost,
        }

    def charge(self, tokens: int, cost: float) -> None:
        self.tokens += tokens
        self.cost = round(self.cost + cost, 10)

    @property
    def fraction(self) -> float:
        """The largest share of a limit spent so far (0 when there is no limit)."""
        shares = [0.0]
        if self.max_tokens is not None:
            shares.append(self.tokens / self.max_tokens if self.max_tokens else float("inf"))
        if self.max_cost is not None:
            shares.append(self.cost / self.max_cost if self.max_cost else float("inf"))
        return max(shares)

    @property
    def nearly_spent(self) -> bool:
        return self.fraction >= self.downgrade_at

    @property
    def exceeded(self) -> bool:
        over_tokens = self.max_tokens is not None and self.tokens > self.max_tokens
        over_cost = self.max_cost is not None and self.cost > self.max_cost + 1e-12
        return over_tokens or over_cost

    def check(self) -> None:
        """Raise BudgetExceededError once spend has gone past a limit."""
        if not self.exceeded:
            return
        parts = []
        if self.max_tokens is not None and self.tokens > self.max_tokens:
            parts.append(f"{self.tokens} tokens of {self.max_tokens}")
        if self.max_cost is not None and self.cost > self.max_cost:
            parts.append(f"${self.cost:.6f} of ${self.max_cost:.6f}")
        raise BudgetExceededError(
            f"the run's budget is spent: {' and '.join(parts)}", spent=self.to_dict()
        )


__all__ = ["Budget"]
