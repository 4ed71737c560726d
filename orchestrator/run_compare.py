"""Two runs side by side, node by node: status, output (and whether it is the same), tokens, cost
and duration. A node's figures include what its delegated tasks spent (a manager's team)."""

from __future__ import annotations

from typing import Any

from orchestrator.models import Run
from orchestrator.serializers import RunSummarySerializer, subtree_totals
from runtime.events import SUCCEEDED_STEP_STATUSES
from runtime.graph import canonical_json


def _by_node(run: Run) -> dict[str, dict[str, Any]]:
    steps = list(run.steps.order_by("id"))
    subtrees = subtree_totals(steps)
    found: dict[str, dict[str, Any]] = {}
    for step in steps:
        if step.parent_id is not None:
            continue
        spent = subtrees.get(step.pk, {})
        found[step.node_id] = {
            "step": step.key,
            "status": step.status,
            "output": step.output,
            "error": step.error,
            "branch": step.branch,
            "tokens_in": spent.get("tokens_in", step.tokens_in),
            "tokens_out": spent.get("tokens_out", step.tokens_out),
            "cost": spent.get("cost", step.cost),
            "duration_ms": step.duration_ms,
            "reused_from": step.reused_from,
        }
    return found


def compare_runs(first: Run, second: Run) -> dict[str, Any]:
    left, right = _by_node(first), _by_node(second)
    order = list(dict.fromkeys([*left, *right]))
    nodes = []
    for node_id in order:
        a, b = left.get(node_id), right.get(node_id)
        same = a is not None and b is not None and _same(a, b)
        nodes.append({"node": node_id, "a": a, "b": b, "same_output": same})
    return {
        "a": RunSummarySerializer(first).data,
        "b": RunSummarySerializer(second).data,
        "nodes": nodes,
        "differences": sum(1 for entry in nodes if not entry["same_output"]),
    }


def _same(a: dict[str, Any], b: dict[str, Any]) -> bool:
    """Same outcome: a reused step counts as the success it stands for."""

    def outcome(side: dict[str, Any]) -> str:
        status = "succeeded" if side["status"] in SUCCEEDED_STEP_STATUSES else side["status"]
        return canonical_json([status, side["branch"], side["output"], side["error"]])

    return outcome(a) == outcome(b)
