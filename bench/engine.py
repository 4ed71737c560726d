"""Time per node of the in-process executor against LangGraph on the same three graphs.

    .venv/bin/pip install -e '.[bench]'   # LangGraph is a benchmark-only extra
    .venv/bin/python bench/engine.py [--repeat 300]

Graphs: a 3-node chain, a 40-node chain, and a 5-way fan-out with a join (7 nodes). Every node is
trivial on both sides (pass the value on, add one), so the figure is the engine's own overhead
per node: scheduling, step records, events, task switching. Ours is measured three ways: the
trivial node as an I/O step (the path every model call takes: a chain continues in one asyncio
task, parallel branches get a task each), as a pure step (run inline by the scheduler), and with
the real ``transform`` node (a sandboxed template render per node). Prints microseconds per
node (median of the repeats) and LangGraph's figure divided by ours.
"""

from __future__ import annotations

import argparse
import asyncio
import operator
import statistics
import time
from collections.abc import Callable
from typing import Annotated, Any, ClassVar, TypedDict

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.nodes.registry import default_registry
from runtime.validation import compile_graph


class _Empty(NodeConfig):
    pass


class AddOne(NodeType[_Empty]):
    """As trivial as a LangGraph node: take the value, add one."""

    type = "bench_add"
    label = "Add one"
    category = "logic"
    config_model = _Empty

    async def run(self, ctx: StepContext, config: _Empty) -> NodeResult:
        value = ctx.input
        return Complete((value if isinstance(value, int) else 0) + 1)


class PureAddOne(AddOne):
    type = "bench_add_pure"
    pure: ClassVar[bool] = True


REGISTRY = default_registry.copy()
REGISTRY.register(AddOne())
REGISTRY.register(PureAddOne())


def chain(length: int, node_type: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    nodes = [{"id": f"n{i}", "type": node_type, "config": config or {}} for i in range(length)]
    edges = [{"id": f"e{i}", "source": f"n{i}", "target": f"n{i + 1}"} for i in range(length - 1)]
    return {"nodes": nodes, "edges": edges}


def fan_out(width: int, node_type: str, config: dict[str, Any] | None = None) -> dict[str, Any]:
    nodes = [{"id": "start", "type": node_type, "config": config or {}}]
    nodes += [{"id": f"b{i}", "type": node_type, "config": config or {}} for i in range(width)]
    nodes.append({"id": "join", "type": "transform", "config": {"template": "joined"}})
    edges = [{"id": f"s{i}", "source": "start", "target": f"b{i}"} for i in range(width)]
    edges += [{"id": f"j{i}", "source": f"b{i}", "target": "join"} for i in range(width)]
    return {"nodes": nodes, "edges": edges}


def time_ours(graph: dict[str, Any], repeat: int) -> float:
    plan = compile_graph(graph, REGISTRY)  # compiled once, as a saved workflow version would be

    async def main() -> list[float]:
        samples = []
        for _ in range(repeat):
            executor = InProcessExecutor(registry=REGISTRY, sink=ListSink())
            started = time.perf_counter()
            result = await executor.run(plan, 0)
            samples.append(time.perf_counter() - started)
            assert result.status == "succeeded", result.error
        return samples

    samples = asyncio.run(main())
    return statistics.median(samples) / len(graph["nodes"])


def langgraph_graphs() -> dict[str, tuple[Callable[[], Any], int]]:
    from langgraph.graph import END, START, StateGraph

    class State(TypedDict):
        x: int
        seen: Annotated[list[int], operator.add]

    def add(state: State) -> dict[str, Any]:
        return {"x": state["x"] + 1}

    def branch(state: State) -> dict[str, Any]:
        return {"seen": [state["x"]]}

    def lg_chain(length: int) -> Any:
        builder = StateGraph(State)
        for i in range(length):
            builder.add_node(f"n{i}", add)
        builder.add_edge(START, "n0")
        for i in range(length - 1):
            builder.add_edge(f"n{i}", f"n{i + 1}")
        builder.add_edge(f"n{length - 1}", END)
        return builder.compile()

    def lg_fan(width: int) -> Any:
        builder = StateGraph(State)
        builder.add_node("start", add)
        builder.add_node("join", add)
        builder.add_edge(START, "start")
        for i in range(width):
            builder.add_node(f"b{i}", branch)
            builder.add_edge("start", f"b{i}")
        builder.add_edge([f"b{i}" for i in range(width)], "join")
        builder.add_edge("join", END)
        return builder.compile()

    return {
        "3-node chain": (lambda: lg_chain(3), 3),
        "40-node chain": (lambda: lg_chain(40), 40),
        "5-way fan-out + join": (lambda: lg_fan(5), 7),
    }


def time_langgraph(build: Callable[[], Any], nodes: int, repeat: int) -> float:
    graph = build()
    samples = []
    for _ in range(repeat):
        started = time.perf_counter()
        graph.invoke({"x": 0, "seen": []})
        samples.append(time.perf_counter() - started)
    return statistics.median(samples) / nodes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=300)
    args = parser.parse_args()
    transform = {"template": "{{ upstream }}+1"}
    cases = {
        "3-node chain": {
            "io": chain(3, "bench_add"),
            "pure": chain(3, "bench_add_pure"),
            "transform": chain(3, "transform", transform),
        },
        "40-node chain": {
            "io": chain(40, "bench_add"),
            "pure": chain(40, "bench_add_pure"),
            "transform": chain(40, "transform", transform),
        },
        "5-way fan-out + join": {
            "io": fan_out(5, "bench_add"),
            "pure": fan_out(5, "bench_add_pure"),
            "transform": fan_out(5, "transform", transform),
        },
    }
    try:
        lg = langgraph_graphs()
    except ImportError:
        lg = {}
        print("LangGraph is not installed: pip install -e '.[bench]' to compare.\n")
    header = (
        f"{'graph':<22} {'ours io':>9} {'ours pure':>10} {'transform':>10} "
        f"{'LangGraph':>10} {'ratio':>7}"
    )
    print("µs per node, median of", args.repeat, "runs")
    print(header)
    print("-" * len(header))
    for name, graphs in cases.items():
        ours = {kind: time_ours(graph, args.repeat) * 1e6 for kind, graph in graphs.items()}
        if name in lg:
            build, count = lg[name]
            theirs = time_langgraph(build, count, args.repeat) * 1e6
            ratio = f"{theirs / ours['io']:.1f}×"
            theirs_text = f"{theirs:.1f}"
        else:
            ratio = theirs_text = "-"
        print(
            f"{name:<22} {ours['io']:>9.1f} {ours['pure']:>10.1f} {ours['transform']:>10.1f} "
            f"{theirs_text:>10} {ratio:>7}"
        )
    print("\nratio = LangGraph µs/node ÷ ours on the I/O path")


if __name__ == "__main__":
    main()
