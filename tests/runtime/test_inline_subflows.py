"""How a subflow step reaches a runner: the executor running the step provides one on
``Services.subflows`` (runtime.inline_subflows), so node types never import an executor."""

from __future__ import annotations

from typing import ClassVar

import pytest

from runtime.errors import GraphValidationError, NodeConfigError
from runtime.executor import InProcessExecutor
from runtime.flows import StaticFlows
from runtime.inline_subflows import InlineSubflows
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.nodes.registry import default_registry
from runtime.nodes.subflow import SubflowConfig, SubflowNode
from runtime.services import Services
from tests.runtime.graphs import chain, compiled, input_node, node, output_node, transform


class ShoutNode(NodeType[NodeConfig]):
    """A node type only the test registry knows."""

    type: ClassVar[str] = "shout"
    label: ClassVar[str] = "Shout"
    category: ClassVar[str] = "logic"
    config_model = NodeConfig

    async def run(self, ctx: StepContext, config: NodeConfig) -> NodeResult:
        return Complete(str(ctx.input).upper())


def calling(ref: str) -> dict[str, object]:
    return chain(input_node("in"), node("call", "subflow", workflow=ref), output_node())


async def test_the_in_process_executor_runs_sub_flows_with_its_own_node_types() -> None:
    registry = default_registry.copy()
    registry.register(ShoutNode())
    loud = chain(input_node("in"), node("s", "shout"), output_node())
    services = Services(flows=StaticFlows({"loud": loud}))

    result = await InProcessExecutor(registry, services).run(calling("loud"), "hi")

    assert result.status == "succeeded", result.error
    assert result.output == "HI"


async def test_a_step_with_no_runner_on_its_services_refuses_plainly() -> None:
    plan = compiled(calling("echo"))
    echo = chain(input_node("in"), transform("t", "{{ input }}"), output_node())
    ctx = StepContext(
        run_id="r",
        step_id="call",
        node=plan.nodes["call"].node,
        attempt=1,
        input="hi",
        scope={"input": "hi", "nodes": {}, "upstream": "hi"},
        services=Services(flows=StaticFlows({"echo": echo})),
    )

    with pytest.raises(NodeConfigError, match="sub-flows cannot run here"):
        await SubflowNode().run(ctx, SubflowConfig(workflow="echo"))


def test_compiling_names_each_nodes_type_and_refuses_a_graph_that_cannot_run() -> None:
    runner = InlineSubflows(default_registry, InProcessExecutor)
    subflow = runner.compile(chain(input_node("in"), transform("t", "x"), output_node()))

    assert subflow.node_types == {"in": "input", "t": "transform", "out": "output"}
    with pytest.raises(GraphValidationError):
        runner.compile(chain(input_node("in"), node("x", "no-such-type"), output_node()))
