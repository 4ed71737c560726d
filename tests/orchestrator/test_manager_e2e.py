"""A manager team and a run budget on real processes: Redis, a Celery worker with two prefork
processes, Daphne, and the scripted vendor server every worker process calls.

The vendor answers through a *responder* (by the model asked and the prompt), not a queue: the
two delegated workers call it at the same moment, and which request arrives first must not decide
which worker gets which answer.
"""

from __future__ import annotations

import re
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator.models import Event, Step
from tests.orchestrator.conftest import (
    chain,
    edge,
    finished,
    log_of,
    make_workflow,
    node,
    start_run,
)
from tests.support.stack import CeleryWorker
from tests.support.vendor_server import (
    Completion,
    Delay,
    JSONAnswer,
    RecordedRequest,
    Scripted,
    VendorServer,
)

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

BOSS, STAFF = "openai/gpt-4o", "openai/gpt-4o-mini"  # priced in runtime.usage.DEFAULT_PRICES
TASKS = {"alpha": "Find three facts about tidal power", "beta": "List the risks of tidal power"}
FINAL = "Tidal power: three facts and their risks, merged."
WORKER_DELAY = 1.0  # seconds each worker's call takes: long enough to overlap for sure


@pytest.fixture
def api(api: httpx.Client, stack_worker: CeleryWorker) -> httpx.Client:
    """Alice's client (conftest), once the workers are up."""
    return api


def messages_of(request: RecordedRequest) -> list[dict[str, Any]]:
    body = request.body if isinstance(request.body, dict) else {}
    return list(body.get("messages") or [])


def last_user(request: RecordedRequest) -> str:
    users = [m for m in messages_of(request) if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""


# -- (a) a manager delegates to two workers that run at the same time ------------------------------


def team() -> dict[str, Any]:
    lead = node("lead", "manager", model=BOSS, instructions="Brief on {{ input.topic }}")
    alpha = node("alpha", "worker", model=STAFF, role="Researcher")
    beta = node("beta", "worker", model=STAFF, role="Critic")
    return {
        "nodes": [node("brief", "input"), lead, alpha, beta, node("result", "output")],
        "edges": [
            edge("brief", "lead"),
            edge("lead", "result"),
            {**edge("lead", "alpha"), "kind": "delegate"},
            {**edge("lead", "beta"), "kind": "delegate"},
        ],
    }


def team_vendor(request: RecordedRequest) -> Scripted:
    """The manager plans in round 1 and is done in round 2; each worker answers its own task
    after WORKER_DELAY."""
    if request.model == BOSS.split("/", 1)[1]:
        if last_user(request).startswith("Results of round 1:"):
            done = {"subtasks": [], "done": True, "final_answer": FINAL}
            return JSONAnswer(done, prompt_tokens=150, completion_tokens=30)
        subtasks = [{"worker": worker, "task": task} for worker, task in TASKS.items()]
        plan = {"subtasks": subtasks, "done": False}
        return JSONAnswer(plan, prompt_tokens=100, completion_tokens=20)
    task = last_user(request)
    worker = next(name for name, text in TASKS.items() if text in task)
    answer = Completion(f"{worker} says: done with {task!r}", prompt_tokens=20, completion_tokens=5)
    return Delay(WORKER_DELAY, answer)


def test_a_manager_delegates_to_two_workers_that_run_at_once_and_counts_their_spend(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    stack_worker: CeleryWorker,
) -> None:
    vendor.respond_with(team_vendor)
    workflow = make_workflow(alice, alice_workspace, team(), name="Team")
    run_id = start_run(api, workflow, {"topic": "tidal power"})
    run = finished(run_id)

    assert run.status == "succeeded", run.error
    assert run.output == FINAL

    # The manager step ran twice (plan, then done) and is one step, in round 1 after resuming.
    lead = Step.objects.get(run=run, key="lead")
    assert (lead.status, lead.round, lead.parent_id) == ("succeeded", 1, None)
    assert lead.output == FINAL

    # Its two tasks became two child steps with the manager as their parent.
    children = list(Step.objects.filter(run=run, parent=lead).order_by("key"))
    assert [(c.key, c.node_id, c.status) for c in children] == [
        ("lead.alpha.1", "alpha", "succeeded"),
        ("lead.beta.2", "beta", "succeeded"),
    ]
    alpha, beta = children
    assert (alpha.input, beta.input) == (TASKS["alpha"], TASKS["beta"])
    assert alpha.output.startswith("alpha says:") and beta.output.startswith("beta says:")
    assert Step.objects.filter(run=run).exclude(parent=None).count() == 2
    by_api = {s["id"]: s for s in api.get(f"/api/runs/{run_id}/").json()["steps"]}
    assert by_api["lead.alpha.1"]["parent"] == by_api["lead.beta.2"]["parent"] == "lead"

    # They ran at the same time: each started before the other finished (recorded times), on
    # the worker's pool processes (one process runs several tasks of a step at once on its loop:
    # STEP_TASKS_PER_PROCESS).
    assert alpha.started_at < beta.finished_at
    assert beta.started_at < alpha.finished_at
    pool = {f"{pid}" for pid in stack_worker.pool_pids()}
    assert {alpha.worker.rsplit(":", 1)[1], beta.worker.rsplit(":", 1)[1]} <= pool
    # ...and inside the manager's own span, which covers both rounds.
    assert lead.started_at < min(alpha.started_at, beta.started_at)
    assert lead.finished_at > max(alpha.finished_at, beta.finished_at)

    # The log: delegated, the children's lives, resumed, then the manager and the run finish.
    log = log_of(run_id)
    delegated = log.index(("step.delegated", "lead"))
    resumed = log.index(("step.resumed", "lead"))
    for child in ("lead.alpha.1", "lead.beta.2"):
        assert delegated < log.index(("step.started", child))
        assert log.index(("step.succeeded", child)) < resumed
    assert resumed < log.index(("step.succeeded", "lead")) < log.index(("run.succeeded", None))
    assert log.count(("step.delegated", "lead")) == log.count(("step.resumed", "lead")) == 1
    # Its second round is not a retry: each round's first start is attempt 1.
    starts = Event.objects.filter(run_id=run_id, type="step.started", step_key="lead")
    rounds = [(e.data["round"], e.data["attempt"]) for e in starts.order_by("seq")]
    assert rounds == [(0, 1), (1, 1)]
    assert lead.attempt == 1
    event = Event.objects.get(run_id=run_id, type="step.delegated")
    assert event.data["tasks"] == [
        {"step": "lead.alpha.1", "node": "alpha"},
        {"step": "lead.beta.2", "node": "beta"},
    ]

    # The vendor saw the plan, both tasks, then the results of both in round 2.
    asked = [request.model for request in vendor.requests]
    assert sorted(asked) == ["gpt-4o", "gpt-4o", "gpt-4o-mini", "gpt-4o-mini"]
    assert asked[0] == asked[-1] == "gpt-4o"
    round_2 = last_user(vendor.requests[-1])
    assert alpha.output in round_2 and beta.output in round_2

    # Spend: a step records its own calls (the canvas sums a manager's subtree from them); the
    # manager's subtree (its two rounds and both children) is the whole run's spend.
    assert (lead.model, lead.tokens_in, lead.tokens_out) == (BOSS, 100 + 150, 20 + 30)
    assert lead.cost == pytest.approx((250 * 2.50 + 50 * 10.00) / 1e6)
    for child in children:
        assert (child.model, child.tokens_in, child.tokens_out) == (STAFF, 20, 5)
        assert child.cost == pytest.approx((20 * 0.15 + 5 * 0.60) / 1e6)
    subtree = [lead, *children]
    assert run.tokens_in == sum(s.tokens_in for s in subtree) == 290
    assert run.tokens_out == sum(s.tokens_out for s in subtree) == 60
    assert run.cost == pytest.approx(sum(s.cost for s in subtree))
    assert run.by_model[BOSS] == {"tokens_in": 250, "tokens_out": 50, "cost": lead.cost}
    assert run.by_model[STAFF]["tokens_in"] == 40 and run.by_model[STAFF]["tokens_out"] == 10
    totals = Event.objects.get(run_id=run_id, type="run.succeeded").data["totals"]
    assert (totals["tokens_in"], totals["tokens_out"]) == (290, 60)
    assert totals["cost"] == pytest.approx(run.cost)
    # The run API rolls a manager's subtree up for it: its figure covers its whole team.
    rolled = by_api["lead"]["subtree"]
    assert (rolled["tokens_in"], rolled["tokens_out"]) == (290, 60)
    assert rolled["cost"] == pytest.approx(run.cost)
    assert by_api["lead.alpha.1"]["subtree"]["tokens_in"] == 20


# -- (b) a run's budget stops it on the workers ----------------------------------------------------


def test_a_run_whose_budget_two_calls_exceed_fails_with_budget_exceeded(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    # Every call spends 10 + 5 tokens; the budget allows 20: the first call fits, the second
    # takes the run to 30 and the step that made it fails.
    vendor.respond_with(lambda request: Completion("ok", prompt_tokens=10, completion_tokens=5))
    graph = chain(
        node("brief", "input"),
        node("first", "worker", model=STAFF, instructions="one {{ input.topic }}"),
        node("second", "worker", model=STAFF, instructions="two {{ nodes.first.output }}"),
        node("third", "worker", model=STAFF, instructions="three {{ nodes.second.output }}"),
        node("result", "output"),
    )
    workflow = make_workflow(alice, alice_workspace, graph, name="On a budget")
    run_id = start_run(api, workflow, {"topic": "owls"}, budget={"max_tokens": 20})
    run = finished(run_id)

    assert run.status == "failed"
    assert run.budget["max_tokens"] == 20
    assert run.error["code"] == "budget_exceeded", run.error
    assert (run.error["step"], run.error["node"]) == ("second", "second")
    assert re.search(r"30 tokens of 20", run.error["message"]), run.error["message"]
    steps = dict(Step.objects.filter(run=run).values_list("key", "status"))
    assert steps["first"] == "succeeded"
    assert steps["second"] == "failed"
    assert "third" not in steps  # never started: the run stopped
    second = Step.objects.get(run=run, key="second")
    assert second.error["code"] == "budget_exceeded"
    assert second.attempt == 1  # not retried: the budget will not grow back
    # Both calls were made and both are counted; no third call.
    assert len(vendor.requests) == 2
    assert run.tokens_in + run.tokens_out == 30
    log = [type_ for type_, _ in log_of(run_id)]
    assert log[-1] == "run.failed"
    assert "step.retrying" not in log
