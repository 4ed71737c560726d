"""The record of every step and of a whole run."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.events import RunStatus, StepStatus


@dataclass(slots=True)
class StepRecord:
    id: str
    node: str
    type: str
    status: StepStatus = "pending"
    parent: str | None = None
    input: Any = None
    output: Any = None
    branch: str | None = None
    error: dict[str, Any] | None = None
    attempt: int = 0
    model: str | None = None
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    started_at: float | None = None
    finished_at: float | None = None
    # A reused step: where its output came from ({"kind", "run", "step"}; see runtime.reuse).
    reused_from: dict[str, Any] | None = None

    @property
    def duration_ms(self) -> float | None:
        if self.started_at is None or self.finished_at is None:
            return None
        return round((self.finished_at - self.started_at) * 1000, 3)

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "node": self.node,
            "type": self.type,
            "status": self.status,
            "parent": self.parent,
            "input": self.input,
            "output": self.output,
            "branch": self.branch,
            "error": self.error,
            "attempt": self.attempt,
            "model": self.model,
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "started_at": self.started_at,
            "finished_at": self.finished_at,
            "duration_ms": self.duration_ms,
            "reused_from": self.reused_from,
        }


@dataclass(slots=True)
class Totals:
    tokens_in: int = 0
    tokens_out: int = 0
    cost: float = 0.0
    by_model: dict[str, dict[str, float]] = field(default_factory=dict)
    # Steps reused from an earlier run instead of executed, and what they cost back then.
    reused: int = 0
    reused_cost: float = 0.0

    def add(self, step: StepRecord, by_model: dict[str, dict[str, float]] | None = None) -> None:
        if not (step.tokens_in or step.tokens_out or step.cost or by_model):
            return  # nothing spent (most steps: no model call): nothing to add or round
        self.tokens_in += step.tokens_in
        self.tokens_out += step.tokens_out
        self.cost = round(self.cost + step.cost, 10)
        for model, figures in (by_model or {}).items():
            into = self.by_model.setdefault(model, {"tokens_in": 0, "tokens_out": 0, "cost": 0.0})
            into["tokens_in"] += figures["tokens_in"]
            into["tokens_out"] += figures["tokens_out"]
            into["cost"] = round(into["cost"] + figures["cost"], 10)

    def add_reused(self, saved_cost: float) -> None:
        self.reused += 1
        self.reused_cost = round(self.reused_cost + saved_cost, 10)

    def to_dict(self) -> dict[str, Any]:
        return {
            "tokens_in": self.tokens_in,
            "tokens_out": self.tokens_out,
            "cost": self.cost,
            "by_model": self.by_model,
            "reused": self.reused,
            "reused_cost": self.reused_cost,
        }


@dataclass(slots=True)
class RunResult:
    run_id: str
    status: RunStatus
    output: Any = None
    error: dict[str, Any] | None = None
    steps: dict[str, StepRecord] = field(default_factory=dict)
    totals: Totals = field(default_factory=Totals)
    started_at: float | None = None
    finished_at: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "status": self.status,
            "output": self.output,
            "error": self.error,
            "steps": [step.to_dict() for step in self.steps.values()],
            "totals": self.totals.to_dict(),
            "started_at": self.started_at,
            "finished_at": self.finished_at,
        }
