"""Time travel on real processes: a manager team's run re-run from a later step, and retried on a
new version, through Daphne's API on a Celery worker with two pool processes. The scripted
vendor's request log shows which model calls each new run made: none upstream of the re-run
point."""

from __future__ import annotations

import copy
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from editor import operations as editor_operations
from editor.models import Workspace
from orchestrator.models import Run, Step
from tests.orchestrator.conftest import edge, finished, make_workflow, node, start_run
from tests.orchestrator.test_manager_e2e import BOSS, STAFF, TASKS, last_user, team_vendor
from tests.support.stack import CeleryWorker
from tests.support.vendor_server import Completion, RecordedRequest, Scripted, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

POLISHED = "Polished: "


@pytest.fixture
def api(api: httpx.Client, stack_worker: CeleryWorker) -> httpx.Client:
    return api


def team_then_polish() -> dict[str, Any]:
    """brief → lead (a manager of alpha and beta) → polish (a worker) → result."""
    lead = node("lead", "manager", model=BOSS, instructions="Brief on {{ input.topic }}")
    polish = node("polish", "worker", model=STAFF, role="Editor", instructions="Polish it.")
    return {
        "nodes": [
            node("brief", "input"),
            lead,
            node("alpha", "worker", model=STAFF, role="Researcher"),
            node("beta", "worker", model=STAFF, role="Critic"),
            polish,
            node("result", "output"),
        ],
        "edges": [
            edge("brief", "lead"),
            edge("lead", "polish"),
            edge("polish", "result"),
            {**edge("lead", "alpha"), "kind": "delegate"},
            {**edge("lead", "beta"), "kind": "delegate"},
        ],
    }


def vendor_answers(request: RecordedRequest) -> Scripted:
    if "Editor" in str(request.body):
        return Completion(
            POLISHED + last_user(request)[-40:], prompt_tokens=30, completion_tokens=8
        )
    return team_vendor(request)


def rerun(api: httpx.Client, run_id: str, step: str | None = None, **body: Any) -> str:
    url = f"/api/runs/{run_id}/" + (f"steps/{step}/rerun/" if step else "rerun/")
    response = api.post(url, json=body)
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def test_rerun_from_a_later_step_makes_no_upstream_model_call(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    vendor.respond_with(vendor_answers)
    workflow = make_workflow(alice, alice_workspace, team_then_polish(), name="Team")
    first = finished(start_run(api, workflow, {"topic": "tidal power"}))
    assert first.status == "succeeded", first.error
    assert len(vendor.requests) == 5  # plan, alpha, beta, done, polish
    vendor.reset()
    vendor.respond_with(vendor_answers)

    second = finished(rerun(api, str(first.pk), "polish"))
    assert second.status == "succeeded", second.error
    # The vendor saw one call: the polish step's. The manager and its team were reused.
    assert [request.model for request in vendor.requests] == [STAFF.split("/", 1)[1]]
    assert "Editor" in str(vendor.requests[0].body)
    steps = {s.key: s for s in Step.objects.filter(run=second)}
    assert {key: s.status for key, s in steps.items()} == {
        "brief": "reused",
        "lead": "reused",
        "polish": "succeeded",
        "result": "succeeded",
    }
    # Reused steps took no time, and the executed one started after every one of them.
    for key in ("brief", "lead"):
        assert steps[key].duration_ms == 0
        assert steps[key].finished_at <= steps["polish"].started_at
    # Only what was executed is counted; the totals say what was reused and what it had cost.
    polish_cost = steps["polish"].cost
    assert second.cost == pytest.approx(polish_cost) and polish_cost > 0
    first_lead = Step.objects.filter(run=first, key__startswith="lead")
    assert second.reused_steps == 2
    assert second.reused_cost == pytest.approx(sum(s.cost for s in first_lead))
    assert second.output == first.output  # the vendor answers polish the same way

    # A re-run of the re-run still knows what the manager's team cost where it really ran.
    third = finished(rerun(api, str(second.pk), "result"))
    assert third.status == "succeeded" and third.reused_steps == 3
    lead_link = Step.objects.get(run=third, key="lead").reused_from
    assert lead_link["run"] == str(second.pk)
    assert lead_link["cost"] == pytest.approx(sum(s.cost for s in first_lead))
    assert third.reused_cost == pytest.approx(sum(s.cost for s in first_lead) + polish_cost)
    assert third.cost == 0


def test_retry_on_a_new_version_reuses_the_unchanged_team_and_reruns_the_changed_step(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    vendor.respond_with(vendor_answers)
    workflow = make_workflow(alice, alice_workspace, team_then_polish(), name="Team")
    first = finished(start_run(api, workflow, {"topic": "tidal power"}))
    graph = copy.deepcopy(workflow.current_version.graph)
    for each in graph["nodes"]:
        if each["id"] == "polish":
            each["config"]["instructions"] = "Polish it, and keep it short."
    editor_operations.save_workflow(workflow, user=alice, graph=graph)
    preview = api.post(f"/api/runs/{first.pk}/rerun/preview/", json={"version": "current"})
    assert preview.status_code == 200, preview.text
    verdicts = {n["node"]: n["verdict"] for n in preview.json()["nodes"]}
    assert verdicts == {"brief": "reuse", "lead": "reuse", "polish": "execute", "result": "execute"}
    vendor.reset()
    vendor.respond_with(vendor_answers)

    retried = finished(rerun(api, str(first.pk), version="current"))
    assert retried.status == "succeeded", retried.error
    assert len(vendor.requests) == 1 and "keep it short" in str(vendor.requests[0].body)
    assert Run.objects.get(pk=retried.pk).version.number == 2
    detail = api.get(f"/api/runs/{first.pk}/").json()
    assert [r["id"] for r in detail["reruns"]] == [str(retried.pk)]


def test_rerun_from_a_managers_task_asks_only_that_worker_and_the_managers_next_round(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    vendor.respond_with(vendor_answers)
    workflow = make_workflow(alice, alice_workspace, team_then_polish(), name="Team")
    first = finished(start_run(api, workflow, {"topic": "tidal power"}))
    assert first.status == "succeeded", first.error
    vendor.reset()
    vendor.respond_with(vendor_answers)

    second = finished(rerun(api, str(first.pk), "lead.alpha.1"))
    assert second.status == "succeeded", second.error
    # alpha's task again, the manager's round 2 (it had planned round 1 already), then polish.
    asked = [(r.model, "Results of round 1:" in last_user(r)) for r in vendor.requests]
    assert sorted(asked) == sorted(
        [("gpt-4o-mini", False), ("gpt-4o", True), ("gpt-4o-mini", False)]
    )
    workers = [
        last_user(r)
        for r in vendor.requests
        if r.model == "gpt-4o-mini" and "Editor" not in str(r.body)
    ]
    assert len(workers) == 1 and TASKS["alpha"] in workers[0]  # beta's task was not asked again
    steps = {s.key: s for s in Step.objects.filter(run=second)}
    assert steps["lead.alpha.1"].status == "succeeded"
    assert steps["lead.beta.2"].status == "reused"
    assert steps["lead"].status == "succeeded"
    assert steps["lead"].output == Step.objects.get(run=first, key="lead").output
    assert steps["polish"].status == "succeeded"
    # The new run paid for alpha, the manager's last round and polish; beta's cost was saved.
    beta_cost = Step.objects.get(run=first, key="lead.beta.2").cost
    assert second.reused_cost == pytest.approx(beta_cost) and beta_cost > 0
