"""A worker killed while a map's items run: its item is run again on the other worker, nothing is
lost, and every item finishes exactly once. In a module of its own: no other worker (the stack's
shared one) may take items here."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator.models import Step
from tests.orchestrator.conftest import event_log, finished, make_workflow, start_run
from tests.orchestrator.test_iteration_stack import lead_graph, qualify
from tests.support.stack import Stack, wait_until
from tests.support.vendor_server import Delay, RecordedRequest, Scripted, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def slow_qualify(request: RecordedRequest) -> Scripted:
    answer = qualify(request)
    assert isinstance(answer, Delay) and answer.then is not None
    return Delay(0.6, answer.then)


def test_a_worker_killed_during_a_map_loses_nothing_and_each_item_finishes_once(
    stack: Stack, api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    vendor.respond_with(slow_qualify)
    workflow = make_workflow(alice, alice_workspace, lead_graph(concurrency=2))
    leads = [f"lead-{n:03d}" for n in range(10)]
    worker_a = stack.worker(concurrency=1, wait=False)
    worker_b = stack.worker(concurrency=1, wait=False)
    beat = stack.beat(wait=False)
    with worker_a, worker_b, beat:
        for process in (worker_a, worker_b, beat):
            process.wait_ready()
        run_id = start_run(api, workflow, {"leads": leads})
        third = wait_until(
            lambda: Step.objects.filter(
                run_id=run_id, key="leads.qualify.3", status="running"
            ).first(),
            30,
            "the third item to be running",
        )
        pid = int(third.worker.rsplit(":", 1)[1])
        victim = worker_a if pid in worker_a.pool_pids() else worker_b
        assert pid in victim.pool_pids(), f"{third.worker} is in neither worker"
        victim.kill()
        run = finished(run_id, timeout=90, what="the map to finish on the surviving worker")
    assert run.status == "succeeded", (run.error, stack.logs())
    assert run.output == [f"{lead}: qualified" for lead in leads]
    log = event_log(run)
    assert [e["seq"] for e in log] == list(range(1, run.last_seq + 1))
    succeeded = Counter(e["step"] for e in log if e["type"] == "step.succeeded")
    assert all(count == 1 for count in succeeded.values())
    assert {f"leads.qualify.{n}" for n in range(1, 11)} <= set(succeeded)
    items = Step.objects.filter(run=run, parent__key="leads")
    assert items.count() == 10 and set(items.values_list("status", flat=True)) == {"succeeded"}
