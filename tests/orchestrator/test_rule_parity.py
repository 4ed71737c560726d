"""One graph, two executors, one outcome: each run rule with a home in the engine (retry decision,
delegation, an error edge that must not carry a spent budget, which upstream outputs a step
receives, the shape of a run's failure) gives the same result in the in-process executor and on
the Celery side (the real task body, :func:`orchestrator.execution.execute_step`, driven here).

Each case also asserts what that outcome is, so two executors agreeing on something wrong fails.
"""

from __future__ import annotations

import copy
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator import runs
from orchestrator.models import Event, Step
from runtime.budget import Budget
from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.registry import default_registry
from tests.orchestrator.conftest import drive, make_workflow
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

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def test_node_types() -> Iterator[None]:
    """The test node types, in the registry both executors (and the graph validation) use."""
    types = [Failing(), Manager()]
    for node_type in types:
        default_registry.register(node_type)
    yield
    for node_type in types:
        default_registry.unregister(node_type.type)


@dataclass
class Outcome:
    status: str
    output: Any
    error: dict[str, Any] | None
    # step key -> (status, input, attempt, output and branch when it succeeded)
    steps: dict[str, tuple[Any, ...]]
    retry_delays: dict[str, list[float]]


def _step(status: str, step_input: Any, attempt: int, output: Any, branch: Any) -> tuple[Any, ...]:
    if status != "succeeded":
        output = branch = None
    return (status, step_input, attempt, output, branch)


def in_process(raw: dict[str, Any], run_input: Any, budget: dict[str, Any] | None) -> Outcome:
    sink = ListSink()

    async def no_wait(_: float) -> None:
        return None

    executor = InProcessExecutor(sink=sink, sleep=no_wait)
    result = executor.run_sync(
        copy.deepcopy(raw), run_input, budget=Budget.from_dict(budget) if budget else None
    )
    delays: dict[str, list[float]] = {}
    for event in sink.events:
        if event.type == "step.retrying" and event.step:
            delays.setdefault(event.step, []).append(event.data["delay"])
    return Outcome(
        status=result.status,
        output=result.output,
        error=result.error,
        steps={
            key: _step(rec.status, rec.input, rec.attempt, rec.output, rec.branch)
            for key, rec in result.steps.items()
        },
        retry_delays=delays,
    )


def on_celery(
    user: User,
    workspace: Workspace,
    raw: dict[str, Any],
    run_input: Any,
    budget: dict[str, Any] | None,
) -> Outcome:
    workflow = make_workflow(user, workspace, raw)
    run = drive(runs.start_run(workflow, run_input, actor=user, via="session", budget=budget))
    delays: dict[str, list[float]] = {}
    for key, data in Event.objects.filter(run=run, type="step.retrying").values_list(
        "step_key", "data"
    ):
        delays.setdefault(key, []).append(data["delay"])
    return Outcome(
        status=run.status,
        output=run.output,
        error=run.error,
        steps={
            step.key: _step(step.status, step.input, step.attempt, step.output, step.branch)
            for step in Step.objects.filter(run=run)
        },
        retry_delays=delays,
    )


@pytest.fixture
def both(alice: User, alice_workspace: Workspace) -> Any:
    def run_both(
        raw: dict[str, Any], run_input: Any = None, budget: dict[str, Any] | None = None
    ) -> Outcome:
        here = in_process(raw, run_input, budget)
        there = on_celery(alice, alice_workspace, raw, run_input, budget)
        assert there == here
        return here

    return run_both


# -- the retry decision (RetryPolicy.next_delay) ---------------------------------------------------


def flaky(failures: int, error: str = "rate_limited", attempts: int = 3) -> dict[str, Any]:
    return chain(
        input_node(),
        node(
            "flaky",
            "test_failing",
            failures=failures,
            error=error,
            retry_after=0.0,
            retry={"max_attempts": attempts, "initial_delay": 0},
        ),
        output_node(),
    )


def test_a_retryable_failure_is_retried_until_an_attempt_succeeds(both: Any) -> None:
    outcome = both(flaky(failures=2), {})
    assert outcome.status == "succeeded"
    assert outcome.output == "done on attempt 3"
    assert outcome.steps["flaky"][:3] == ("succeeded", {}, 3)
    assert outcome.retry_delays == {"flaky": [0.0, 0.0]}


def test_a_step_that_fails_every_attempt_fails_the_run_naming_the_step(both: Any) -> None:
    outcome = both(flaky(failures=5), {})
    assert outcome.status == "failed"
    assert outcome.steps["flaky"][:3] == ("failed", {}, 3)
    assert outcome.retry_delays == {"flaky": [0.0, 0.0]}
    assert outcome.error == {
        "message": "step 'flaky' failed: the vendor says slow down",
        "step": "flaky",
        "node": "flaky",
        "code": "rate_limited",
        "retryable": True,
        "retry_after": 0.0,
    }


def test_a_permanent_error_is_not_retried(both: Any) -> None:
    outcome = both(flaky(failures=1, error="permanent"), {})
    assert outcome.status == "failed"
    assert outcome.steps["flaky"][:3] == ("failed", {}, 1)
    assert outcome.retry_delays == {}
    assert outcome.error is not None
    assert outcome.error["message"] == "step 'flaky' failed: flaky cannot do this"


# -- an error edge takes a failure, but never a spent budget (runtime.failures) --------------------


def with_error_edge(step: dict[str, Any]) -> dict[str, Any]:
    return graph(
        [
            input_node(),
            step,
            transform("recover", "recovered from {{ upstream.code }}"),
            output_node(),
        ],
        [
            edge("e1", "in", step["id"]),
            edge("e2", step["id"], "out"),
            edge("e3", step["id"], "recover", "error"),
            edge("e4", "recover", "out"),
        ],
    )


def test_an_error_edge_carries_a_failure_on(both: Any) -> None:
    outcome = both(with_error_edge(node("w", "test_failing", failures=1, error="permanent")), {})
    assert outcome.status == "succeeded"
    assert outcome.output == "recovered from permanent"
    assert outcome.steps["w"][0] == "failed"
    assert outcome.steps["recover"][0] == "succeeded"


def test_a_spent_budget_is_not_carried_on_by_an_error_edge(both: Any) -> None:
    outcome = both(
        with_error_edge(worker("w", "Say {{ input.topic }}")), {"topic": "owls"}, {"max_tokens": 1}
    )
    assert outcome.status == "failed"
    assert outcome.error is not None and outcome.error["code"] == "budget_exceeded"
    assert outcome.error["message"].startswith("step 'w' failed: the run's budget is spent: ")
    assert outcome.steps["w"][0] == "failed"
    assert "recover" not in outcome.steps


# -- delegation goes along delegate edges, and hands over something (runtime.delegation) -----------


def team(**manager: Any) -> dict[str, Any]:
    return graph(
        [
            input_node(),
            node("boss", "test_manager", **manager),
            worker("helper"),
            output_node(),
        ],
        [*wire(("in", "boss"), ("boss", "out")), edge("d1", "boss", "helper", kind="delegate")],
    )


def test_a_delegation_along_delegate_edges_runs_the_tasks_as_child_steps(both: Any) -> None:
    outcome = both(team(rounds=1), {"brief": "owls"})
    assert outcome.status == "succeeded"
    assert outcome.output == "synthesis of boss.helper.1"
    assert outcome.steps["boss.helper.1"][:2] == (
        "succeeded",
        "round 1 for helper: {'brief': 'owls'}",
    )


def test_a_delegation_to_a_node_without_a_delegate_edge_fails_the_step(both: Any) -> None:
    outcome = both(team(rogue="out"), {})
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error["message"] == (
        "step 'boss' failed: cannot delegate to out: no delegate edge leads there"
    )
    assert [key for key in outcome.steps if key.startswith("boss.")] == []


def test_a_delegation_of_no_tasks_fails_the_step(both: Any) -> None:
    # A step that delegates nothing would wait for ever on the workers; in-process it would go
    # on to its next round with no results. Both refuse it.
    outcome = both(team(delegate_nothing=True), {})
    assert outcome.status == "failed"
    assert outcome.error is not None
    assert outcome.error["message"] == "step 'boss' failed: the node delegated no tasks"


# -- what a step receives: its live upstream outputs (scheduling.live_sources) ---------------------


def test_a_join_receives_the_outputs_of_its_live_sources_only(both: Any) -> None:
    raw = graph(
        [
            input_node(),
            router("route", [("big", "input.n > 10")], default="small"),
            transform("big", "big {{ input.n }}"),
            transform("small", "small {{ input.n }}"),
            transform("left", "left"),
            transform("right", "right"),
            transform("join", "{{ upstream }}"),
            output_node(),
        ],
        wire(
            ("in", "route"),
            ("route", "big", "big"),
            ("route", "small", "small"),
            ("in", "left"),
            ("in", "right"),
            ("big", "join"),
            ("small", "join"),
            ("left", "join"),
            ("right", "join"),
            ("join", "out"),
        ),
    )
    outcome = both(raw, {"n": 3})
    assert outcome.status == "succeeded"
    assert outcome.steps["big"][0] == "skipped"
    assert outcome.steps["join"][1] == {"small": "small 3", "left": "left", "right": "right"}
