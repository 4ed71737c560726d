"""The audit log: every action through the API leaves one entry (actor, target, via), and
``GET /api/workspaces/<id>/audit/`` shows a workspace's entries to its owners only."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import AuditEntry, Membership, Role, Workflow, Workspace
from editor.tokens import issue_token
from orchestrator.models import Approval, Run
from tests.orchestrator.conftest import drive, edge, node
from tests.web.conftest import VALID_GRAPH

pytestmark = pytest.mark.django_db


def audit_url(workspace: Workspace, **query: Any) -> str:
    params = "&".join(f"{k}={v}" for k, v in query.items())
    return f"/api/workspaces/{workspace.pk}/audit/" + (f"?{params}" if params else "")


def last(action: str) -> AuditEntry:
    found = AuditEntry.objects.filter(action=action).order_by("-id").first()
    assert found is not None, f"no {action} entry"
    return found


def assert_entry(
    action: str,
    *,
    actor: str,
    workspace: Workspace,
    target_type: str,
    target_id: Any,
    via: str = "session",
) -> AuditEntry:
    entry = last(action)
    assert entry.actor_label == actor
    assert entry.workspace_id == workspace.pk
    assert (entry.target_type, entry.target_id) == (target_type, str(target_id))
    assert entry.via == via
    return entry


def token_client(user: User) -> APIClient:
    _token, secret = issue_token(user, "script")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


# -- what is recorded -----------------------------------------------------------------------------


def test_workflow_actions_are_recorded_with_actor_target_and_via(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    created = alice_client.post(
        "/api/workflows/", {"name": "Flow", "graph": VALID_GRAPH}, format="json"
    ).json()
    wf_id = created["id"]
    assert_entry(
        "workflow.created",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=wf_id,
    )
    assert last("workflow.created").target_label == "Flow"

    alice_client.patch(f"/api/workflows/{wf_id}/", {"name": "Renamed"}, format="json")
    renamed = assert_entry(
        "workflow.renamed",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=wf_id,
    )
    assert renamed.detail == {"old_name": "Flow", "name": "Renamed"}

    saved = alice_client.put(f"/api/workflows/{wf_id}/", {"graph": VALID_GRAPH}, format="json")
    assert saved.status_code == 200
    entry = assert_entry(
        "workflow.saved",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=wf_id,
    )
    assert entry.detail == {"version": saved.json()["version"]}

    restored = alice_client.post(f"/api/workflows/{wf_id}/versions/1/restore/")
    assert restored.status_code == 200
    assert last("workflow.saved").detail["restored_from"] == 1

    copy = alice_client.post(f"/api/workflows/{wf_id}/duplicate/", {}, format="json").json()
    duplicated = assert_entry(
        "workflow.duplicated",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=copy["id"],
    )
    assert duplicated.detail == {"source": wf_id}

    imported = alice_client.post(
        "/api/workflows/import/", {"name": "In", "graph": VALID_GRAPH}, format="json"
    ).json()
    assert_entry(
        "workflow.imported",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=imported["id"],
    )

    example = alice_client.post("/api/examples/research/import/", {}, format="json").json()
    entry = assert_entry(
        "workflow.imported",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=example["id"],
    )
    assert entry.detail == {"example": "research"}

    assert alice_client.delete(f"/api/workflows/{wf_id}/").status_code == 204
    deleted = assert_entry(
        "workflow.deleted",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=wf_id,
    )
    assert deleted.target_label == "Renamed"  # kept although the workflow is gone
    assert not Workflow.objects.filter(pk=wf_id).exists()


def test_the_sub_flows_an_example_brings_are_recorded_too(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    imported = alice_client.post("/api/examples/checked-article/import/", {}, format="json")
    assert imported.status_code == 201, imported.content
    entries = AuditEntry.objects.filter(action="workflow.imported", workspace=alice_workspace)
    main = entries.get(target_id=imported.json()["id"])
    assert main.detail == {"example": "checked-article"}
    (copy,) = entries.exclude(pk=main.pk)
    assert copy.detail == {"example": "fact-check", "subflow_of": imported.json()["id"]}
    assert Workflow.objects.filter(pk=copy.target_id, workspace=alice_workspace).exists()


def test_a_token_request_is_recorded_as_via_token(alice: User, alice_workspace: Workspace) -> None:
    response = token_client(alice).post(
        "/api/workflows/", {"name": "Scripted", "graph": VALID_GRAPH}, format="json"
    )
    assert response.status_code == 201
    assert_entry(
        "workflow.created",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=response.json()["id"],
        via="token",
    )


def test_runs_started_and_cancelled_are_recorded(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, workflow: Workflow
) -> None:
    started = alice_client.post(
        f"/api/workflows/{workflow.pk}/runs/", {"input": {"topic": "x"}}, format="json"
    )
    assert started.status_code == 201
    run_id = started.json()["id"]
    entry = assert_entry(
        "run.started",
        actor="alice",
        workspace=alice_workspace,
        target_type="run",
        target_id=run_id,
    )
    assert entry.detail == {"workflow": str(workflow.pk)}
    assert entry.target_label.startswith(workflow.name)

    # A run still going, started by a script, cancelled by the script.
    scripted = token_client(alice)
    gated = _gated_workflow(alice, alice_workspace)
    running = scripted.post(f"/api/workflows/{gated.pk}/runs/", {"input": {}}, format="json")
    assert running.status_code == 201
    assert last("run.started").via == "token"
    cancelled = scripted.post(f"/api/runs/{running.json()['id']}/cancel/")
    assert cancelled.status_code == 202
    assert_entry(
        "run.cancelled",
        actor="alice",
        workspace=alice_workspace,
        target_type="run",
        target_id=running.json()["id"],
        via="token",
    )


def test_a_refused_action_leaves_no_entry(
    alice_client: APIClient, alice_workspace: Workspace, workflow: Workflow
) -> None:
    run = alice_client.post(
        f"/api/workflows/{workflow.pk}/runs/", {"input": {"topic": "x"}}, format="json"
    ).json()
    drive(run["id"])  # finished: cancelling it is a 409
    before = AuditEntry.objects.count()
    assert alice_client.post(f"/api/runs/{run['id']}/cancel/").status_code == 409
    assert AuditEntry.objects.count() == before


def _gated_workflow(owner: User, workspace: Workspace) -> Workflow:
    from editor import operations

    graph = {
        "nodes": [
            node("brief", "input"),
            node("gate", "approval", prompt="Go?"),
            node("done", "output"),
        ],
        "edges": [edge("brief", "gate"), edge("gate", "done", "approved")],
    }
    return operations.create_workflow(user=owner, workspace=workspace, name="Gated", graph=graph)


def test_an_approval_decision_is_recorded(alice: User, alice_workspace: Workspace) -> None:
    dave = User.objects.create_user("dave", "dave@example.org", "pw")
    Membership.objects.create(user=dave, workspace=alice_workspace, role=Role.APPROVER)
    gated = _gated_workflow(alice, alice_workspace)
    owner = APIClient()
    owner.force_login(alice)
    run = drive(
        owner.post(f"/api/workflows/{gated.pk}/runs/", {"input": {}}, format="json").json()["id"]
    )
    approval = Approval.objects.get(run=run)

    response = token_client(dave).post(
        f"/api/approvals/{approval.pk}/decide/", {"decision": "approve"}, format="json"
    )
    assert response.status_code == 200
    entry = assert_entry(
        "approval.decided",
        actor="dave",
        workspace=alice_workspace,
        target_type="approval",
        target_id=approval.pk,
        via="token",
    )
    assert entry.detail == {
        "decision": "approve",
        "edited": False,
        "status": "approved",
        "run": str(run.pk),
    }
    assert entry.target_label == "Gated: gate"


def test_model_prices_set_and_reset_are_recorded(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    url = f"/api/models/?workspace={alice_workspace.pk}"
    body = {"model": "openai/x", "input_price": 1.5, "output_price": 2}
    assert alice_client.post(url, body, format="json").status_code == 200
    entry = assert_entry(
        "model_price.set",
        actor="alice",
        workspace=alice_workspace,
        target_type="model",
        target_id="",
    )
    assert entry.target_label == "openai/x"
    assert entry.detail["input_price"] == 1.5

    reset_url = f"/api/models/reset/?workspace={alice_workspace.pk}"
    assert alice_client.post(reset_url, {"model": "openai/x"}, format="json").status_code == 200
    assert last("model_price.reset").target_label == "openai/x"


# -- where it is written: in the operation --------------------------------------------------------


def test_an_operation_records_its_own_entry_without_any_view(
    alice: User, alice_workspace: Workspace, workflow: Workflow
) -> None:
    # A management command or script calls the operation directly: the entry is the same one the
    # API would leave, with the caller's actor and via.
    from editor import operations

    operations.rename_workflow(workflow, user=alice, name="From a script", via="command")
    entry = assert_entry(
        "workflow.renamed",
        actor="alice",
        workspace=alice_workspace,
        target_type="workflow",
        target_id=workflow.pk,
        via="command",
    )
    assert entry.detail == {"old_name": "Research brief", "name": "From a script"}
    assert entry.target_label == "From a script"


def test_an_operation_that_is_refused_records_nothing(alice: User, workflow: Workflow) -> None:
    from editor import operations
    from editor.errors import VersionConflict

    graph = workflow.current_version.graph
    operations.save_workflow(workflow, user=alice, graph=graph)  # version 2
    before = AuditEntry.objects.count()
    with pytest.raises(VersionConflict):
        operations.save_workflow(workflow, user=alice, graph=graph, base_version=1)
    assert AuditEntry.objects.count() == before


# -- reading the log ------------------------------------------------------------------------------


@pytest.fixture
def some_history(alice_client: APIClient, bob_client: APIClient, workflow: Workflow) -> None:
    """alice renames, bob (an editor) saves, alice starts a run: three entries, in that order."""
    # The workflow fixture made its workflow through create_workflow, which recorded it; that is
    # set-up, not part of this story, so the log these tests read starts empty.
    AuditEntry.objects.filter(workspace=workflow.workspace_id).delete()
    alice_client.patch(f"/api/workflows/{workflow.pk}/", {"name": "A"}, format="json")
    bob_client.put(
        f"/api/workflows/{workflow.pk}/", {"graph": workflow.current_version.graph}, format="json"
    )
    alice_client.post(
        f"/api/workflows/{workflow.pk}/runs/", {"input": {"topic": "x"}}, format="json"
    )


def test_the_owner_reads_the_log_newest_first(
    alice_client: APIClient, alice_workspace: Workspace, some_history: None
) -> None:
    response = alice_client.get(audit_url(alice_workspace))
    assert response.status_code == 200
    page = response.json()
    actions = [(e["action"], e["actor"]) for e in page["results"]]
    assert actions == [
        ("run.started", "alice"),
        ("workflow.saved", "bob"),
        ("workflow.renamed", "alice"),
    ]
    first = page["results"][0]
    assert set(first) == {"id", "created_at", "actor", "via", "action", "target", "detail"}
    assert first["target"]["type"] == "run"
    assert first["via"] == "session"


def test_it_pages(alice_client: APIClient, alice_workspace: Workspace, some_history: None) -> None:
    first = alice_client.get(audit_url(alice_workspace, page_size=2)).json()
    assert first["count"] == 3
    assert len(first["results"]) == 2
    second = alice_client.get(first["next"]).json()
    assert [e["action"] for e in second["results"]] == ["workflow.renamed"]
    assert second["next"] is None


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ({"action": "workflow.saved"}, ["workflow.saved"]),
        ({"action": "workflow."}, ["workflow.saved", "workflow.renamed"]),
        ({"actor": "bob"}, ["workflow.saved"]),
        ({"target_type": "run"}, ["run.started"]),
        ({"since": "2000-01-01"}, ["run.started", "workflow.saved", "workflow.renamed"]),
        ({"since": "2999-01-01T00:00:00Z"}, []),
        ({"actor": "alice", "target_type": "workflow"}, ["workflow.renamed"]),
    ],
)
def test_it_filters(
    alice_client: APIClient,
    alice_workspace: Workspace,
    some_history: None,
    query: dict[str, str],
    expected: list[str],
) -> None:
    response = alice_client.get(audit_url(alice_workspace, **query))
    assert response.status_code == 200
    assert [e["action"] for e in response.json()["results"]] == expected


@pytest.mark.parametrize(
    "since",
    [
        "yesterday",
        "2026-13-01",  # well-formed, no such month
        "0001-01-01T00:00:00+15:00",  # before the first moment a date-time can hold, in UTC
    ],
)
def test_a_bad_since_is_a_400(
    alice_client: APIClient, alice_workspace: Workspace, since: str
) -> None:
    response = alice_client.get(audit_url(alice_workspace, since=since))
    assert response.status_code == 400
    assert "since" in response.json()["error"]["fields"]


def test_only_owners_read_it_and_outsiders_learn_nothing(
    bob_client: APIClient,
    charlie_client: APIClient,
    anon_client: APIClient,
    alice_workspace: Workspace,
    some_history: None,
) -> None:
    refused = bob_client.get(audit_url(alice_workspace))
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "forbidden"
    assert "owner" in refused.json()["error"]["message"]
    assert charlie_client.get(audit_url(alice_workspace)).status_code == 404
    assert anon_client.get(audit_url(alice_workspace)).status_code in (401, 403)


def test_another_workspaces_entries_are_not_listed(
    alice_client: APIClient,
    bob: User,
    bob_client: APIClient,
    alice_workspace: Workspace,
    some_history: None,
) -> None:
    # bob acts in his own workspace; alice's log must not show it, his must.
    from editor import operations

    bob_own = operations.ensure_personal_workspace(bob)
    created = bob_client.post(
        "/api/workflows/",
        {"name": "Bob's", "graph": VALID_GRAPH, "workspace": bob_own.pk},
        format="json",
    )
    assert created.status_code == 201
    alices = alice_client.get(audit_url(alice_workspace)).json()["results"]
    assert "workflow.created" not in [e["action"] for e in alices]
    bobs = bob_client.get(audit_url(bob_own)).json()["results"]
    assert [e["action"] for e in bobs] == ["workflow.created"]
    assert Run.objects.count() == 1


def test_a_since_with_an_offset_postgresql_cannot_store_is_read_in_utc(
    alice_client: APIClient, alice_workspace: Workspace, some_history: None
) -> None:
    # -19:38 is valid ISO 8601 text; PostgreSQL takes offsets up to ±15:59 only (it was a 500).
    response = alice_client.get(audit_url(alice_workspace, since="1542-11-23T07:04:57.46-19:38"))
    assert response.status_code == 200, response.content
    assert response.json()["count"] == len(response.json()["results"]) > 0
