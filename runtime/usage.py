"""Token and cost accounting for one step, and the model price catalogue."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(frozen=True, slots=True)
class ModelPrice:
    """USD per million tokens."""

    input: float = 0.0
    output: float = 0.0
    context: int | None = None


# A starting catalogue; deployments override or extend it (Services.prices).
DEFAULT_PRICES: dict[str, ModelPrice] = {
    "local/echo": ModelPrice(0.0, 0.0, 1_000_000),
    "openai/gpt-4o-mini": ModelPrice(0.15, 0.60, 128_000),
    "openai/gpt-4o": ModelPrice(2.50, 10.00, 128_000),
    "openai/gpt-4.1-mini": ModelPrice(0.40, 1.60, 1_047_576),
    "openai/gpt-4.1": ModelPrice(2.00, 8.00, 1_047_576),
    "openai/gpt-4.1-nano": ModelPrice(0.10, 0.40, 1_047_576),
    "openai/gpt-5": ModelPrice(1.25, 10.00, 400_000),
    "openai/gpt-5-mini": ModelPrice(0.25, 2.00, 400_000),
    "openai/gpt-5-nano": ModelPrice(0.05, 0.40, 400_000),
    "openai/o4-mini": ModelPrice(1.10, 4.40, 200_000),
    # Anthropic: the aliases and the dated ids they point at. Input tokens here include cache
    # reads and writes, which Anthropic bills at 0.1x and 1.25x; the estimate ignores that.
    "anthropic/claude-haiku-4-5": ModelPrice(1.00, 5.00, 200_000),
    "anthropic/claude-haiku-4-5-20251001": ModelPrice(1.00, 5.00, 200_000),
    "anthropic/claude-sonnet-4-5": ModelPrice(3.00, 15.00, 200_000),
    "anthropic/claude-sonnet-4-5-20250929": ModelPrice(3.00, 15.00, 200_000),
    "anthropic/claude-opus-4-1": ModelPrice(15.00, 75.00, 200_000),
    "anthropic/claude-3-5-haiku-latest": ModelPrice(0.80, 4.00, 200_000),
}


def cost_of(price: ModelPrice | None, tokens_in: int, tokens_out: int) -> float:
    if price is None:
        return 0.0
    return round((tokens_in * price.input + tokens_out * price.output) / 1_000_000, 10)


@dataclass(slots=True)
class Usage:
    """What a step spent: summed over every model call it made (retries and tool loops included)."""

    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    calls: int = 0
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)

    def add(self, model: str, tokens_in: int, tokens_out: int, cost: float) -> None:
        self.model = model
        self.tokens_in += tokens_in
        self.tokens_out += tokens_out
        self.cost = round(self.cost + cost, 10)
        self.calls += 1
        per = self.by_model.setdefault(model, {"tokens_in": 0, "tokens_out": 0, "cost": 0.0})
        per["tokens_in"] += tokens_in
        per["tokens_out"] += tokens_out
        per["cost"] = round(per["cost"] + cost, 10)

    def to_dict(self) -> dict[str, Any]:
        return {
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
        }
