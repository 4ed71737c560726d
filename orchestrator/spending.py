"""What steps spend (tokens, cost, by model), added to the step and to its run."""

from __future__ import annotations

from typing import Any

from orchestrator.models import Run, Step
from orchestrator.unit_of_work import RunTransaction
from runtime.usage import Usage


def spend(txn: RunTransaction, step: Step, usage: Usage) -> dict[str, Any]:
    """Add a finished attempt's usage to the step and the run (and return the step's figures)."""
    spent = spend_on_step(step, usage)
    spend_on_run(txn, usage)
    return spent


def _nothing(usage: Usage) -> bool:
    return usage.calls == 0 and not usage.tokens_in and not usage.tokens_out


def spend_on_step(step: Step, usage: Usage) -> dict[str, Any]:
    """Add a finished attempt's usage to the step alone (and return the step's figures): the
    run's share follows with :func:`spend_on_run` once the step's write is known to count."""
    if _nothing(usage):
        return figures(step)
    step.tokens_in += usage.tokens_in
    step.tokens_out += usage.tokens_out
    step.cost = round(step.cost + usage.cost, 10)
    step.model = usage.model or step.model
    step.by_model = merge_by_model(step.by_model, usage.by_model)
    return figures(step)


def spend_on_run(txn: RunTransaction, usage: Usage) -> None:
    """Add a finished attempt's usage to its run's totals."""
    if _nothing(usage):
        return
    run = txn.run
    run.tokens_in += usage.tokens_in
    run.tokens_out += usage.tokens_out
    run.cost = round(run.cost + usage.cost, 10)
    run.by_model = merge_by_model(run.by_model, usage.by_model)
    txn.touch("tokens_in", "tokens_out", "cost", "by_model")


def figures(step: Step) -> dict[str, Any]:
    return {
        "model": step.model,
        "tokens_in": step.tokens_in,
        "tokens_out": step.tokens_out,
        "cost": step.cost,
    }


def merge_by_model(into: dict[str, Any], more: dict[str, dict[str, float]]) -> dict[str, Any]:
    merged = {model: dict(counts) for model, counts in (into or {}).items()}
    for model, counts in more.items():
        target = merged.setdefault(model, {"tokens_in": 0, "tokens_out": 0, "cost": 0.0})
        target["tokens_in"] += counts["tokens_in"]
        target["tokens_out"] += counts["tokens_out"]
        target["cost"] = round(target["cost"] + counts["cost"], 10)
    return merged


def totals(run: Run) -> dict[str, Any]:
    return {
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost": run.cost,
        "by_model": run.by_model,
        "reused": run.reused_steps,
        "reused_cost": run.reused_cost,
    }
