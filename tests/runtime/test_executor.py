"""InProcessExecutor end to end: events, outputs, branching, concurrency, failures, retries,
timeouts, token accounting, and the room for what comes next (waiting for a person, delegation).

The test-only node types below are registered in a copy of the default registry; they are real
node types run by the real executor, not mocks.
"""

from __future__ import annotations

import asyncio
import gc
import time
from typing import Any

import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.base import (
    Complete,
    NodeConfig,
    NodeResult,
    NodeType,
    StepContext,
    Suspend,
)
from runtime.nodes.registry import NodeRegistry, default_registry
from runtime.records import RunResult, StepRecord
from runtime.sandbox import compile_template
from runtime.services import Services
from runtime.usage import ModelPrice
from tests.runtime.graphs import (
    chain,
    edge,
    graph,
    input_node,
    node,
    output_node,
    router,
    transform,
    wire,
    worker,
)
from tests.support.node_types import Failing, Manager

# -- test-only node types -----------------------------------------------------------------------


class NapConfig(NodeConfig):
    seconds: float = 0.2
    timeout: float | None = None


class Nap(NodeType[NapConfig]):
    """I/O that takes a while: records when it started and ended, and whether it was cancelled."""

    type = "test_nap"
    label = "Nap"
    category = "logic"
    config_model = NapConfig

    def __init__(self) -> None:
        self.intervals: dict[str, tuple[float, float]] = {}
        self.cancelled: set[str] = set()

    async def run(self, ctx: StepContext, config: NapConfig) -> NodeResult:
        started = time.monotonic()
        try:
            await asyncio.sleep(config.seconds)
        except asyncio.CancelledError:
            self.cancelled.add(ctx.node.id)
            raise
        self.intervals[ctx.node.id] = (started, time.monotonic())
        return Complete(f"{ctx.node.id} slept")


class GateConfig(NodeConfig):
    prompt: str = "Approve?"


class Gate(NodeType[GateConfig]):
    """An approval gate in miniature: Suspend until a person answers, then leave by their choice."""

    type = "test_gate"
    label = "Gate"
    category = "human"
    config_model = GateConfig

    def outputs(self, config: GateConfig) -> list[str]:
        return ["approved", "rejected"]

    def templates(self, config: GateConfig) -> dict[str, str]:
        return {"prompt": config.prompt}

    async def run(self, ctx: StepContext, config: GateConfig) -> NodeResult:
        if ctx.resume is None:
            prompt = compile_template(config.prompt).render(ctx.scope)
            return Suspend({"prompt": prompt, "draft": ctx.input})
        answer = ctx.resume
        branch = "approved" if answer.get("approve") else "rejected"
        return Complete({"draft": ctx.input, "comment": answer.get("comment")}, branch=branch)


class Types:
    def __init__(self) -> None:
        self.nap = Nap()
        self.failing = Failing()
        self.gate = Gate()
        self.manager = Manager()
        self.registry: NodeRegistry = default_registry.copy()
        for node_type in (self.nap, self.failing, self.gate, self.manager):
            self.registry.register(node_type)


@pytest.fixture
def types() -> Types:
    return Types()


@pytest.fixture
def sink() -> ListSink:
    return ListSink()


def step_events(sink: ListSink, step: str) -> list[str]:
    return [e.type for e in sink.events if e.step == step]


def events_of(sink: ListSink, type_: str) -> list[Any]:
    return [e for e in sink.events if e.type == type_]


def assert_gap_free(sink: ListSink) -> None:
    assert [e.seq for e in sink.events] == list(range(1, len(sink.events) + 1))


# -- a chain, its events and its output ---------------------------------------------------------


async def test_it_emits_the_events_of_a_chain_in_order(sink: ListSink) -> None:
    raw = chain(
        input_node("in"),
        transform("shout", "{{ input.word | upper }}!"),
        worker("say", "Say {{ upstream }}", stream=False),
        output_node("out", value="{{ nodes.shout.output }} / {{ upstream | length > 0 }}"),
    )
    result = await InProcessExecutor(sink=sink).run(raw, {"word": "hi"}, run_id="r1")

    assert result.status == "succeeded"
    assert result.output == "HI! / True"
    assert [(e.type, e.step) for e in sink.events] == [
        ("run.started", None),
        ("step.started", "in"),
        ("step.succeeded", "in"),
        ("step.started", "shout"),
        ("step.succeeded", "shout"),
        ("step.started", "say"),
        ("step.succeeded", "say"),
        ("step.started", "out"),
        ("step.succeeded", "out"),
        ("run.succeeded", None),
    ]
    assert_gap_free(sink)
    assert {e.run for e in sink.events} == {"r1"}
    assert sink.events[0].data == {"input": {"word": "hi"}}
    assert sink.events[-1].data["output"] == "HI! / True"
    assert [s.status for s in result.steps.values()] == ["succeeded"] * 4
    assert result.steps["say"].input == "HI!"
    assert "Say HI!" in result.steps["say"].output


async def test_it_passes_the_upstream_output_through_an_output_node_without_a_value() -> None:
    raw = chain(input_node("in"), transform("t", "{{ input.a + input.b }}"), output_node("out"))
    result = await InProcessExecutor().run(raw, {"a": 2, "b": 3})
    assert (result.status, result.output) == ("succeeded", "5")


async def test_it_answers_an_object_keyed_by_output_node_for_several_outputs() -> None:
    raw = graph(
        [input_node("in"), output_node("o1", "one"), output_node("o2", "{{ input.x }}")],
        wire(("in", "o1"), ("in", "o2")),
    )
    result = await InProcessExecutor().run(raw, {"x": 2})
    assert result.output == {"o1": "one", "o2": "2"}


# -- routers ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("score", "taken", "skipped"), [(9, "high", "low"), (1, "low", "high")])
async def test_it_skips_the_branch_a_router_did_not_take(
    sink: ListSink, score: int, taken: str, skipped: str
) -> None:
    raw = graph(
        [
            input_node("in"),
            router("r", [("big", "input.score > 5")]),
            transform("high", "high {{ input.score }}"),
            transform("low", "low {{ input.score }}"),
            transform("low2", "still low"),
            output_node("out"),
        ],
        wire(
            ("in", "r"),
            ("r", "high", "big"),
            ("r", "low", "default"),
            ("low", "low2"),
            ("high", "out"),
            ("low2", "out"),
        ),
    )
    result = await InProcessExecutor(sink=sink).run(raw, {"score": score})

    assert result.status == "succeeded"
    assert result.steps["r"].branch == ("big" if taken == "high" else "default")
    assert result.steps[taken].status == "succeeded"
    assert result.steps[skipped].status == "skipped"
    assert step_events(sink, skipped) == ["step.skipped"]
    if skipped == "low":  # the skip cascades down the chain
        assert result.steps["low2"].status == "skipped"
        assert result.output == f"high {score}"
    else:
        assert result.output == "still low"
    assert_gap_free(sink)


# -- concurrency ----------------------------------------------------------------------------------


async def test_it_runs_independent_io_branches_concurrently(types: Types, sink: ListSink) -> None:
    raw = graph(
        [
            input_node("in"),
            node("left", "test_nap", seconds=0.2),
            node("right", "test_nap", seconds=0.2),
            transform("join", "{{ nodes.left.output }} + {{ nodes.right.output }}"),
            output_node("out"),
        ],
        wire(("in", "left"), ("in", "right"), ("left", "join"), ("right", "join"), ("join", "out")),
    )
    result = await InProcessExecutor(types.registry, sink=sink).run(raw, {})

    assert result.status == "succeeded"
    assert result.output == "left slept + right slept"
    (left_start, left_end), (right_start, right_end) = (
        types.nap.intervals["left"],
        types.nap.intervals["right"],
    )
    # The intervals overlap: each began before the other ended.
    assert left_start < right_end and right_start < left_end
    overlap = min(left_end, right_end) - max(left_start, right_start)
    assert overlap > 0.1
    # Both started before either finished, in the event log too.
    order = [e.type for e in sink.events if e.step in ("left", "right")]
    assert order == ["step.started", "step.started", "step.succeeded", "step.succeeded"]


# -- failures -------------------------------------------------------------------------------------


@pytest.mark.parametrize("slow_first", [False, True], ids=["boom-first", "slow-first"])
async def test_it_fails_the_run_naming_the_node_and_cancels_the_rest(
    types: Types, sink: ListSink, slow_first: bool
) -> None:
    # Declaration order decides which branch runs inline and which in a task of its own: the
    # outcome must not depend on it.
    pair = [node("boom", "test_failing", failures=99), node("slow", "test_nap", seconds=5)]
    raw = graph(
        [
            input_node("in"),
            *(reversed(pair) if slow_first else pair),
            transform("after_slow", "never"),
            transform("after_boom", "never"),
            output_node("out"),
        ],
        wire(
            ("in", "boom"),
            ("in", "slow"),
            ("slow", "after_slow"),
            ("boom", "after_boom"),
            ("after_slow", "out"),
            ("after_boom", "out"),
        ),
    )
    started = time.monotonic()
    result = await InProcessExecutor(types.registry, sink=sink).run(raw, {})

    assert time.monotonic() - started < 4  # the slow branch did not run to its end
    assert result.status == "failed"
    assert result.output is None
    assert result.error is not None
    assert result.error["node"] == "boom" and result.error["step"] == "boom"
    assert result.error["message"] == "step 'boom' failed: boom cannot do this"
    assert result.error["code"] == "permanent"
    assert result.steps["boom"].status == "failed"
    assert result.steps["slow"].status == "cancelled"
    assert "slow" not in types.nap.intervals  # interrupted, or cancelled before it began
    assert step_events(sink, "slow") in (["step.started", "step.cancelled"], ["step.cancelled"])
    for never in ("after_slow", "after_boom", "out"):
        assert never not in result.steps
        assert step_events(sink, never) == []
    assert sink.types()[-1] == "run.failed"
    assert sink.events[-1].data["error"]["node"] == "boom"
    assert_gap_free(sink)


async def test_it_reports_an_unexpected_exception_as_an_internal_error(types: Types) -> None:
    raw = chain(input_node("in"), node("bug", "test_failing", error="bug"), output_node("out"))
    result = await InProcessExecutor(types.registry).run(raw, {})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "internal_error"
    assert "KeyError" in result.error["message"] or "KeyError" in str(result.steps["bug"].error)


async def test_it_routes_a_failure_down_the_error_edge(types: Types, sink: ListSink) -> None:
    raw = graph(
        [
            input_node("in"),
            node("risky", "test_failing", failures=99),
            transform("fine", "fine: {{ upstream }}"),
            transform("recover", "recovered from {{ upstream.code }}: {{ upstream.message }}"),
            output_node("out"),
        ],
        [
            edge("e1", "in", "risky"),
            edge("e2", "risky", "fine"),
            edge("e3", "risky", "recover", "error"),
            edge("e4", "fine", "out"),
            edge("e5", "recover", "out"),
        ],
    )
    result = await InProcessExecutor(types.registry, sink=sink).run(raw, {})

    assert result.status == "succeeded"
    assert result.output == "recovered from permanent: risky cannot do this"
    assert result.steps["risky"].status == "failed"
    assert result.steps["recover"].input == result.steps["risky"].error
    assert result.steps["fine"].status == "skipped"
    assert "step.failed" in step_events(sink, "risky")
    assert sink.types()[-1] == "run.succeeded"


# -- retries and timeouts -------------------------------------------------------------------------


class Sleeps:
    """Injected in place of asyncio.sleep: records the delays instead of waiting."""

    def __init__(self) -> None:
        self.delays: list[float] = []

    async def __call__(self, delay: float) -> None:
        self.delays.append(delay)


async def test_it_retries_a_rate_limit_after_the_vendors_delay(
    types: Types, sink: ListSink
) -> None:
    sleeps = Sleeps()
    raw = chain(
        input_node("in"),
        node("flaky", "test_failing", failures=2, error="rate_limited", retry_after=7.5),
        output_node("out"),
    )
    result = await InProcessExecutor(types.registry, sink=sink, sleep=sleeps).run(raw, {})

    assert result.status == "succeeded"
    assert result.output == "done on attempt 3"
    assert result.steps["flaky"].attempt == 3
    assert sleeps.delays == [7.5, 7.5]
    retrying = events_of(sink, "step.retrying")
    assert [(e.data["attempt"], e.data["delay"]) for e in retrying] == [(1, 7.5), (2, 7.5)]
    assert {e.data["error"]["code"] for e in retrying} == {"rate_limited"}
    assert step_events(sink, "flaky") == [
        "step.started",
        "step.retrying",
        "step.started",
        "step.retrying",
        "step.started",
        "step.succeeded",
    ]
    assert [e.data["attempt"] for e in events_of(sink, "step.started") if e.step == "flaky"] == [
        1,
        2,
        3,
    ]


async def test_it_gives_up_after_the_last_attempt(types: Types) -> None:
    sleeps = Sleeps()
    raw = chain(
        input_node("in"),
        node(
            "flaky",
            "test_failing",
            failures=9,
            error="rate_limited",
            retry_after=None,
            retry={"max_attempts": 4, "initial_delay": 1, "backoff": 3, "max_delay": 5},
        ),
        output_node("out"),
    )
    result = await InProcessExecutor(types.registry, sleep=sleeps).run(raw, {})
    assert result.status == "failed"
    assert result.steps["flaky"].attempt == 4
    assert result.error is not None and result.error["code"] == "rate_limited"
    # Without retry_after the delays follow the backoff, capped by max_delay.
    assert sleeps.delays == [1, 3, 5]


async def test_it_does_not_retry_a_permanent_error(types: Types, sink: ListSink) -> None:
    sleeps = Sleeps()
    raw = chain(input_node("in"), node("hopeless", "test_failing", failures=1), output_node("out"))
    result = await InProcessExecutor(types.registry, sink=sink, sleep=sleeps).run(raw, {})
    assert result.status == "failed"
    assert result.steps["hopeless"].attempt == 1
    assert sleeps.delays == []
    assert "step.retrying" not in sink.types()
    assert step_events(sink, "hopeless") == ["step.started", "step.failed"]


async def test_it_times_out_a_step_that_takes_too_long(types: Types, sink: ListSink) -> None:
    raw = chain(
        input_node("in"), node("stuck", "test_nap", seconds=30, timeout=0.05), output_node("out")
    )
    started = time.monotonic()
    result = await InProcessExecutor(types.registry, sink=sink).run(raw, {})
    assert time.monotonic() - started < 5
    assert result.status == "failed"
    assert result.steps["stuck"].error is not None
    assert result.steps["stuck"].error["code"] == "step_timeout"
    assert result.error is not None and result.error["code"] == "step_timeout"
    assert "stuck" in types.nap.cancelled  # the attempt itself was cancelled, not abandoned


# -- tokens and cost ----------------------------------------------------------------------------


async def test_it_counts_tokens_and_cost_of_worker_steps(sink: ListSink) -> None:
    services = Services(prices={"local/echo": ModelPrice(input=1.0, output=2.0)})
    raw = graph(
        [
            input_node("in"),
            worker("a", "Research {{ input.topic }}", role="Researcher"),
            worker("b", "Criticise {{ input.topic }}", role="Critic"),
            transform("t", "{{ nodes.a.output }}"),
            output_node("out"),
        ],
        wire(("in", "a"), ("in", "b"), ("a", "t"), ("b", "t"), ("t", "out")),
    )
    result = await InProcessExecutor(services=services, sink=sink).run(raw, {"topic": "tides"})

    assert result.status == "succeeded"
    workers = [result.steps["a"], result.steps["b"]]
    for step in workers:
        assert step.model == "local/echo"
        assert step.tokens_in > 0 and step.tokens_out > 0
        assert step.cost == pytest.approx((step.tokens_in * 1.0 + step.tokens_out * 2.0) / 1e6)
    for pure in ("in", "t", "out"):
        assert (result.steps[pure].tokens_in, result.steps[pure].cost) == (0, 0.0)
    totals = result.totals
    assert totals.tokens_in == sum(s.tokens_in for s in workers)
    assert totals.tokens_out == sum(s.tokens_out for s in workers)
    assert totals.cost == pytest.approx(sum(s.cost for s in workers))
    assert totals.by_model["local/echo"]["tokens_in"] == totals.tokens_in
    succeeded = {e.step: e.data for e in events_of(sink, "step.succeeded")}
    assert succeeded["a"]["tokens_in"] == result.steps["a"].tokens_in
    assert succeeded["a"]["model"] == "local/echo"
    assert events_of(sink, "run.succeeded")[0].data["totals"]["tokens_out"] == totals.tokens_out
    # Workers stream by default: their text arrives in chunks that add up to the output.
    chunks = "".join(e.data["text"] for e in events_of(sink, "step.chunk") if e.step == "a")
    assert chunks == result.steps["a"].output


# -- waiting for a person (Suspend) ---------------------------------------------------------------


def gated_graph() -> dict[str, Any]:
    return graph(
        [
            input_node("in"),
            transform("draft", "Draft on {{ input.topic }}"),
            node("gate", "test_gate", prompt="Publish '{{ upstream }}'?"),
            output_node("published", "{{ nodes.gate.output.draft }} ({{ upstream.comment }})"),
            output_node("binned", "rejected"),
        ],
        [
            edge("e1", "in", "draft"),
            edge("e2", "draft", "gate"),
            edge("e3", "gate", "published", "approved"),
            edge("e4", "gate", "binned", "rejected"),
        ],
    )


async def test_it_resumes_a_suspended_step_with_the_persons_answer(
    types: Types, sink: ListSink
) -> None:
    asked: list[tuple[str, dict[str, Any]]] = []

    async def human(step: StepRecord, request: dict[str, Any]) -> Any:
        asked.append((step.id, request))
        return {"approve": True, "comment": "ship it"}

    executor = InProcessExecutor(types.registry, sink=sink, human=human)
    result = await executor.run(gated_graph(), {"topic": "tides"})

    assert asked == [("gate", {"prompt": "Publish 'Draft on tides'?", "draft": "Draft on tides"})]
    assert result.status == "succeeded"
    assert result.output == {"published": "Draft on tides (ship it)"}
    assert result.steps["gate"].branch == "approved"
    assert result.steps["binned"].status == "skipped"
    assert step_events(sink, "gate") == [
        "step.started",
        "step.waiting",
        "step.resumed",
        "step.started",
        "step.succeeded",
    ]
    assert events_of(sink, "step.waiting")[0].data["request"]["prompt"].startswith("Publish")
    assert_gap_free(sink)


async def test_it_takes_the_rejected_branch_when_the_person_says_no(types: Types) -> None:
    async def human(step: StepRecord, request: dict[str, Any]) -> Any:
        return {"approve": False}

    result = await InProcessExecutor(types.registry, human=human).run(gated_graph(), {"topic": "x"})
    assert result.output == {"binned": "rejected"}
    assert result.steps["published"].status == "skipped"


async def test_it_ends_the_run_waiting_without_a_human_handler(
    types: Types, sink: ListSink
) -> None:
    result = await InProcessExecutor(types.registry, sink=sink).run(gated_graph(), {"topic": "x"})

    assert result.status == "waiting"
    assert result.output is None and result.error is None
    assert result.steps["gate"].status == "waiting"
    assert "published" not in result.steps and "binned" not in result.steps
    assert step_events(sink, "gate") == ["step.started", "step.waiting"]
    assert sink.types()[-1] == "run.waiting"
    assert sink.events[-1].data == {"steps": ["gate"]}
    assert_gap_free(sink)


# -- delegation (a manager and its workers) -------------------------------------------------------


def managed_graph(**manager_config: Any) -> dict[str, Any]:
    return graph(
        [
            input_node("in"),
            node("lead", "test_manager", **manager_config),
            worker("res", "Research: {{ upstream }}", role="Researcher", stream=False),
            worker("crit", "Criticise: {{ upstream }}", role="Critic", stream=False),
            output_node("out"),
        ],
        [
            edge("e1", "in", "lead"),
            edge("e2", "lead", "res", kind="delegate"),
            edge("e3", "lead", "crit", kind="delegate"),
            edge("e4", "lead", "out"),
        ],
    )


async def test_it_delegates_rounds_of_tasks_and_resumes_with_their_results(
    types: Types, sink: ListSink
) -> None:
    result = await InProcessExecutor(types.registry, sink=sink).run(managed_graph(), "tides")

    assert result.status == "succeeded"
    children = ["lead.res.1", "lead.crit.2", "lead.res.3", "lead.crit.4"]
    assert result.output == "synthesis of " + ", ".join(children)
    assert types.manager.rounds_seen == [0, 1, 2]

    # Each round's results came back as TaskResults for the children of that round.
    first, second = types.manager.history
    assert [(r.node_id, r.step_id, r.status) for r in first] == [
        ("res", "lead.res.1", "succeeded"),
        ("crit", "lead.crit.2", "succeeded"),
    ]
    assert [r.step_id for r in second] == ["lead.res.3", "lead.crit.4"]
    assert first[0].output == result.steps["lead.res.1"].output
    assert "Research: round 1 for res: tides" in first[0].output

    # Children are steps of their own, with the manager as parent.
    for child in children:
        step = result.steps[child]
        assert (step.parent, step.status, step.type) == ("lead", "succeeded", "worker")
        assert step.tokens_in > 0
    assert result.steps["lead.crit.4"].input == "round 2 for crit: tides"
    # The delegate-only workers never ran as steps of their own.
    assert "res" not in result.steps and "crit" not in result.steps

    delegated = events_of(sink, "step.delegated")
    assert [e.step for e in delegated] == ["lead", "lead"]
    assert delegated[0].data["tasks"] == [
        {"step": "lead.res.1", "node": "res"},
        {"step": "lead.crit.2", "node": "crit"},
    ]
    started_children = [e for e in events_of(sink, "step.started") if e.step in children]
    assert {e.data["parent"] for e in started_children} == {"lead"}
    assert [e.data["round"] for e in events_of(sink, "step.resumed") if e.step == "lead"] == [1, 2]
    assert result.totals.tokens_in == sum(result.steps[c].tokens_in for c in children)
    assert_gap_free(sink)


async def test_it_fails_a_step_delegating_to_a_node_without_a_delegate_edge(
    types: Types, sink: ListSink
) -> None:
    result = await InProcessExecutor(types.registry, sink=sink).run(managed_graph(rogue="out"), "x")
    assert result.status == "failed"
    lead = result.steps["lead"]
    assert lead.status == "failed"
    assert lead.error is not None and "out" in lead.error["message"]
    assert "delegate edge" in lead.error["message"]
    assert "step.delegated" not in sink.types()
    assert not [s for s in result.steps.values() if s.parent]


def test_it_runs_synchronously_too() -> None:
    result: RunResult = InProcessExecutor().run_sync(
        chain(input_node("in"), output_node("out", "{{ input }}")), 5
    )
    assert (result.status, result.output) == ("succeeded", "5")


# -- a finished run leaves nothing for the garbage collector -------------------------------------


async def test_a_finished_run_leaves_no_reference_cycle_behind() -> None:
    """Its records and events go as soon as nobody holds them: a cycle through the run's state
    kept every one of them (500 objects a 200-wide run) until a pass over an older generation."""
    branches = [transform(f"b{i}", "{{ upstream }}") for i in range(20)]
    raw = graph(
        [input_node("in"), *branches, output_node("out")],
        [edge(f"s{i}", "in", f"b{i}") for i in range(20)]
        + [edge(f"j{i}", f"b{i}", "out") for i in range(20)],
    )
    await InProcessExecutor(sink=ListSink()).run(raw, {"x": 1})  # imports and caches warmed
    gc.collect()
    gc.disable()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        result = await InProcessExecutor(sink=ListSink()).run(raw, {"x": 1})
        assert result.status == "succeeded"
        del result
        gc.collect()
        left = [type(o).__name__ for o in gc.garbage]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()
        gc.enable()
    assert left == []
