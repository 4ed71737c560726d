"""What a step's failure does to its run, for every executor.

A step that fails for good either leaves along its node's ``error`` edge (the error becomes its
output, and the run goes on) or fails the run. The in-process executor and the Celery side both
ask these functions, so a flow fails the same way wherever it runs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.errors import BudgetExceededError
from runtime.plan import Plan


def takes_error_edge(
    plan: Plan, node_id: str, error: Mapping[str, Any], *, delegated: bool = False
) -> bool:
    """Whether a failure goes along the node's error edge instead of failing the run.

    A delegated task's failure goes back to the step that delegated it, never along an edge.
    A spent budget stops the run: an error edge must not carry it on to more calls.
    """
    if delegated or error.get("code") == BudgetExceededError.code:
        return False
    return plan.handles_errors(node_id)


def run_error(step_key: str, node_id: str, error: Mapping[str, Any] | None) -> dict[str, Any]:
    """The run's error when step ``step_key`` failed it: the step's error, named after it."""
    details = dict(error or {})
    message = details.pop("message", "")
    return {
        "message": f"step {step_key!r} failed: {message}"
        if message
        else f"step {step_key!r} failed",
        "step": step_key,
        "node": node_id,
        **details,
    }
