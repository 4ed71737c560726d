"""A map on real processes: 200 items with concurrency 8 on a Celery worker with two pool
processes, each item a worker step calling the scripted vendor. Recorded times show items
overlapping on both processes and never more than the limit at once (a limit of 1 holds with two
processes free); the run's cost is the items' sum."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator.models import Step
from tests.orchestrator.conftest import finished, make_workflow, start_run
from tests.support.stack import CeleryWorker
from tests.support.vendor_server import Completion, Delay, RecordedRequest, Scripted, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

ITEMS = 200
CONCURRENCY = 8


@pytest.fixture
def api(api: httpx.Client, stack_worker: CeleryWorker) -> httpx.Client:
    return api


def lead_graph(**config: Any) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "brief", "type": "input"},
            {"id": "leads", "type": "map", "config": {"items": "input.leads", **config}},
            {
                "id": "qualify",
                "type": "worker",
                "config": {"model": "openai/gpt-4o-mini", "role": "Qualifier"},
            },
            {"id": "done", "type": "output"},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "leads"},
            {"id": "e2", "source": "leads", "target": "done"},
            {"id": "d1", "source": "leads", "target": "qualify", "kind": "delegate"},
        ],
    }


def qualify(request: RecordedRequest) -> Scripted:
    text = str(request.body)
    lead = next(
        word
        for word in text.replace('"', " ").replace("'", " ").split()
        if word.startswith("lead-")
    )
    return Delay(0.05, Completion(f"{lead}: qualified", prompt_tokens=10, completion_tokens=3))


def most_at_once(steps: list[Step]) -> int:
    moments = sorted(
        [(s.started_at, 1) for s in steps] + [(s.finished_at, -1) for s in steps],
        key=lambda moment: (moment[0], moment[1]),  # an end before a start at the same instant
    )
    running = peak = 0
    for _, change in moments:
        running += change
        peak = max(peak, running)
    return peak


def test_two_hundred_items_run_eight_at_a_time_across_both_pool_processes(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    stack_worker: CeleryWorker,
) -> None:
    vendor.respond_with(qualify)
    workflow = make_workflow(alice, alice_workspace, lead_graph(concurrency=CONCURRENCY))
    leads = [f"lead-{n:03d}" for n in range(ITEMS)]
    run = finished(start_run(api, workflow, {"leads": leads}), timeout=120)
    assert run.status == "succeeded", run.error
    assert run.output == [f"{lead}: qualified" for lead in leads]

    items = list(Step.objects.filter(run=run, parent__key="leads").order_by("id"))
    assert len(items) == ITEMS and {s.status for s in items} == {"succeeded"}
    assert [s.input for s in items] == leads
    assert all(s.attempt == 1 for s in items)  # each item ran exactly once
    assert len(vendor.requests) == ITEMS
    # Never more than the limit at once (each pool process runs several items on its loop).
    assert 2 <= most_at_once(items) <= CONCURRENCY
    # Both pool processes took items, and items on different processes overlapped in time.
    by_process: dict[str, list[Step]] = {}
    for step in items:
        by_process.setdefault(step.worker, []).append(step)
    assert len(by_process) == 2
    first, second = by_process.values()
    assert any(
        a.started_at < b.finished_at and b.started_at < a.finished_at
        for a in first[:20]
        for b in second[:20]
    )
    # The run's spend is exactly the sum of its items' (the map itself calls no model).
    assert run.tokens_in == sum(s.tokens_in for s in items) == 10 * ITEMS
    assert run.tokens_out == sum(s.tokens_out for s in items) == 3 * ITEMS
    assert run.cost == pytest.approx(sum(s.cost for s in items))
    detail = api.get(f"/api/runs/{run.pk}/").json()
    leads_step = next(step for step in detail["steps"] if step["id"] == "leads")
    assert leads_step["subtree"]["tokens_in"] == 10 * ITEMS


def test_a_limit_below_the_workers_capacity_holds(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    vendor.respond_with(qualify)
    workflow = make_workflow(alice, alice_workspace, lead_graph(concurrency=1))
    leads = [f"lead-{n:03d}" for n in range(12)]
    run = finished(start_run(api, workflow, {"leads": leads}), timeout=60)
    assert run.status == "succeeded", run.error
    items = list(Step.objects.filter(run=run, parent__key="leads").order_by("id"))
    # Two pool processes were free, yet one item ran at a time, in item order.
    assert most_at_once(items) == 1
    assert [s.input for s in sorted(items, key=lambda s: s.started_at)] == leads


def test_a_map_with_a_pure_body_runs_every_item_on_the_workers(
    api: httpx.Client, alice: User, alice_workspace: Workspace
) -> None:
    # A transform body finishes inside the transaction that finished the item before it: the
    # next item must still go out to a worker (it once stayed queued with no message).
    graph = lead_graph(concurrency=8)
    graph["nodes"][2] = {
        "id": "qualify",
        "type": "transform",
        "config": {"template": "{{ upstream }}!"},
    }
    workflow = make_workflow(alice, alice_workspace, graph)
    leads = [f"lead-{n:03d}" for n in range(60)]
    run = finished(start_run(api, workflow, {"leads": leads}), timeout=30)
    assert run.status == "succeeded", run.error
    assert run.output == [f"{lead}!" for lead in leads]
