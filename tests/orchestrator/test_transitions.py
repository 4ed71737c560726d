"""The transitions of steps and runs (:mod:`orchestrator.transitions`), called one by one as a
worker, the sweeper or a person's decision would: claim, lease, complete, fail and retry,
suspend and resume, delegate, cancel. Each checks the rows and the events it leaves.

Steps are claimed and ended here by hand; the pure steps around them run through the real task
body (:func:`orchestrator.execution.execute_step`).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from django.utils import timezone
from prometheus_client.parser import text_string_to_metric_families
from rest_framework.test import APIClient

from editor.models import Workflow, Workspace
from orchestrator import celery_app, lost_workers, metrics, runs, sweeper, transitions
from orchestrator.execution import execute_step
from orchestrator.models import Approval, Event, Run, Step
from runtime.errors import PermanentError, RateLimitError
from runtime.nodes.base import Delegate, DelegateTask
from runtime.usage import Usage
from tests.orchestrator.conftest import chain, drive, edge, event_log, make_workflow, node

pytestmark = pytest.mark.django_db

WORKER = {"model": "local/echo", "retry": {"max_attempts": 2, "initial_delay": 3}}


def flow(user: User, workspace: Workspace, *, error_edge: bool = False) -> Workflow:
    """brief (input) → writer (worker) → result (output); optionally writer --error--> result."""
    edges = [edge("brief", "writer"), edge("writer", "result")]
    if error_edge:
        edges.append({**edge("writer", "mend", "error"), "id": "writer-mend"})
        edges.append(edge("mend", "result"))
    nodes = [node("brief", "input"), node("writer", "worker", **WORKER), node("result", "output")]
    if error_edge:
        nodes.append(node("mend", "transform", template="mended {{ upstream.code }}"))
    return make_workflow(user, workspace, {"nodes": nodes, "edges": edges})


def at_writer(user: User, workflow: Workflow) -> tuple[Run, Step]:
    """A started run whose input step ran: the writer is queued, for the test to claim."""
    run = runs.start_run(workflow, {"topic": "owls"}, actor=user, via="session")
    execute_step(run.steps.get(key="brief").pk)
    return run, run.steps.get(key="writer")


def types_since(run: Run, seq: int) -> list[str]:
    return list(
        Event.objects.filter(run=run, seq__gt=seq).order_by("seq").values_list("type", flat=True)
    )


def claimed(step: Step, worker: str = "host:1") -> transitions.Claimed:
    found = transitions.claim_step(step.pk, worker)
    assert found is not None
    return found


def requeues(reason: str) -> float:
    """flowbuilder_sweeper_requeues_total{reason} as /metrics would show it now."""
    text = metrics.exposition(with_database=False).decode()
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "flowbuilder_sweeper_requeues_total" and sample.labels == {
                "reason": reason
            }:
                return float(sample.value)
    return 0.0


# -- claim and lease -------------------------------------------------------------------------------


def test_a_worker_whose_lease_was_taken_over_cannot_record_anything(
    alice_client: APIClient, alice: User, alice_workspace: Workspace
) -> None:
    workflow = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("brief", "input"),
            node("writer", "worker", model="local/echo"),
            node("result", "output"),
        ),
    )
    response = alice_client.post(
        f"/api/workflows/{workflow.id}/runs/", {"input": {"topic": "owls"}}, format="json"
    )
    run = Run.objects.get(pk=response.json()["id"])
    execute_step(run.steps.get(key="brief").pk)
    writer = run.steps.get(key="writer")

    first = transitions.claim_step(writer.pk, "host:1")
    assert first is not None and first.step.attempt == 1
    # While the lease holds, nobody else may take the step.
    assert transitions.claim_step(writer.pk, "host:2") is None
    # The first worker goes silent; its lease runs out and the sweeper re-queues the step.
    Step.objects.filter(pk=writer.pk).update(lease_expires_at=timezone.now())
    counted = requeues("worker lost")
    assert sweeper.requeue_lost_steps() == [writer.pk]
    assert sweeper.requeue_lost_steps() == []  # once only
    assert requeues("worker lost") == counted + 1  # flowbuilder_sweeper_requeues_total
    second = transitions.claim_step(writer.pk, "host:2")
    assert second is not None and second.step.attempt == 2
    assert second.claim != first.claim

    before = Event.objects.filter(run=run).count()
    # The first worker wakes up: renewing, completing, failing all change nothing.
    assert transitions.renew_lease(writer.pk, first.claim) is False
    transitions.complete_step(writer.pk, first.claim, "stale", "out", Usage())
    # Nor does its end recorded from its own copy of the step, as a lane records it (written by
    # an update that names the claim, the step not read first); what it spent is not counted.
    spent = Usage()
    spent.add("local/echo", 5, 7, 0.25)
    stale = transitions.Ended(writer.pk, first.claim, spent, "stale", step=first.step)
    assert transitions.record_ends(run.pk, [stale], lane="host:1").claimed == []
    assert Event.objects.filter(run=run).count() == before
    run.refresh_from_db()
    assert (run.tokens_in, run.tokens_out, run.cost) == (0, 0, 0)
    writer.refresh_from_db()
    assert (writer.status, writer.claim, writer.worker) == ("running", second.claim, "host:2")
    assert transitions.renew_lease(writer.pk, second.claim) is True
    assert transitions.renew_lease(writer.pk, uuid.uuid4()) is False

    fresh = transitions.Ended(writer.pk, second.claim, spent, "fresh", step=second.step)
    transitions.record_ends(run.pk, [fresh])
    drive(run)
    run.refresh_from_db()
    assert run.status == "succeeded" and run.output == "fresh"
    assert (run.tokens_in, run.tokens_out, run.cost) == (5, 7, 0.25)
    writer.refresh_from_db()
    assert (writer.status, writer.output, writer.tokens_in, writer.attempt) == (
        "succeeded",
        "fresh",
        5,
        2,
    )
    log = event_log(run)
    assert [e["seq"] for e in log] == list(range(1, len(log) + 1))
    lost = [e for e in log if e["type"] == "step.queued" and e["data"].get("reason")]
    assert [(e["step"], e["data"]["reason"], e["data"]["attempt"]) for e in lost] == [
        ("writer", "worker lost", 1)
    ]
    assert Counter(e["step"] for e in log if e["type"] == "step.succeeded") == Counter(
        {"brief": 1, "writer": 1, "result": 1}
    )


def test_a_cancelled_runs_pending_step_can_no_longer_be_claimed(
    alice: User, workflow: Workflow
) -> None:
    run = runs.start_run(workflow, {"topic": "owls"}, actor=alice, via="session")
    brief = run.steps.get(key="brief")
    assert transitions.cancel_run(run.pk) is True
    before = run.events.count()
    assert transitions.claim_step(brief.pk, "test:1") is None
    execute_step(brief.pk)  # a task delivered after the cancel does nothing
    brief.refresh_from_db()
    assert brief.status == "cancelled"
    assert brief.attempt == 0 and brief.started_at is None
    assert run.events.count() == before
    assert transitions.cancel_run(run.pk) is False


# -- complete --------------------------------------------------------------------------------------


def test_completing_a_step_records_it_and_queues_what_it_made_ready(
    alice: User, alice_workspace: Workspace
) -> None:
    run, writer = at_writer(alice, flow(alice, alice_workspace))
    held = claimed(writer)
    seq = Run.objects.get(pk=run.pk).last_seq
    usage = Usage()
    usage.add("local/echo", 3, 5, 0.25)
    dispatch = transitions.complete_step(writer.pk, held.claim, "a poem", "out", usage)
    writer.refresh_from_db()
    assert (writer.status, writer.output, writer.branch, writer.tokens_out) == (
        "succeeded",
        "a poem",
        "out",
        5,
    )
    assert writer.lease_expires_at is None and writer.finished_at is not None
    # The output step is pure: it is handed back to run inline, in this same worker.
    assert [step.node_id for step in dispatch.inline] == ["result"]
    assert types_since(run, seq) == ["step.succeeded", "step.queued"]
    run.refresh_from_db()
    assert (run.tokens_in, run.tokens_out, run.cost) == (3, 5, 0.25)
    # Completing again (a redelivered message) changes nothing.
    assert transitions.complete_step(writer.pk, held.claim, "again", "out", Usage()).inline == []
    assert Run.objects.get(pk=run.pk).last_seq == seq + 2


# -- fail and retry --------------------------------------------------------------------------------


def test_a_failed_attempt_with_a_retry_left_is_queued_again_after_its_delay(
    alice: User, alice_workspace: Workspace
) -> None:
    run, writer = at_writer(alice, flow(alice, alice_workspace))
    held = claimed(writer)
    seq = Run.objects.get(pk=run.pk).last_seq
    before = timezone.now()
    error = RateLimitError("slow down", retry_after=None)
    delay = WORKER["retry"]["initial_delay"]
    dispatch = transitions.fail_step(writer.pk, held.claim, error, Usage(), retry_in=delay)
    writer.refresh_from_db()
    assert (writer.status, writer.claim, writer.attempt) == ("queued", None, 1)
    assert writer.error == {
        "code": "rate_limited",
        "message": "slow down",
        "retryable": True,
        "retry_after": None,
    }
    assert writer.due_at is not None and (writer.due_at - before).total_seconds() >= delay
    # Sent to the workers with the delay as its countdown, not run inline.
    assert [(step.pk, countdown) for step, countdown, _ in dispatch.queued] == [(writer.pk, 3)]
    events = Event.objects.filter(run=run, seq__gt=seq)
    assert [(e.type, e.data["delay"], e.data["attempt"]) for e in events] == [
        ("step.retrying", 3, 1)
    ]
    assert Run.objects.get(pk=run.pk).status == "running"
    # The next attempt is attempt 2.
    assert claimed(writer).step.attempt == 2


def test_the_run_detail_lists_what_each_retried_attempt_failed_with(
    alice: User, alice_workspace: Workspace, alice_client: APIClient
) -> None:
    run, writer = at_writer(alice, flow(alice, alice_workspace))
    held = claimed(writer)
    error = RateLimitError("slow down", retry_after=None)
    transitions.fail_step(writer.pk, held.claim, error, Usage(), retry_in=3)
    second = claimed(writer)
    transitions.complete_step(writer.pk, second.claim, "done", "out", Usage())

    detail = alice_client.get(f"/api/runs/{run.pk}/").json()
    steps = {step["id"]: step for step in detail["steps"]}
    assert steps["writer"]["attempt"] == 2 and steps["writer"]["status"] == "succeeded"
    retries = steps["writer"]["retries"]
    assert [
        (r["attempt"], r["error"]["code"], r["error"]["message"], r["delay"]) for r in retries
    ] == [(1, "rate_limited", "slow down", 3)]
    retried = Event.objects.get(run=run, type="step.retrying")
    assert retries[0]["ts"] == retried.ts.timestamp()
    assert steps["brief"]["retries"] == []


def test_a_step_that_fails_for_good_fails_the_run_and_cancels_what_is_open(
    alice: User, alice_workspace: Workspace
) -> None:
    run, writer = at_writer(alice, flow(alice, alice_workspace))
    held = claimed(writer)
    transitions.fail_step(writer.pk, held.claim, PermanentError("no words"), Usage(), None)
    run.refresh_from_db()
    assert run.status == "failed"
    assert run.error == {
        "message": "step 'writer' failed: no words",
        "step": "writer",
        "node": "writer",
        "code": "permanent",
        "retryable": False,
    }
    assert dict(run.steps.values_list("key", "status")) == {
        "brief": "succeeded",
        "writer": "failed",
    }
    assert event_log(run)[-1]["type"] == "run.failed"


def test_a_failure_with_an_error_edge_leaves_by_it_and_the_run_goes_on(
    alice: User, alice_workspace: Workspace
) -> None:
    run, writer = at_writer(alice, flow(alice, alice_workspace, error_edge=True))
    held = claimed(writer)
    transitions.fail_step(writer.pk, held.claim, PermanentError("no words"), Usage(), None)
    writer.refresh_from_db()
    assert (writer.status, writer.branch, writer.output["code"]) == ("failed", "error", "permanent")
    run = drive(run)
    assert (run.status, run.output) == ("succeeded", "mended permanent")


# -- suspend and resume ----------------------------------------------------------------------------


def gated(user: User, workspace: Workspace) -> tuple[Run, Step]:
    workflow = make_workflow(
        user,
        workspace,
        {
            "nodes": [
                node("brief", "input"),
                node("gate", "approval", prompt="Publish {{ input.topic }}?"),
                node("yes", "output"),
                node("no", "output"),
            ],
            "edges": [
                edge("brief", "gate"),
                edge("gate", "yes", "approved"),
                edge("gate", "no", "rejected"),
            ],
        },
    )
    run = runs.start_run(workflow, {"topic": "owls"}, actor=user, via="session")
    drive(run)
    return run, run.steps.get(key="gate")


def test_a_step_that_suspends_waits_holding_no_worker_and_its_kind_opens_its_approval(
    alice: User, alice_workspace: Workspace
) -> None:
    run, gate = gated(alice, alice_workspace)
    assert (gate.status, gate.claim, gate.lease_expires_at) == ("waiting", None, None)
    approval = Approval.objects.get(step=gate)
    # The approval kind's wait handler put the Approval's id into the stored request.
    assert gate.request["approval"] == str(approval.pk)
    assert gate.request["prompt"] == "Publish owls?"
    run.refresh_from_db()
    assert run.status == "waiting"
    assert [e["type"] for e in event_log(run)][-2:] == ["step.waiting", "run.waiting"]


def test_resuming_a_waiting_step_queues_its_next_round_once(
    alice: User, alice_workspace: Workspace
) -> None:
    run, gate = gated(alice, alice_workspace)
    assert transitions.resume_step(gate.pk, {"decision": "approve"}) is True
    gate.refresh_from_db()
    assert (gate.status, gate.round, gate.attempt) == ("queued", 1, 0)
    assert gate.resume == {"answer": {"decision": "approve"}}
    assert Run.objects.get(pk=run.pk).status == "running"
    assert transitions.resume_step(gate.pk, {"decision": "reject"}) is False  # not waiting now
    run = drive(run)
    assert run.status == "succeeded"
    assert run.steps.get(key="gate").branch == "approved"
    assert run.steps.get(key="no").status == "skipped"


# -- delegate --------------------------------------------------------------------------------------


def team(user: User, workspace: Workspace) -> tuple[Run, Step]:
    workflow = make_workflow(
        user,
        workspace,
        {
            "nodes": [
                node("brief", "input"),
                node("lead", "manager", model="local/echo"),
                node("helper", "worker", model="local/echo"),
                node("result", "output"),
            ],
            "edges": [
                edge("brief", "lead"),
                edge("lead", "result"),
                {**edge("lead", "helper"), "kind": "delegate"},
            ],
        },
    )
    run = runs.start_run(workflow, {"topic": "owls"}, actor=user, via="session")
    execute_step(run.steps.get(key="brief").pk)
    return run, run.steps.get(key="lead")


def test_a_delegating_step_waits_for_its_tasks_and_resumes_with_their_results(
    alice: User, alice_workspace: Workspace
) -> None:
    run, lead = team(alice, alice_workspace)
    held = claimed(lead)
    tasks = [DelegateTask("helper", "find facts"), DelegateTask("helper", "check facts")]
    request = Delegate(tasks, state={"round": 1})
    dispatch = transitions.delegate_step(lead.pk, held.claim, request, Usage())
    lead.refresh_from_db()
    assert (lead.status, lead.state, lead.claim) == ("waiting", {"round": 1}, None)
    children = list(lead.children.order_by("id"))
    assert [(c.key, c.status, c.input) for c in children] == [
        ("lead.helper.1", "queued", "find facts"),
        ("lead.helper.2", "queued", "check facts"),
    ]
    assert sorted(step.pk for step, _, _ in dispatch.queued) == [c.pk for c in children]
    # A waiting manager is not a person's wait: the run stays running.
    assert Run.objects.get(pk=run.pk).status == "running"

    first = claimed(children[0])
    transitions.complete_step(children[0].pk, first.claim, "facts", "out", Usage())
    assert Step.objects.get(pk=lead.pk).status == "waiting"  # one task is still out
    second = claimed(children[1])
    transitions.fail_step(children[1].pk, second.claim, PermanentError("no"), Usage(), None)
    lead.refresh_from_db()
    assert (lead.status, lead.round, lead.attempt) == ("queued", 1, 0)
    assert [(t["step_id"], t["status"], t["output"]) for t in lead.resume["tasks"]] == [
        ("lead.helper.1", "succeeded", "facts"),
        ("lead.helper.2", "failed", None),
    ]
    # A delegated task's failure goes back to its manager: it does not fail the run.
    assert Run.objects.get(pk=run.pk).status == "running"


# -- cancel ----------------------------------------------------------------------------------------


def test_cancelling_a_waiting_run_cancels_its_steps_and_expires_its_approvals(
    alice: User, alice_workspace: Workspace
) -> None:
    run, gate = gated(alice, alice_workspace)
    assert transitions.cancel_run(run.pk) is True
    run.refresh_from_db()
    assert run.status == "cancelled" and run.finished_at is not None
    gate.refresh_from_db()
    assert gate.status == "cancelled"
    assert Approval.objects.get(step=gate).status == "expired"
    assert transitions.resume_step(gate.pk, {"decision": "approve"}) is False
    assert transitions.cancel_run(run.pk) is False


# -- the sweeper -----------------------------------------------------------------------------------


@pytest.fixture
def empty_broker(settings: Any) -> Iterator[redis.Redis]:
    """A broker of the test's own (a Redis database emptied before and after): what it holds
    decides whether a queued step's message can be lost."""
    url = os.environ.get("SWEEP_TEST_BROKER_URL", "redis://127.0.0.1:6379/14")
    settings.CELERY_BROKER_URL = url
    client = redis.Redis.from_url(url)
    client.flushdb()
    yield client
    client.flushdb()
    client.close()


def test_metrics_show_the_brokers_queue_beside_the_steps_due(
    alice: User, alice_workspace: Workspace, empty_broker: redis.Redis
) -> None:
    def gauges() -> dict[str, float]:
        text = metrics.exposition(with_database=True).decode()
        return {
            sample.name: sample.value
            for family in text_string_to_metric_families(text)
            for sample in family.samples
            if sample.name in ("flowbuilder_broker_queue_messages", "flowbuilder_steps_queued")
        }

    assert gauges()["flowbuilder_broker_queue_messages"] == 0
    url = empty_broker.connection_pool.connection_kwargs
    broker = f"redis://{url['host']}:{url['port']}/{url['db']}"
    with celery_app.connection_for_write(broker) as connection:
        for _ in range(3):  # messages no worker takes: the sweeper's, as beat sends them
            celery_app.send_task("orchestrator.tasks.sweep", connection=connection)
    found = gauges()
    assert found["flowbuilder_broker_queue_messages"] == 3
    assert found["flowbuilder_steps_queued"] == 0  # no step is due: the broker's queue is not
    empty_broker.flushdb()
    assert gauges()["flowbuilder_broker_queue_messages"] == 0


def test_a_queued_step_whose_message_was_lost_is_sent_again_once_per_period(
    alice: User, alice_workspace: Workspace, settings: Any, empty_broker: redis.Redis
) -> None:
    settings.STEP_RESEND_SECONDS = 5
    run = runs.start_run(
        flow(alice, alice_workspace), {"topic": "owls"}, actor=alice, via="session"
    )
    brief = run.steps.get(key="brief")
    assert sweeper.requeue_lost_steps() == []  # due just now: its message may still come
    Step.objects.filter(pk=brief.pk).update(due_at=timezone.now() - timedelta(seconds=6))
    before = timezone.now()
    counted = requeues("message lost")
    assert sweeper.requeue_lost_steps() == [brief.pk]
    brief.refresh_from_db()
    assert brief.status == "queued" and brief.due_at >= before  # due again from now
    assert sweeper.requeue_lost_steps() == []  # not again at the next sweep
    assert requeues("message lost") == counted + 1
    execute_step(brief.pk)  # the re-sent message arrives: the step runs once
    assert run.steps.get(key="brief").attempt == 1


def test_the_sweeper_releases_a_step_whose_holder_on_this_machine_is_gone(
    alice: User, alice_workspace: Workspace
) -> None:
    run, writer = at_writer(alice, flow(alice, alice_workspace))
    gone = subprocess.Popen([sys.executable, "-c", "pass"])
    gone.wait()
    claimed(writer, lost_workers.worker_name(gone.pid))
    # Alive, or on another machine: not this sweeper's to judge.
    assert lost_workers.release_dead_local_holders() == [writer.pk]
    writer.refresh_from_db()
    assert (writer.status, writer.claim, writer.attempt) == ("queued", None, 1)
    reasons = run.events.filter(type="step.queued", step_key="writer").values_list(
        "data", flat=True
    )
    assert [data.get("reason") for data in reasons] == [None, "worker process died"]

    claimed(writer, lost_workers.worker_name())  # this very process: alive
    assert lost_workers.release_dead_local_holders() == []
    Step.objects.filter(pk=writer.pk).update(worker=f"elsewhere:1:{gone.pid}")
    assert lost_workers.release_dead_local_holders() == []
    assert Step.objects.get(pk=writer.pk).status == "running"


def test_a_late_step_whose_message_the_broker_still_holds_is_not_sent_again(
    alice: User, alice_workspace: Workspace, settings: Any, empty_broker: redis.Redis
) -> None:
    settings.STEP_RESEND_SECONDS = 5
    workflow = flow(alice, alice_workspace)
    run = runs.start_run(workflow, {"topic": "owls"}, actor=alice, via="session")
    Step.objects.filter(run=run).update(due_at=timezone.now() - timedelta(seconds=60))
    # A long queue: the step's message waits in it.
    brief = run.steps.get(key="brief")
    waiting = {"headers": {"task": "orchestrator.tasks.execute_step", "argsrepr": f"({brief.pk},)"}}
    empty_broker.lpush("celery\x06\x163", json.dumps(waiting))
    assert sweeper.requeue_lost_steps() == []
    # Redis restarted empty: the message is gone, and the step is sent again.
    empty_broker.flushdb()
    assert sweeper.requeue_lost_steps() == [brief.pk]
