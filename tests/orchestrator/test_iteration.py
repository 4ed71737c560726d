"""Map and loop on the run side: items and iterations are child steps run by the real task body
(``drive``, in this process; the stack tests run them on Celery workers), the same as in the
in-process executor."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import Workflow, Workspace
from orchestrator import approvals
from orchestrator.execution import execute_step
from orchestrator.models import Approval, Run, Step
from runtime.executor import InProcessExecutor
from tests.orchestrator.conftest import drive, make_workflow

pytestmark = pytest.mark.django_db


def map_graph(body: dict[str, Any], **config: Any) -> dict[str, Any]:
    """brief → each (a map over input.items, body wired by a delegate edge) → done."""
    return {
        "nodes": [
            {"id": "brief", "type": "input"},
            {"id": "each", "type": "map", "config": {"items": "input.items", **config}},
            {"id": "body", **body},
            {"id": "done", "type": "output"},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "each"},
            {"id": "e2", "source": "each", "target": "done"},
            {"id": "d1", "source": "each", "target": "body", "kind": "delegate"},
        ],
    }


SHOUT = {"type": "transform", "config": {"template": "{{ upstream | upper }}"}}
# Fails for an item that is not a string: a number has no first character.
PICKY = {"type": "transform", "config": {"template": "{{ upstream | first }}"}}


def run_on_server(client: APIClient, workflow: Workflow, run_input: Any) -> Run:
    response = client.post(
        f"/api/workflows/{workflow.id}/runs/", {"input": run_input}, format="json"
    )
    assert response.status_code == 201, response.content
    return drive(response.json()["id"], limit=1000)


def in_process(graph: dict[str, Any], run_input: Any) -> Any:
    return InProcessExecutor().run_sync(copy.deepcopy(graph), run_input)


def children(run: Run, parent: str = "each") -> list[Step]:
    return list(Step.objects.filter(run=run, parent__key=parent).order_by("id"))


def test_a_map_runs_its_body_once_per_item_and_keeps_item_order(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    graph = map_graph(SHOUT, concurrency=3)
    flow = make_workflow(alice, alice_workspace, graph, name="Map")
    items = [f"item {n}" for n in range(25)]
    run = run_on_server(alice_client, flow, {"items": items})
    assert run.status == "succeeded", run.error
    assert run.output == [item.upper() for item in items]
    steps = children(run)
    assert [s.key for s in steps] == [f"each.body.{n}" for n in range(1, 26)]
    assert [s.input for s in steps] == items
    assert {s.status for s in steps} == {"succeeded"}
    assert in_process(graph, {"items": items}).output == run.output


def test_an_empty_list_outputs_an_empty_list(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    flow = make_workflow(alice, alice_workspace, map_graph(SHOUT), name="Map")
    run = run_on_server(alice_client, flow, {"items": []})
    assert (run.status, run.output) == ("succeeded", [])
    assert not children(run)


@pytest.mark.parametrize(
    ("items", "message"),
    [
        ({"a": 1}, "items must be a list; 'input.items' gave an object"),
        ("text", "items must be a list; 'input.items' gave a string"),
        (
            list(range(1001)),
            "1001 items is more than its item limit of 1000 (max_items; at most 10000)",
        ),
    ],
)
def test_a_map_over_something_that_is_not_a_short_enough_list_fails_saying_why(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, items: Any, message: str
) -> None:
    flow = make_workflow(alice, alice_workspace, map_graph(SHOUT), name="Map")
    run = run_on_server(alice_client, flow, {"items": items})
    assert run.status == "failed"
    assert message in run.error["message"]
    assert not children(run)


@pytest.mark.parametrize(
    ("policy", "status", "output"),
    [
        ("skip", "succeeded", ["a", "b", "c"]),
        (
            "collect",
            "succeeded",
            {"results": ["a", None, "b", None, "c"], "failed": [2, 4]},
        ),
        ("stop", "failed", None),
    ],
)
def test_item_errors_follow_the_maps_policy(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    policy: str,
    status: str,
    output: Any,
) -> None:
    graph = map_graph(PICKY, on_item_error=policy, concurrency=1)
    flow = make_workflow(alice, alice_workspace, graph, name="Map")
    items: list[Any] = ["a", 1, "b", 2, "c"]
    run = run_on_server(alice_client, flow, {"items": items})
    assert run.status == status, run.error
    steps = children(run)
    if policy == "collect":
        assert run.output["results"] == output["results"]
        assert [error["index"] for error in run.output["errors"]] == [1, 3]
        assert run.output["errors"][0]["step"] == "each.body.2"
    elif policy == "skip":
        assert run.output == output
    else:
        # The second item failed with one item running at a time: the rest never started.
        assert [s.status for s in steps] == [
            "succeeded",
            "failed",
            "cancelled",
            "cancelled",
            "cancelled",
        ]
        assert "item 2 of 5 failed (each.body.2)" in run.error["message"]
    local = in_process(graph, {"items": items})
    assert local.status == status
    assert local.output == run.output
    assert {k: s.status for k, s in local.steps.items() if k.startswith("each.")} == {
        s.key: s.status for s in steps
    }


def test_a_loop_repeats_its_body_on_the_last_output_until_its_condition_holds(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    graph = {
        "nodes": [
            {"id": "brief", "type": "input"},
            {
                "id": "again",
                "type": "loop",
                "config": {"until": "output | length >= 4", "max_iterations": 10},
            },
            {"id": "grow", "type": "transform", "config": {"template": "{{ upstream }}x"}},
            {"id": "done", "type": "output"},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "again"},
            {"id": "e2", "source": "again", "target": "done"},
            {"id": "d1", "source": "again", "target": "grow", "kind": "delegate"},
        ],
    }
    graph["nodes"][0]["config"] = {
        "fields": {"type": "object", "properties": {"seed": {"type": "string"}}}
    }
    graph["edges"][0]["id"] = "e1"
    graph["nodes"].insert(
        1, {"id": "seed", "type": "transform", "config": {"template": "{{ input.seed }}"}}
    )
    graph["edges"][0] = {"id": "e1", "source": "brief", "target": "seed"}
    graph["edges"].append({"id": "e3", "source": "seed", "target": "again"})
    flow = make_workflow(alice, alice_workspace, graph, name="Loop")
    run = run_on_server(alice_client, flow, {"seed": "a"})
    assert run.status == "succeeded", run.error
    assert run.output == "axxx"
    assert [s.key for s in children(run, "again")] == [
        "again.grow.1",
        "again.grow.2",
        "again.grow.3",
    ]
    assert [s.input for s in children(run, "again")] == ["a", "ax", "axx"]
    assert in_process(graph, {"seed": "a"}).output == "axxx"


def test_an_approval_gate_as_a_maps_body_asks_once_per_item(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    gate = {"type": "approval", "config": {"prompt": "Send to {{ upstream }}?"}}
    flow = make_workflow(alice, alice_workspace, map_graph(gate, concurrency=2), name="Gates")
    run = run_on_server(alice_client, flow, {"items": ["ann", "bob", "cy"]})
    assert run.status == "waiting"
    for expected_open in (2, 2, 1):
        pending = list(Approval.objects.filter(run=run, status="pending").order_by("id"))
        assert len(pending) == expected_open  # two items at a time wait for a person
        first = pending[0]
        assert first.step.parent.key == "each"
        decision = "reject" if first.step.input == "bob" else "approve"
        approvals.decide_approval(first.pk, alice, decision)
        run = drive(run, limit=1000)
    assert run.status == "succeeded", run.error
    assert [s.branch for s in children(run)] == ["approved", "rejected", "approved"]
    # Every item's result, in item order (a gate resumes, so its own round moves on: the map
    # still finds it among the tasks of its round).
    assert len(run.output) == 3


def test_cancelling_in_the_middle_of_a_map_cancels_what_has_not_finished(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    settings.STEP_LANE_SECONDS = 0  # one item per message: the test stops between two items
    echo = {"type": "worker", "config": {"model": "local/echo", "role": "Echo"}}
    flow = make_workflow(alice, alice_workspace, map_graph(echo, concurrency=2), name="Map")
    response = alice_client.post(
        f"/api/workflows/{flow.id}/runs/", {"input": {"items": list("abcdefgh")}}, format="json"
    )
    run_id = response.json()["id"]
    for _ in range(2):  # brief, then the map hands out its items
        for step_id in Step.objects.filter(run_id=run_id, status="queued").values_list(
            "pk", flat=True
        ):
            execute_step(step_id)
    items = Step.objects.filter(run_id=run_id, parent__key="each")
    assert sorted(items.values_list("status", flat=True)) == ["pending"] * 6 + ["queued"] * 2
    first = items.filter(status="queued").order_by("id").first()
    execute_step(first.pk)  # one item finishes; the next one is queued in its place
    assert items.filter(status="queued").count() == 2
    done = set(items.filter(status="succeeded").values_list("key", flat=True))
    assert "each.body.1" in done
    assert alice_client.post(f"/api/runs/{run_id}/cancel/").status_code == 202
    run = Run.objects.get(pk=run_id)
    assert run.status == "cancelled"
    statuses = dict(items.values_list("key", "status"))
    assert {key for key, status in statuses.items() if status == "succeeded"} == done
    assert {status for key, status in statuses.items() if key not in done} == {"cancelled"}
    assert Step.objects.get(run_id=run_id, key="each").status == "cancelled"
    # Nothing is left to run: a late message for a cancelled item does nothing.
    for step in items.filter(status="cancelled"):
        execute_step(step.pk)
    assert set(dict(items.values_list("key", "status")).values()) <= {"succeeded", "cancelled"}
    seqs = list(run.events.order_by("seq").values_list("seq", flat=True))
    assert seqs == list(range(1, run.last_seq + 1))


def test_a_body_that_fails_for_every_item(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    for policy, status in (("collect", "succeeded"), ("skip", "succeeded"), ("stop", "failed")):
        graph = map_graph(PICKY, on_item_error=policy, concurrency=3)
        flow = make_workflow(alice, alice_workspace, graph, name=f"Map {policy}")
        run = run_on_server(alice_client, flow, {"items": [1, 2, 3, 4, 5, 6]})
        assert run.status == status, (policy, run.error)
        if policy == "collect":
            assert run.output["results"] == [None] * 6
            assert [e["index"] for e in run.output["errors"]] == [0, 1, 2, 3, 4, 5]
        elif policy == "skip":
            assert run.output == []
        else:
            assert "item 1 of 6 failed" in run.error["message"]
            # Three ran at once and failed; the three not started were cancelled.
            statuses = sorted(s.status for s in children(run))
            assert statuses == ["cancelled"] * 3 + ["failed"] * 3


def test_rerun_from_one_map_item_reuses_the_others(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    echo = {"type": "worker", "config": {"model": "local/echo", "role": "Echo"}}
    flow = make_workflow(alice, alice_workspace, map_graph(echo, concurrency=2), name="Map")
    source = run_on_server(alice_client, flow, {"items": ["a", "b", "c", "d"]})
    assert source.status == "succeeded", source.error
    response = alice_client.post(f"/api/runs/{source.pk}/steps/each.body.3/rerun/", format="json")
    assert response.status_code == 201, response.content
    new = drive(response.json()["id"], limit=100)
    assert new.status == "succeeded", new.error
    statuses = {s.key: s.status for s in children(new)}
    assert statuses == {
        "each.body.1": "reused",
        "each.body.2": "reused",
        "each.body.3": "succeeded",
        "each.body.4": "reused",
    }
    assert new.output == source.output
    edited = alice_client.post(
        f"/api/runs/{source.pk}/steps/each.body.2/rerun/", {"output": "B!"}, format="json"
    )
    assert edited.status_code == 201, edited.content
    run = drive(edited.json()["id"], limit=100)
    assert run.output[1] == "B!" and run.output[0] == source.output[0]
