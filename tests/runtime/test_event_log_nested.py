"""An exported server log read for reuse (``python -m runtime run --reuse LOG``): the steps a
workflow tool call or a sub-flow ran (``<step>/…`` keys, rows of their own on the server) count
in their top-level step's recorded spend, as the server counts a step's subtree, and are not
taken for top-level steps or delegated tasks."""

from __future__ import annotations

from typing import Any

from runtime.event_log import recorded_run


def event(seq: int, type_: str, step: str | None, data: dict[str, Any]) -> dict[str, Any]:
    return {"seq": seq, "type": type_, "run": "r1", "step": step, "data": data}


def ended(output: Any, cost: float, tokens: int) -> dict[str, Any]:
    return {
        "output": output,
        "cost": cost,
        "tokens_in": tokens,
        "tokens_out": tokens,
        "fingerprint": "f",
    }


def test_nested_steps_spend_counts_in_their_top_level_step_only() -> None:
    log = [
        event(1, "run.started", None, {"input": {"q": "tides"}}),
        event(2, "step.started", "agent", {"input": {"q": "tides"}, "attempt": 1}),
        event(3, "step.started", "agent/Lookup.1", {"input": {"q": "tides"}, "parent": "agent"}),
        event(4, "step.started", "agent/Lookup.1/look", {"input": {"q": "tides"}}),
        event(5, "step.succeeded", "agent/Lookup.1/look", ended("twice", 0.002, 10)),
        event(6, "step.started", "agent/Lookup.1/each.item.1", {"input": 1}),
        event(7, "step.succeeded", "agent/Lookup.1/each.item.1", ended(1, 0.001, 5)),
        event(8, "step.succeeded", "agent/Lookup.1", ended("twice", 0.0, 0)),
        event(9, "step.succeeded", "agent", ended("answered", 0.004, 20)),
        event(10, "step.started", "sub", {"input": None}),
        event(11, "step.started", "sub/check", {"input": None}),
        event(12, "step.succeeded", "sub/check", ended("ok", 0.003, 7)),
        event(13, "step.succeeded", "sub", ended("ok", 0.0, 0)),
    ]
    found = recorded_run(log)
    assert set(found.steps) == {"agent", "sub"}
    assert found.steps["agent"].cost == 0.007
    assert (found.steps["agent"].tokens_in, found.steps["agent"].tokens_out) == (35, 35)
    assert found.steps["sub"].cost == 0.003 and found.steps["sub"].tokens_in == 7
    assert found.tasks == {}
