"""Approvals on PostgreSQL: a flow waits at an ``approval`` gate holding nothing, the people who
may decide see it in their inbox, and their decisions (a quorum, an edit, a rejection, a
deadline) resume the run down the right branch. Steps run in this process with ``drive``."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from editor.errors import Conflict, OperationError
from editor.models import Membership, Role, Workflow, Workspace
from orchestrator import approvals, sweeper, tasks
from orchestrator.models import Approval, Decision, Run, Step
from tests.orchestrator.conftest import drive, edge, event_log, make_workflow, node
from tests.orchestrator.test_runs_api import error_of, started_run

pytestmark = pytest.mark.django_db

APPROVAL_FIELDS = {
    "id",
    "run",
    "workflow",
    "step",
    "node",
    "node_label",
    "flow_label",
    "status",
    "prompt",
    "data",
    "editable",
    "approvers",
    "role",
    "quorum",
    "approvals",
    "deadline",
    "can_decide",
    "decisions",
    "created_at",
    "decided_at",
}


def gated_graph(**gate: Any) -> dict[str, Any]:
    """input → draft → gate → (approved) output_a / (rejected) output_b."""
    return {
        "nodes": [
            node("brief", "input"),
            node("draft", "transform", template="Draft on {{ input.topic }}"),
            node("gate", "approval", **{"prompt": "Publish '{{ upstream }}'?", **gate}),
            node("output_a", "output", value="published: {{ upstream }}"),
            node("output_b", "output", value="binned: {{ upstream }}"),
        ],
        "edges": [
            edge("brief", "draft"),
            edge("draft", "gate"),
            edge("gate", "output_a", "approved"),
            edge("gate", "output_b", "rejected"),
        ],
    }


def member(username: str, workspace: Workspace, role: str) -> User:
    user = User.objects.create_user(username, f"{username}@example.org", "pw")
    Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


def client_of(user: User) -> APIClient:
    client = APIClient()
    client.force_login(user)
    return client


@pytest.fixture
def dave(alice_workspace: Workspace) -> User:
    return member("dave", alice_workspace, Role.APPROVER)


@pytest.fixture
def erin(alice_workspace: Workspace) -> User:
    return member("erin", alice_workspace, Role.APPROVER)


@pytest.fixture
def dave_client(dave: User) -> APIClient:
    return client_of(dave)


@pytest.fixture
def erin_client(erin: User) -> APIClient:
    return client_of(erin)


def gated_run(
    client: APIClient, owner: User, workspace: Workspace, **gate: Any
) -> tuple[Run, Approval]:
    """Start the gated flow and drive it to the gate; the run and its approval."""
    workflow = make_workflow(owner, workspace, gated_graph(**gate), name="Gated")
    run = drive(started_run(client, workflow, {"topic": "tides"}))
    assert run.status == "waiting", (run.status, run.error)
    return run, Approval.objects.get(run=run)


def decide(client: APIClient, approval: Approval, decision: str, **body: Any) -> Any:
    return client.post(
        f"/api/approvals/{approval.pk}/decide/", {"decision": decision, **body}, format="json"
    )


def steps_of(run: Run) -> dict[str, tuple[str, str | None]]:
    return {s.key: (s.status, s.branch) for s in Step.objects.filter(run=run)}


# -- waiting ---------------------------------------------------------------------------------------


def test_it_waits_at_the_gate_holding_no_worker_and_opens_an_approval(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace, quorum=1)

    gate = Step.objects.get(run=run, key="gate")
    assert gate.status == "waiting"
    # Nothing is held while a person thinks: no running step, no claim, no lease.
    assert not Step.objects.filter(run=run, status__in=("queued", "running")).exists()
    assert gate.claim is None and gate.lease_expires_at is None
    assert not Step.objects.filter(run=run, lease_expires_at__isnull=False).exists()
    assert "output_a" not in steps_of(run) and "output_b" not in steps_of(run)

    assert approval.step_id == gate.pk
    assert approval.workspace_id == alice_workspace.pk
    assert approval.status == "pending"
    assert approval.prompt == "Publish 'Draft on tides'?"
    assert approval.data == "Draft on tides"
    assert (approval.role, approval.quorum, approval.editable) == ("approver", 1, False)
    assert approval.deadline is None and approval.decided_at is None
    # The waiting step's request names its approval, in the row and in the event.
    assert gate.request["kind"] == "approval"
    assert gate.request["approval"] == str(approval.pk)
    waiting = [e for e in event_log(run) if e["type"] == "step.waiting"]
    assert waiting[0]["data"]["request"]["approval"] == str(approval.pk)
    assert event_log(run)[-1]["type"] == "run.waiting"
    detail = alice_client.get(f"/api/runs/{run.pk}/").json()
    assert detail["status"] == "waiting"
    gate_step = next(s for s in detail["steps"] if s["id"] == "gate")
    assert gate_step["request"]["approval"] == str(approval.pk)

    # The sweeper leaves a waiting run alone: nothing is re-queued.
    assert sweeper.requeue_lost_steps(stale_after=0) == []
    run.refresh_from_db()
    assert run.status == "waiting"


def test_it_lists_the_pending_approval_for_those_in_the_workspace(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    dave_client: APIClient,
    bob_client: APIClient,
    charlie_client: APIClient,
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace)

    listed = dave_client.get("/api/approvals/?status=pending").json()
    assert listed["count"] == 1
    item = listed["results"][0]
    assert set(item) == APPROVAL_FIELDS
    assert item["id"] == str(approval.pk)
    assert item["run"] == str(run.pk)
    assert item["workflow"] == {"id": str(run.workflow_id), "name": "Gated"}
    assert (item["step"], item["node"], item["status"]) == ("gate", "gate", "pending")
    assert item["prompt"] == "Publish 'Draft on tides'?"
    assert item["data"] == "Draft on tides"
    assert item["approvals"] == 0 and item["decisions"] == []
    assert item["can_decide"] is True
    assert dave_client.get("/api/approvals/?mine=1").json()["count"] == 1
    assert dave_client.get("/api/approvals/?status=approved").json()["count"] == 0
    assert dave_client.get(f"/api/approvals/{approval.pk}/").json() == item
    assert dave_client.get(f"/api/approvals/?run={run.pk}").json()["count"] == 1
    assert dave_client.get(f"/api/approvals/?run={approval.workspace_id:032x}").json()["count"] == 0

    # bob is an editor: he sees it (same workspace) but may not decide it.
    bob_item = bob_client.get("/api/approvals/?status=pending").json()["results"][0]
    assert bob_item["can_decide"] is False
    assert bob_client.get("/api/approvals/?mine=1").json()["count"] == 0
    # The owner may always decide.
    assert alice_client.get("/api/approvals/?mine=1").json()["count"] == 1
    # An outsider sees nothing.
    assert charlie_client.get("/api/approvals/").json()["count"] == 0
    assert error_of(charlie_client.get(f"/api/approvals/{approval.pk}/"), 404)
    error_of(decide(charlie_client, approval, "approve"), 404)


def test_it_refuses_bad_list_filters_and_anonymous_callers(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, anon_client: APIClient
) -> None:
    _, approval = gated_run(alice_client, alice, alice_workspace)
    error = error_of(alice_client.get("/api/approvals/?status=sleeping"), 400)
    assert "status" in error["fields"]
    assert "run" in error_of(alice_client.get("/api/approvals/?run=nope"), 400)["fields"]
    for response in (
        anon_client.get("/api/approvals/"),
        anon_client.get(f"/api/approvals/{approval.pk}/"),
        decide(anon_client, approval, "approve"),
    ):
        assert error_of(response, 401)["code"] == "not_authenticated"
    error_of(alice_client.get("/api/approvals/not-a-number/"), 404)
    error_of(decide(alice_client, approval, "maybe"), 400)


def test_it_forbids_a_member_without_the_role(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, bob_client: APIClient
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace)
    error = error_of(decide(bob_client, approval, "approve"), 403)
    assert error["code"] == "forbidden"
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert not Decision.objects.exists()
    assert Step.objects.get(run=run, key="gate").status == "waiting"


def test_it_lets_a_named_approver_decide_without_the_role(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, bob_client: APIClient
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace, approvers=["bob"], role=None)
    assert decide(bob_client, approval, "approve").status_code == 200
    assert drive(run).status == "succeeded"


# -- deciding --------------------------------------------------------------------------------------


def test_it_continues_down_approved_when_an_approver_approves(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave_client: APIClient
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace)

    response = decide(dave_client, approval, "approve", comment="ship it")
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["status"] == "approved" and body["decided_at"] is not None
    assert body["approvals"] == 1
    assert body["can_decide"] is False
    assert [(d["user"], d["decision"], d["comment"]) for d in body["decisions"]] == [
        ("dave", "approve", "ship it")
    ]
    gate = Step.objects.get(run=run, key="gate")
    assert gate.status == "queued"  # resumed in the decision's transaction
    assert gate.resume == {
        "answer": {"decision": "approve", "decided_by": ["dave"], "comment": "ship it"}
    }
    resumed = [e for e in event_log(run) if e["type"] == "step.resumed"]
    assert resumed[0]["data"]["approval"] == {
        "id": str(approval.pk),
        "status": "approved",
        "decided_by": ["dave"],
    }

    run = drive(run)
    assert run.status == "succeeded"
    assert run.output == {"output_a": "published: Draft on tides"}
    assert steps_of(run)["gate"] == ("succeeded", "approved")
    assert steps_of(run)["output_b"] == ("skipped", None)
    # Resuming after the decision is the gate's next round, not a second attempt.
    gate_starts = [
        (e["data"]["round"], e["data"]["attempt"])
        for e in event_log(run)
        if e["type"] == "step.started" and e["step"] == "gate"
    ]
    assert gate_starts == [(0, 1), (1, 1)]


def test_it_passes_on_the_data_an_approver_edited(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave_client: APIClient
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace, editable=True)
    response = decide(dave_client, approval, "approve", output="A better draft")
    assert response.status_code == 200, response.content
    run = drive(run)
    assert run.output == {"output_a": "published: A better draft"}
    assert Step.objects.get(run=run, key="gate").output == "A better draft"
    assert Decision.objects.get().output == "A better draft"


def test_it_refuses_an_edit_the_gate_does_not_allow(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave: User
) -> None:
    _, approval = gated_run(alice_client, alice, alice_workspace, editable=False)
    error = error_of(decide(client_of(dave), approval, "approve", output={"x": 1}), 400)
    assert "output" in error["fields"]
    approval.refresh_from_db()
    assert approval.status == "pending" and not Decision.objects.exists()


def test_it_refuses_an_edit_that_is_not_json(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave: User
) -> None:
    _, approval = gated_run(alice_client, alice, alice_workspace, editable=True)
    with pytest.raises(OperationError) as refused:
        approvals.decide_approval(approval.pk, dave, "approve", "", {"x": float("nan")})
    assert refused.value.status == 400
    assert not Decision.objects.exists()


def test_it_takes_the_rejected_branch_when_someone_rejects(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave_client: APIClient
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace, quorum=2)
    response = decide(dave_client, approval, "reject", comment="not yet")
    assert response.json()["status"] == "rejected"
    run = drive(run)
    assert run.status == "succeeded"
    assert run.output == {"output_b": "binned: Draft on tides"}
    assert steps_of(run)["gate"] == ("succeeded", "rejected")
    assert steps_of(run)["output_a"] == ("skipped", None)


def test_it_refuses_a_decision_once_the_approval_is_decided(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    dave_client: APIClient,
    erin_client: APIClient,
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace)
    assert decide(dave_client, approval, "approve").status_code == 200
    assert error_of(decide(erin_client, approval, "reject"), 409)["code"] == "conflict"
    assert error_of(decide(dave_client, approval, "approve"), 409)["code"] == "conflict"
    assert Decision.objects.count() == 1
    run = drive(run)
    assert run.output == {"output_a": "published: Draft on tides"}
    error_of(decide(erin_client, approval, "approve"), 409)  # and after the run ended


def test_it_needs_a_quorum_of_different_people(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    dave_client: APIClient,
    erin_client: APIClient,
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace, quorum=2)

    first = decide(dave_client, approval, "approve").json()
    assert (first["status"], first["approvals"], first["quorum"]) == ("pending", 1, 2)
    assert first["can_decide"] is False  # dave has had his say
    assert Step.objects.get(run=run, key="gate").status == "waiting"
    assert Run.objects.get(pk=run.pk).status == "waiting"
    assert dave_client.get("/api/approvals/?mine=1").json()["count"] == 0
    assert erin_client.get("/api/approvals/?mine=1").json()["count"] == 1

    assert error_of(decide(dave_client, approval, "approve"), 409)["code"] == "conflict"
    assert Decision.objects.count() == 1

    second = decide(erin_client, approval, "approve").json()
    assert (second["status"], second["approvals"]) == ("approved", 2)
    assert [d["user"] for d in second["decisions"]] == ["dave", "erin"]
    gate = Step.objects.get(run=run, key="gate")
    assert gate.resume["answer"]["decided_by"] == ["dave", "erin"]
    assert drive(run).status == "succeeded"


# -- deadlines and the end of a run ---------------------------------------------------------------


def pass_deadline(approval: Approval) -> None:
    Approval.objects.filter(pk=approval.pk).update(deadline=timezone.now() - timedelta(seconds=1))


def test_it_rejects_when_the_deadline_passes(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave_client: APIClient
) -> None:
    before = timezone.now()
    run, approval = gated_run(
        alice_client, alice, alice_workspace, deadline_seconds=3600, on_deadline="reject"
    )
    assert approval.deadline is not None
    assert approval.deadline >= before + timedelta(seconds=3599)
    assert tasks.sweep() == 0  # not due yet

    pass_deadline(approval)
    assert tasks.sweep() == 1
    approval.refresh_from_db()
    assert approval.status == "rejected" and approval.decided_at is not None
    gate = Step.objects.get(run=run, key="gate")
    assert gate.resume["answer"] == {"decision": "reject", "decided_by": [], "reason": "deadline"}
    assert error_of(decide(dave_client, approval, "approve"), 409)
    run = drive(run)
    assert run.output == {"output_b": "binned: Draft on tides"}
    assert tasks.sweep() == 0


def test_it_approves_when_the_deadline_passes_if_told_to(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    run, approval = gated_run(
        alice_client, alice, alice_workspace, deadline_seconds=60, on_deadline="approve"
    )
    pass_deadline(approval)
    assert approvals.expire_due() == [approval.pk]
    assert drive(run).output == {"output_a": "published: Draft on tides"}


def test_it_escalates_to_another_role_when_the_deadline_passes(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    bob_client: APIClient,
) -> None:
    run, approval = gated_run(
        alice_client,
        alice,
        alice_workspace,
        deadline_seconds=60,
        on_deadline="escalate",
        escalate_to_role="editor",
    )
    error_of(decide(bob_client, approval, "approve"), 403)  # bob is an editor

    pass_deadline(approval)
    assert approvals.expire_due() == [approval.pk]
    approval.refresh_from_db()
    assert approval.status == "pending"
    assert (approval.role, approval.escalated) == ("editor", True)
    assert approval.deadline is not None and approval.deadline > timezone.now()
    assert bob_client.get("/api/approvals/?mine=1").json()["count"] == 1

    # Escalated once; if the new deadline passes too, the approval expires (rejected branch).
    pass_deadline(approval)
    assert approvals.expire_due() == [approval.pk]
    approval.refresh_from_db()
    assert approval.status == "expired"
    assert drive(run).output == {"output_b": "binned: Draft on tides"}


def test_it_expires_the_approval_of_a_cancelled_run(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave: User
) -> None:
    run, approval = gated_run(alice_client, alice, alice_workspace)
    assert alice_client.post(f"/api/runs/{run.pk}/cancel/").status_code == 202
    approval.refresh_from_db()
    assert approval.status == "expired"
    with pytest.raises(Conflict):
        approvals.decide_approval(approval.pk, dave, "approve")
    assert client_of(dave).get("/api/approvals/?mine=1").json()["count"] == 0


def test_it_keeps_the_rest_of_a_run_going_while_a_gate_waits(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, dave_client: APIClient
) -> None:
    graph = gated_graph()
    graph["nodes"].append(node("side", "transform", template="side {{ input.topic }}"))
    graph["nodes"].append(node("side_out", "output", value="{{ upstream }}"))
    graph["edges"] += [edge("brief", "side"), edge("side", "side_out")]
    workflow: Workflow = make_workflow(alice, alice_workspace, graph, name="Two ways")
    run = drive(started_run(alice_client, workflow, {"topic": "tides"}))
    assert run.status == "waiting"
    assert steps_of(run)["side_out"] == ("succeeded", "out")
    decide(dave_client, Approval.objects.get(run=run), "approve")
    run = drive(run)
    assert run.status == "succeeded"
    assert run.output == {"output_a": "published: Draft on tides", "side_out": "side tides"}
