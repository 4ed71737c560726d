"""Sub-flows as steps of the run: a subflow step hands its flow to the run and waits, holding no
worker; the flow's steps are child steps (``<subflow step>/<node>``) run by the real task body
(``drive``), pinned to the version current when the run started; approval gates inside work;
a failure inside fails the subflow step, which its own error edge may handle."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor import operations as editor_operations
from editor import publishing
from editor.models import Workflow, Workspace
from orchestrator import approvals
from orchestrator.models import Approval, Run, Step
from runtime.executor import InProcessExecutor
from runtime.flows import StaticFlows
from runtime.services import Services
from tests.orchestrator.conftest import drive, make_workflow

# The loader's query runs on a thread of its own, which sees committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


FAILS = "{{ 7 | first }}"  # a number has no first item: the step fails


def inner_graph(template: str = "checked: {{ input.text }}", gate: bool = False) -> dict[str, Any]:
    """input → check (a transform) [→ gate] → out."""
    nodes = [
        {"id": "start", "type": "input"},
        {"id": "check", "type": "transform", "config": {"template": template}},
        {"id": "out", "type": "output"},
    ]
    edges = [{"id": "i1", "source": "start", "target": "check"}]
    if gate:
        nodes.insert(
            2, {"id": "gate", "type": "approval", "label": "Sign off", "config": {"prompt": "OK?"}}
        )
        edges += [
            {"id": "i2", "source": "check", "target": "gate"},
            {"id": "i3", "source": "gate", "target": "out", "source_handle": "approved"},
        ]
    else:
        edges.append({"id": "i2", "source": "check", "target": "out"})
    return {"nodes": nodes, "edges": edges}


def outer_graph(sub_id: str, *, error_edge: bool = False) -> dict[str, Any]:
    """brief → sub (runs the inner workflow with {text: input.topic}) → done [, error → oops]."""
    nodes = [
        {"id": "brief", "type": "input"},
        {
            "id": "sub",
            "type": "subflow",
            "config": {"workflow": sub_id, "input": '{"text": {{ input.topic | tojson }}}'},
        },
        {"id": "done", "type": "output"},
    ]
    edges = [
        {"id": "o1", "source": "brief", "target": "sub"},
        {"id": "o2", "source": "sub", "target": "done"},
    ]
    if error_edge:
        nodes.append({"id": "oops", "type": "output", "config": {"value": "handled"}})
        edges.append({"id": "o3", "source": "sub", "target": "oops", "source_handle": "error"})
    return {"nodes": nodes, "edges": edges}


@pytest.fixture
def flows(alice: User, alice_workspace: Workspace) -> Any:
    def make(inner: dict[str, Any], **outer: Any) -> tuple[Workflow, Workflow]:
        sub = make_workflow(alice, alice_workspace, inner, name="Checker")
        main = make_workflow(alice, alice_workspace, outer_graph(str(sub.id), **outer), name="Main")
        return sub, main

    return make


def start(client: APIClient, workflow: Workflow, topic: str = "owls") -> str:
    response = client.post(
        f"/api/workflows/{workflow.id}/runs/", {"input": {"topic": topic}}, format="json"
    )
    assert response.status_code == 201, response.content
    return str(response.json()["id"])


def steps_of(run: Run | str) -> dict[str, Step]:
    return {step.key: step for step in Step.objects.filter(run_id=getattr(run, "pk", run))}


def test_a_sub_flows_steps_are_steps_of_the_run(alice_client: APIClient, flows: Any) -> None:
    sub, main = flows(inner_graph())
    run = drive(start(alice_client, main))
    assert run.status == "succeeded", run.error
    assert run.output == "checked: owls"
    steps = steps_of(run)
    assert {key: s.status for key, s in steps.items()} == {
        "brief": "succeeded",
        "sub": "succeeded",
        "sub/start": "succeeded",
        "sub/check": "succeeded",
        "sub/out": "succeeded",
        "done": "succeeded",
    }
    assert steps["sub/check"].parent_id == steps["sub"].pk == steps["sub/check"].in_flow_id
    assert steps["sub/start"].output == {"text": "owls"}  # the flow's input, as its input node
    assert steps["sub"].flow["version"] == sub.current_version_id
    assert steps["sub"].round == 1  # it ran twice: handing the flow out, then finishing
    # Streamed like any step: the log has the inner steps' lives between the sub-flow's start
    # and its resumption.
    log = list(run.events.order_by("seq").values_list("type", "step_key"))
    handed = log.index(("step.delegated", "sub"))
    assert handed < log.index(("step.succeeded", "sub/check")) < log.index(("step.resumed", "sub"))
    delegated = run.events.get(type="step.delegated", step_key="sub")
    assert delegated.data["flow"] == {"workflow": str(sub.id), "name": "Checker", "number": 1}
    # The same result in process, where the sub-flow runs inside its step.
    graph = copy.deepcopy(main.current_version.graph)
    services = Services(flows=StaticFlows({str(sub.id): inner_graph()}))
    local = InProcessExecutor(services=services).run_sync(graph, {"topic": "owls"})
    assert (local.status, local.output) == ("succeeded", run.output)


def test_the_sub_flow_runs_the_version_current_when_the_run_started(
    alice: User, alice_client: APIClient, flows: Any
) -> None:
    sub, main = flows(inner_graph())
    run_id = start(alice_client, main)  # not driven yet: the subflow step has not run
    editor_operations.save_workflow(sub, user=alice, graph=inner_graph("NEW {{ input.text }}"))
    run = drive(run_id)
    assert run.output == "checked: owls"
    assert steps_of(run)["sub"].flow["number"] == 1
    assert drive(start(alice_client, main)).output == "NEW owls"  # a new run takes version 2


def test_the_sub_flow_runs_the_callees_published_version_not_its_latest_draft(
    alice: User, alice_client: APIClient, flows: Any
) -> None:
    sub, main = flows(inner_graph())
    editor_operations.save_workflow(sub, user=alice, graph=inner_graph("v2 {{ input.text }}"))
    publishing.publish_version(sub, user=alice, number=2)
    editor_operations.save_workflow(sub, user=alice, graph=inner_graph("DRAFT {{ input.text }}"))
    run = drive(start(alice_client, main))
    assert run.output == "v2 owls"  # what callers get, as an API call of the sub-flow would
    assert steps_of(run)["sub"].flow["number"] == 2
    publishing.unpublish(sub, user=alice)
    assert drive(start(alice_client, main)).output == "DRAFT owls"  # nothing published: latest


def test_a_failure_inside_fails_the_subflow_step_naming_where(
    alice_client: APIClient, flows: Any
) -> None:
    _, main = flows(inner_graph(FAILS))
    run = drive(start(alice_client, main))
    assert run.status == "failed"
    assert "workflow 'Checker' failed at step 'check'" in run.error["message"]
    steps = steps_of(run)
    assert steps["sub/check"].status == "failed"
    assert "sub/out" not in steps  # never reached
    assert steps["sub"].status == "failed"


def test_the_subflow_steps_error_edge_handles_a_failure_inside(
    alice: User, alice_workspace: Workspace, alice_client: APIClient
) -> None:
    sub = make_workflow(
        alice,
        alice_workspace,
        inner_graph(FAILS),
        name="Checker",
    )
    main = make_workflow(
        alice, alice_workspace, outer_graph(str(sub.id), error_edge=True), name="Main"
    )
    run = drive(start(alice_client, main))
    assert run.status == "succeeded", run.error
    assert run.output == {"oops": "handled"}
    assert steps_of(run)["sub"].branch == "error"


def test_an_approval_gate_inside_a_sub_flow_waits_holding_no_worker(
    alice: User, alice_client: APIClient, flows: Any
) -> None:
    sub, main = flows(inner_graph(gate=True))
    # A second save: the version the run pins has an id other than its number.
    editor_operations.save_workflow(sub, user=alice, graph=inner_graph(gate=True))
    run = drive(start(alice_client, main))
    assert run.status == "waiting"
    steps = steps_of(run)
    assert (steps["sub"].status, steps["sub/gate"].status) == ("waiting", "waiting")
    assert steps["sub"].claim is None and steps["sub/gate"].claim is None  # no worker held
    approval = Approval.objects.get(run=run)
    assert approval.step.key == "sub/gate" and approval.status == "pending"
    listed = alice_client.get("/api/approvals/?status=pending").json()
    assert [item["step"] for item in listed["results"]] == ["sub/gate"]
    # The gate's label from the sub-flow version's graph; the subflow node has none: its id.
    (item,) = listed["results"]
    assert (item["node_label"], item["flow_label"]) == ("Sign off", "sub")
    approvals.decide_approval(approval.pk, alice, "approve")
    run = drive(run)
    assert run.status == "succeeded", run.error
    assert run.output == "checked: owls"


def test_a_map_whose_body_is_a_sub_flow_runs_it_as_steps_per_item(
    alice: User, alice_workspace: Workspace, alice_client: APIClient
) -> None:
    sub = make_workflow(alice, alice_workspace, inner_graph(), name="Checker")
    graph = {
        "nodes": [
            {"id": "brief", "type": "input"},
            {"id": "each", "type": "map", "config": {"items": "input.topics", "concurrency": 2}},
            {
                "id": "sub",
                "type": "subflow",
                "config": {"workflow": str(sub.id), "input": '{"text": {{ upstream | tojson }}}'},
            },
            {"id": "done", "type": "output"},
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "each"},
            {"id": "e2", "source": "each", "target": "done"},
            {"id": "d1", "source": "each", "target": "sub", "kind": "delegate"},
        ],
    }
    main = make_workflow(alice, alice_workspace, graph, name="Map of flows")
    response = alice_client.post(
        f"/api/workflows/{main.id}/runs/", {"input": {"topics": ["a", "b", "c"]}}, format="json"
    )
    run = drive(response.json()["id"], limit=200)
    assert run.status == "succeeded", run.error
    assert run.output == ["checked: a", "checked: b", "checked: c"]
    steps = steps_of(run)
    assert steps["each.sub.2/check"].output == "checked: b"
    assert steps["each.sub.2/check"].in_flow_id == steps["each.sub.2"].pk


def test_cancelling_a_run_cancels_its_sub_flows_steps(
    alice: User, alice_client: APIClient, flows: Any
) -> None:
    _, main = flows(inner_graph(gate=True))
    run = drive(start(alice_client, main))
    assert alice_client.post(f"/api/runs/{run.pk}/cancel/").status_code == 202
    steps = steps_of(run)
    assert {steps[key].status for key in ("sub", "sub/gate")} == {"cancelled"}
    assert Approval.objects.get(run=run).status == "expired"


def test_rerun_from_a_subflow_step_runs_its_whole_flow_again(
    alice_client: APIClient, flows: Any
) -> None:
    _, main = flows(inner_graph())
    run = drive(start(alice_client, main))
    again = alice_client.post(f"/api/runs/{run.pk}/steps/sub/rerun/", format="json")
    assert again.status_code == 201
    rerun = drive(again.json()["id"])
    steps = steps_of(rerun)
    assert steps["brief"].status == "reused"
    assert {steps[key].status for key in ("sub", "sub/start", "sub/check", "sub/out")} == {
        "succeeded"
    }
    assert rerun.output == run.output
    done = alice_client.post(f"/api/runs/{run.pk}/steps/done/rerun/", format="json")
    assert "sub/check" not in steps_of(drive(done.json()["id"]))  # reused whole, not re-entered


def rerun_from(client: APIClient, run: Run, step: str, **body: Any) -> Run:
    response = client.post(f"/api/runs/{run.pk}/steps/{step}/rerun/", body, format="json")
    assert response.status_code == 201, response.content
    return drive(response.json()["id"])


def two_step_inner() -> dict[str, Any]:
    """input → check → polish → out: a sub-flow with a step before and after a re-run point."""
    graph = inner_graph()
    graph["nodes"].insert(
        2, {"id": "polish", "type": "transform", "config": {"template": "{{ upstream }}!"}}
    )
    graph["edges"] = [
        {"id": "i1", "source": "start", "target": "check"},
        {"id": "i2", "source": "check", "target": "polish"},
        {"id": "i3", "source": "polish", "target": "out"},
    ]
    return graph


def test_rerun_from_a_step_inside_a_sub_flow_reuses_what_came_before_it(
    alice_client: APIClient, flows: Any
) -> None:
    _, main = flows(two_step_inner())
    source = drive(start(alice_client, main))
    assert source.output == "checked: owls!"
    new = rerun_from(alice_client, source, "sub/polish")
    assert new.status == "succeeded", new.error
    steps = steps_of(new)
    assert {key: steps[key].status for key in steps} == {
        "brief": "reused",
        "sub": "succeeded",
        "sub/start": "reused",
        "sub/check": "reused",
        "sub/polish": "succeeded",
        "sub/out": "succeeded",
        "done": "succeeded",
    }
    link = steps["sub/check"].reused_from
    assert (link["run"], link["step"]) == (str(source.pk), "sub/check")
    assert new.output == source.output
    edited = rerun_from(alice_client, source, "sub/check", output="EDITED")
    assert edited.output == "EDITED!"
    assert steps_of(edited)["sub/check"].reused_from["kind"] == "edited"


def test_retrying_a_run_goes_on_inside_its_failed_sub_flow(
    alice: User, alice_client: APIClient, flows: Any
) -> None:
    broken = two_step_inner()
    broken["nodes"][2]["config"]["template"] = FAILS  # polish fails
    sub, main = flows(broken)
    source = drive(start(alice_client, main))
    assert source.status == "failed"
    editor_operations.save_workflow(sub, user=alice, graph=two_step_inner())  # the fix
    response = alice_client.post(
        f"/api/runs/{source.pk}/rerun/", {"version": "current"}, format="json"
    )
    assert response.status_code == 201, response.content
    retried = drive(response.json()["id"])
    assert retried.status == "succeeded", retried.error
    steps = steps_of(retried)
    assert (steps["sub/check"].status, steps["sub/polish"].status) == ("reused", "succeeded")
    assert retried.output == "checked: owls!"


def test_the_run_api_says_which_steps_belong_to_which_sub_flow(
    alice_client: APIClient, flows: Any
) -> None:
    sub, main = flows(inner_graph())
    run = drive(start(alice_client, main))
    steps = {s["id"]: s for s in alice_client.get(f"/api/runs/{run.pk}/").json()["steps"]}
    assert steps["sub"]["flow"] == {"workflow": str(sub.id), "name": "Checker", "number": 1}
    assert steps["sub"]["in_flow"] is None and steps["brief"]["flow"] is None
    assert steps["sub/check"]["in_flow"] == "sub" and steps["sub/check"]["parent"] == "sub"


def test_the_preview_prices_a_subflow_step_with_the_steps_of_its_flow(
    alice_client: APIClient, flows: Any
) -> None:
    _, main = flows(inner_graph())
    run = drive(start(alice_client, main))
    Step.objects.filter(run=run, key="sub/check").update(cost=0.25)  # as if it called a model
    preview = alice_client.post(f"/api/runs/{run.pk}/steps/sub/rerun/preview/", format="json")
    assert preview.status_code == 200, preview.content
    assert preview.json()["estimated_cost"] == 0.25
    later = alice_client.post(f"/api/runs/{run.pk}/steps/done/rerun/preview/", format="json")
    assert later.json()["reused_cost"] == 0.25  # reusing the subflow step saves its flow's cost
