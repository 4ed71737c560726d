"""Map and loop in the engine: what validation refuses about their body and limits, and the
in-process executor's window of concurrent items."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from runtime.executor import InProcessExecutor
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.nodes.registry import NodeRegistry, build_default_registry
from runtime.validation import validate_graph


def graph(kind: str, config: dict[str, Any], bodies: int = 1, fed: bool = False) -> dict[str, Any]:
    nodes = [{"id": "start", "type": "input"}, {"id": "it", "type": kind, "config": config}]
    edges = [{"id": "e", "source": "start", "target": "it"}]
    for n in range(bodies):
        nodes.append({"id": f"b{n}", "type": "transform", "config": {"template": "{{ upstream }}"}})
        edges.append({"id": f"d{n}", "source": "it", "target": f"b{n}", "kind": "delegate"})
    if fed:
        edges.append({"id": "f", "source": "start", "target": "b0"})
    return {"nodes": nodes, "edges": edges}


@pytest.mark.parametrize(
    ("kind", "config", "bodies", "fed", "code"),
    [
        ("map", {}, 0, False, "body_count"),
        ("map", {}, 2, False, "body_count"),
        ("map", {}, 1, True, "body_with_inputs"),
        ("loop", {}, 1, False, "invalid_config"),  # no max_iterations: no default
        ("loop", {"max_iterations": 101}, 1, False, "invalid_config"),
        ("map", {"max_items": 10_001}, 1, False, "invalid_config"),
        ("map", {"concurrency": 0}, 1, False, "invalid_config"),
    ],
)
def test_validation_refuses_a_body_count_other_than_one_and_settings_out_of_bounds(
    kind: str, config: dict[str, Any], bodies: int, fed: bool, code: str
) -> None:
    issues = validate_graph(graph(kind, config, bodies, fed))
    assert code in {issue.code for issue in issues}, issues


def test_a_valid_map_and_loop_pass() -> None:
    assert validate_graph(graph("map", {"items": "upstream"})) == []
    assert validate_graph(graph("loop", {"max_iterations": 3})) == []


class SlowConfig(NodeConfig):
    pass


class Slow(NodeType[SlowConfig]):
    """Sleeps a little and counts how many of it run at once."""

    type = "test_slow"
    label = "Slow"
    category = "logic"
    config_model = SlowConfig
    delegatable = True
    running = 0
    peak = 0

    async def run(self, ctx: StepContext, config: SlowConfig) -> NodeResult:
        Slow.running += 1
        Slow.peak = max(Slow.peak, Slow.running)
        await asyncio.sleep(0.01)
        Slow.running -= 1
        return Complete(ctx.input * 2)


def test_in_process_a_map_runs_at_most_its_concurrency_at_once_and_keeps_order() -> None:
    registry: NodeRegistry = build_default_registry()
    registry.register(Slow())
    flow = graph("map", {"items": "upstream.numbers", "concurrency": 3})
    flow["nodes"][2] = {"id": "b0", "type": "test_slow", "config": {}}
    result = InProcessExecutor(registry=registry).run_sync(flow, {"numbers": list(range(20))})
    assert result.status == "succeeded", result.error
    assert result.steps["it"].output == [n * 2 for n in range(20)]
    assert Slow.peak == 3
