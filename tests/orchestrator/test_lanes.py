"""A worker goes on with the step its own step made runnable (a map's next item, the next step of
a chain), claimed in the transaction that ends the step before, for STEP_LANE_SECONDS; the real
task body runs here (``execute_step``), one message at a time."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import Workspace
from orchestrator.execution import execute_step
from orchestrator.models import Event, Run, Step
from tests.orchestrator.conftest import drive, make_workflow
from tests.orchestrator.test_iteration import map_graph

pytestmark = pytest.mark.django_db

ECHO = {"type": "worker", "config": {"model": "local/echo", "role": "Echo"}}


def start(client: APIClient, flow_id: Any, run_input: Any) -> str:
    response = client.post(f"/api/workflows/{flow_id}/runs/", {"input": run_input}, format="json")
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def queued(run_id: str) -> list[int]:
    steps = Step.objects.filter(run_id=run_id, status="queued").order_by("id")
    return list(steps.values_list("pk", flat=True))


def running_at_once(run_id: str, parent: str) -> int:
    """The most items of ``parent`` running at the same moment, from the run's events."""
    running: set[str] = set()
    most = 0
    prefix = f"{parent}."
    for kind, key in (
        Event.objects.filter(run_id=run_id).order_by("seq").values_list("type", "step_key")
    ):
        if not key or not key.startswith(prefix):
            continue
        if kind == "step.started":
            running.add(key)
        elif kind in ("step.succeeded", "step.failed", "step.cancelled"):
            running.discard(key)
        most = max(most, len(running))
    return most


def test_one_message_runs_a_maps_items_one_after_another_within_its_lane(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.STEP_LANE_SECONDS = 600
    settings.STEP_TASKS_PER_PROCESS = 1  # the other queued item is left to its own message
    flow = make_workflow(alice, alice_workspace, map_graph(ECHO, concurrency=2), name="Lane")
    run_id = start(alice_client, flow.id, {"items": list("abcdefgh")})
    for _ in range(2):  # brief, then the map hands out its first two items
        for step_id in queued(run_id):
            execute_step(step_id)
    first, second = queued(run_id)
    items = Step.objects.filter(run_id=run_id, parent__key="each")

    execute_step(first)  # its lane goes on with every item not taken by the other one
    statuses = dict(items.values_list("key", "status"))
    assert statuses.pop(Step.objects.get(pk=second).key) == "queued"
    assert set(statuses.values()) == {"succeeded"}
    assert running_at_once(run_id, "each") <= 2

    # Each next item started in the transaction that ended the one before: its queued and
    # started events follow that item's success directly.
    events = list(
        Event.objects.filter(run_id=run_id, step_key__startswith="each.")
        .order_by("seq")
        .values_list("type", "step_key")
    )
    ends = [i for i, (kind, _) in enumerate(events) if kind == "step.succeeded"]
    for at in ends[:-1]:
        (kind_q, key_q), (kind_s, key_s) = events[at + 1], events[at + 2]
        assert (kind_q, kind_s) == ("step.queued", "step.started")
        assert key_q == key_s

    execute_step(second)
    run = drive(run_id, limit=100)
    assert run.status == "succeeded", run.error
    assert len(run.output) == 8
    assert list(items.values_list("attempt", flat=True)) == [1] * 8  # each item ran once
    seqs = list(run.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, run.last_seq + 1))


def test_a_chain_of_model_steps_runs_in_one_message(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.STEP_LANE_SECONDS = 600
    graph = {
        "nodes": [
            {"id": "brief", "type": "input"},
            *({"id": f"w{n}", **ECHO} for n in range(1, 4)),
            {"id": "done", "type": "output"},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "w1"},
            {"id": "e2", "source": "w1", "target": "w2"},
            {"id": "e3", "source": "w2", "target": "w3"},
            {"id": "e4", "source": "w3", "target": "done"},
        ],
    }
    flow = make_workflow(alice, alice_workspace, graph, name="Chain")
    run_id = start(alice_client, flow.id, {"topic": "lanes"})
    (brief,) = queued(run_id)
    execute_step(brief)  # a pure input step: it queues w1 as a message
    (w1,) = queued(run_id)
    execute_step(w1)  # w2 and w3 follow in its lane, then the output step inline
    run = Run.objects.get(pk=run_id)
    assert run.status == "succeeded", run.error
    assert queued(run_id) == []


def test_without_a_lane_every_step_travels_as_a_message(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.STEP_LANE_SECONDS = 0
    flow = make_workflow(alice, alice_workspace, map_graph(ECHO, concurrency=1), name="No lane")
    run_id = start(alice_client, flow.id, {"items": [1, 2, 3]})
    for _ in range(2):
        for step_id in queued(run_id):
            execute_step(step_id)
    (first,) = queued(run_id)
    execute_step(first)
    items = Step.objects.filter(run_id=run_id, parent__key="each").order_by("id")
    assert list(items.values_list("status", flat=True)) == ["succeeded", "queued", "pending"]


def test_a_process_runs_queued_items_of_the_same_map_beside_its_own(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.STEP_LANE_SECONDS = 600
    settings.STEP_TASKS_PER_PROCESS = 3
    flow = make_workflow(alice, alice_workspace, map_graph(ECHO, concurrency=4), name="Batch")
    run_id = start(alice_client, flow.id, {"items": list(range(10))})
    for _ in range(2):  # brief, then the map hands out its first four items
        for step_id in queued(run_id):
            execute_step(step_id)
    handed_out = queued(run_id)
    assert len(handed_out) == 4
    items = Step.objects.filter(run_id=run_id, parent__key="each")

    execute_step(handed_out[0])  # takes two more queued items with it: three at once
    statuses = dict(items.values_list("pk", "status"))
    assert statuses.pop(handed_out[3]) == "queued"  # the fourth is its own message's
    assert set(statuses.values()) == {"succeeded"}
    # The three started together, in the claim's transaction, before any of them ended.
    first_events = list(
        Event.objects.filter(run_id=run_id, step_key__startswith="each.")
        .exclude(type="step.queued")
        .order_by("seq")
        .values_list("type", flat=True)[:3]
    )
    assert first_events == ["step.started"] * 3
    assert running_at_once(run_id, "each") <= 4

    for step_id in handed_out[1:]:  # the messages of the items taken: nothing left to do
        execute_step(step_id)
    run = drive(run_id, limit=100)
    assert run.status == "succeeded", run.error
    assert len(run.output) == 10
    assert list(items.values_list("attempt", flat=True)) == [1] * 10  # each item ran once
    seqs = list(run.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, run.last_seq + 1))
