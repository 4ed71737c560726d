"""A worker killed mid-step loses nothing: its lease runs out, the sweeper (beat) re-queues the
step, another worker runs it again, and every step still finishes exactly once.

Plus the database-level half of that promise, without processes: a redelivered task for a
finished step does nothing, and a worker whose lease was taken over can no longer record.
"""

from __future__ import annotations

import os
import signal
from collections import Counter
from typing import Any

import httpx
import psutil
import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import Workspace
from orchestrator.execution import execute_step
from orchestrator.models import Event, Run, Step
from tests.orchestrator.conftest import (
    chain,
    drive,
    event_log,
    finished,
    make_workflow,
    node,
    start_run,
)
from tests.support.stack import Stack, wait_until
from tests.support.vendor_server import Completion, Delay, VendorServer

MODEL = "openai/gpt-4o-mini"


def slow_flow() -> dict[str, Any]:
    return chain(
        node("brief", "input"),
        node("slow", "worker", model=MODEL, instructions="Think hard about {{ input.topic }}"),
        node("shape", "transform", template="Answer: {{ nodes.slow.output }}"),
        node("result", "output"),
    )


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_it_finishes_the_run_on_another_worker_when_the_running_one_is_killed(
    stack: Stack,
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
) -> None:
    # The first call hangs long enough to be killed in; the re-run gets an answer at once.
    vendor.push(Delay(4.0, Completion("never delivered")), Completion("forty-two"))
    workflow = make_workflow(alice, alice_workspace, slow_flow(), name="Slow")
    # Two single-process workers and beat (the sweeper) on its own, started side by side.
    worker_a = stack.worker(concurrency=1, wait=False)
    worker_b = stack.worker(concurrency=1, wait=False)
    beat = stack.beat(wait=False)
    with worker_a, worker_b, beat:
        for process in (worker_a, worker_b, beat):
            process.wait_ready()
        run_id = start_run(api, workflow, {"topic": "x"})

        slow = wait_until(
            lambda: Step.objects.filter(run_id=run_id, key="slow", status="running").first(),
            20,
            "the slow step to be running",
        )
        wait_until(lambda: vendor.requests, 10, "the slow step to call the vendor")
        pid = int(slow.worker.rsplit(":", 1)[1])
        victim, survivor = (
            (worker_a, worker_b) if pid in worker_a.pool_pids() else (worker_b, worker_a)
        )
        assert pid in victim.pool_pids(), f"{slow.worker} is in neither worker"
        doomed = victim.tree_pids()
        assert len(doomed) >= 2  # the main process and its pool process

        victim.kill()  # SIGKILL the whole tree: no warm shutdown, no chance to tidy up

        assert not [p for p in doomed if psutil.pid_exists(p) and _alive(p)]
        run = finished(run_id, what="the run to finish on the surviving worker")
        assert run.status == "succeeded", (run.error, stack.logs())
        assert survivor.alive and not victim.alive

    assert run.output == "Answer: forty-two"
    slow.refresh_from_db()
    assert slow.status == "succeeded"
    assert slow.attempt == 2
    assert int(slow.worker.rsplit(":", 1)[1]) not in doomed
    log = event_log(run)
    assert [e["seq"] for e in log] == list(range(1, run.last_seq + 1))
    # Every step that finished, finished exactly once.
    succeeded = Counter(e["step"] for e in log if e["type"] == "step.succeeded")
    assert succeeded == Counter({"brief": 1, "slow": 1, "shape": 1, "result": 1})
    lost = [e for e in log if e["type"] == "step.queued" and e["data"].get("reason")]
    # The sweeper, on the surviving worker of the same machine, found the holder gone before
    # its lease ran out.
    assert [(e["step"], e["data"]["reason"], e["data"]["attempt"]) for e in lost] == [
        ("slow", "worker process died", 1)
    ]
    starts = [
        e["data"]["attempt"] for e in log if e["type"] == "step.started" and e["step"] == "slow"
    ]
    assert starts == [1, 2]
    assert len(vendor.requests) == 2


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_killed_pool_process_s_step_is_released_by_its_parent_at_once(
    stack: Stack,
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
) -> None:
    # A lease far longer than the test: only the parent's release can bring the step back.
    vendor.push(Delay(30.0, Completion("never delivered")), Completion("forty-two"))
    workflow = make_workflow(alice, alice_workspace, slow_flow(), name="Slow")
    with stack.worker(concurrency=2, env={"STEP_LEASE_SECONDS": "120"}) as worker:
        run_id = start_run(api, workflow, {"topic": "x"})
        slow = wait_until(
            lambda: Step.objects.filter(run_id=run_id, key="slow", status="running").first(),
            20,
            "the slow step to be running",
        )
        wait_until(lambda: vendor.requests, 10, "the slow step to call the vendor")
        pid = int(slow.worker.rsplit(":", 1)[1])
        assert pid in worker.pool_pids()
        os.kill(pid, signal.SIGKILL)  # the pool process only: its parent lives on
        run = finished(run_id, timeout=30, what="the run to finish after the pool process died")
        assert run.status == "succeeded", (run.error, stack.logs())
        assert worker.alive

    assert run.output == "Answer: forty-two"
    log = event_log(run)
    assert [e["seq"] for e in log] == list(range(1, run.last_seq + 1))
    requeued = [e for e in log if e["type"] == "step.queued" and e["data"].get("reason")]
    assert [(e["step"], e["data"]["reason"], e["data"]["attempt"]) for e in requeued] == [
        ("slow", "worker process died", 1)
    ]
    succeeded = Counter(e["step"] for e in log if e["type"] == "step.succeeded")
    assert succeeded == Counter({"brief": 1, "slow": 1, "shape": 1, "result": 1})
    assert Step.objects.get(run=run, key="slow").attempt == 2


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


# -- the same promise at the database level (no processes) -----------------------------------------


@pytest.fixture
def finished_run(alice: User, alice_workspace: Workspace, alice_client: APIClient) -> Run:
    workflow = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("brief", "input"),
            node("writer", "worker", model="local/echo", instructions="{{ input.topic }}"),
            node("result", "output"),
        ),
    )
    response = alice_client.post(
        f"/api/workflows/{workflow.id}/runs/", {"input": {"topic": "owls"}}, format="json"
    )
    assert response.status_code == 201
    run = drive(response.json()["id"])
    assert run.status == "succeeded"
    return run


def _snapshot(run: Run) -> list[tuple[Any, ...]]:
    return list(
        Step.objects.filter(run=run)
        .order_by("id")
        .values_list("key", "status", "attempt", "output", "claim", "worker", "finished_at")
    )


@pytest.mark.django_db
def test_a_redelivered_task_for_a_finished_step_does_nothing(finished_run: Run) -> None:
    events = Event.objects.filter(run=finished_run).count()
    steps = _snapshot(finished_run)
    for step_id in Step.objects.filter(run=finished_run).values_list("pk", flat=True):
        execute_step(step_id)
        execute_step(step_id)
    assert Event.objects.filter(run=finished_run).count() == events
    assert _snapshot(finished_run) == steps
    finished_run.refresh_from_db()
    assert finished_run.status == "succeeded"
