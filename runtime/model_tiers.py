"""Model tiers: which model a node's ``model`` setting means.

A node's ``model`` setting is a model id (``openai/gpt-4o-mini``) or a *tier* name (``fast``,
``strong``). A :class:`RoutingPolicy` maps tiers to model ids; a deployment sets its own on
``Services.routing`` (read with :func:`runtime.services.routing_policy`, defaults to
:data:`DEFAULT_POLICY`). While the run's :class:`~runtime.budget.Budget` is nearly spent, tiered
nodes are sent to the cheapest tier.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime.budget import Budget
from runtime.errors import NodeConfigError

FAST = "fast"
STRONG = "strong"
LOCAL_MODEL = "local/echo"


@dataclass(frozen=True)
class RoutingPolicy:
    """Tier name → model id, and the tiers from cheapest to strongest."""

    tiers: Mapping[str, str] = field(
        default_factory=lambda: {FAST: LOCAL_MODEL, STRONG: LOCAL_MODEL}
    )
    order: tuple[str, ...] = (FAST, STRONG)

    def __post_init__(self) -> None:
        for tier, model in self.tiers.items():
            if "/" in tier:
                raise ValueError(f"tier name {tier!r} must not contain '/' (model ids do)")
            if "/" not in model:
                raise ValueError(f"tier {tier!r} maps to {model!r}, not a 'provider/model' id")
        missing = [tier for tier in self.order if tier not in self.tiers]
        if missing:
            raise ValueError(f"tiers in order without a model: {', '.join(missing)}")

    def is_tier(self, name: str | None) -> bool:
        return name is not None and name in self.tiers

    def cheapest(self) -> str:
        return self.order[0] if self.order else next(iter(self.tiers))

    def stronger(self, tier: str) -> str | None:
        """The next tier up from ``tier``, or None when it is the strongest (or unordered)."""
        if tier not in self.order:
            return None
        index = self.order.index(tier)
        return self.order[index + 1] if index + 1 < len(self.order) else None

    def model_for(self, tier: str) -> str:
        try:
            return self.tiers[tier]
        except KeyError:
            raise NodeConfigError(f"no model is set for tier {tier!r}") from None

    def choose(self, model: str | None, budget: Budget | None = None) -> str | None:
        """The model id to call for a setting that is a model id or a tier name.

        A tier is sent to the cheapest tier while the budget is nearly spent. A model id (or
        None, meaning the deployment's default model) is returned as it is.
        """
        if not self.is_tier(model):
            return model
        assert model is not None
        tier = self.cheapest() if budget is not None and budget.nearly_spent else model
        return self.model_for(tier)


DEFAULT_POLICY = RoutingPolicy()
TIER_NAMES = (FAST, STRONG)


__all__ = [
    "DEFAULT_POLICY",
    "FAST",
    "STRONG",
    "TIER_NAMES",
    "RoutingPolicy",
]
