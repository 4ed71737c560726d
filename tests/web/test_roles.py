"""Every role on every endpoint that changes something: a table, checked call by call.

Members may always look; ``edit`` (owner, editor) changes workflows, prices and webhooks; ``run``
(owner, editor, runner) starts and cancels runs; only owners manage the workspace's people. A
refusal is a 403 in the error shape, and nothing changes. Deciding approvals has its own rules
(tests/orchestrator/test_approvals.py).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from editor.models import Invitation, Membership, WebhookTrigger, Workflow, Workspace
from orchestrator import runs
from orchestrator.models import Run

ROLES = ["owner", "editor", "runner", "approver", "viewer"]
EDIT = {"owner", "editor"}
RUN = {"owner", "editor", "runner"}
OWNER = {"owner"}


@pytest.fixture
def member(alice_workspace: Workspace) -> Callable[[str], APIClient]:
    def make(role: str) -> APIClient:
        user = User.objects.create_user(f"m-{role}", f"{role}@example.org", "pw")
        Membership.objects.create(user=user, workspace=alice_workspace, role=role)
        client = APIClient()
        client.force_login(user)
        return client

    return make


def _run(alice: User, workflow: Workflow) -> Run:
    return runs.start_run(workflow, {"topic": "owls"}, actor=alice, via="session")


def _credential_url(workspace: Workspace) -> str:
    """A credential of the workspace to change or delete."""
    from editor.credentials import create_credential

    create_credential(
        workspace=workspace, user=None, name="key", kind="openai", value="sk-0123456789abcdef"
    )
    return f"/api/workspaces/{workspace.pk}/credentials/key/"


def _setup(ws: Workspace, wf: Workflow) -> None:
    """What the people and webhook calls act on: another member, an invitation, a trigger."""
    user = User.objects.create_user("target", "target@example.org", "pw")
    Membership.objects.create(user=user, workspace=ws, role="viewer")
    Invitation.objects.create(
        workspace=ws,
        email="x@example.org",
        role="viewer",
        secret_hash="f" * 64,
        expires_at=timezone.now() + timedelta(days=1),
    )
    WebhookTrigger.objects.create(workflow=wf, prefix="whk_x", secret_hash="e" * 64)


def _target() -> int:
    return User.objects.get(username="target").pk


def _pending(ws: Workspace) -> Any:
    return Invitation.objects.get(workspace=ws).pk


def _people_and_triggers() -> list[Any]:
    """What the members, invitations and webhook calls change, to check a refusal changed none."""
    return [
        sorted(Membership.objects.values_list("user_id", "workspace_id", "role")),
        sorted(Invitation.objects.values_list("id", flat=True)),
        sorted(WebhookTrigger.objects.values_list("id", "enabled", "secret_hash")),
        sorted(Workspace.objects.values_list("id", "name")),
    ]


CALLS: dict[str, tuple[str, Callable[..., Any], set[str], int]] = {
    # name: (needed, call(client, workflow, workspace, run), allowed roles, success status)
    "read workflow": (
        "view",
        lambda c, wf, ws, run: c.get(f"/api/workflows/{wf.pk}/"),
        set(ROLES),
        200,
    ),
    "read run": ("view", lambda c, wf, ws, run: c.get(f"/api/runs/{run.pk}/"), set(ROLES), 200),
    "save a version": (
        "edit",
        lambda c, wf, ws, run: c.put(
            f"/api/workflows/{wf.pk}/",
            {"graph": wf.current_version.graph},
            format="json",
        ),
        EDIT,
        200,
    ),
    "rename": (
        "edit",
        lambda c, wf, ws, run: c.patch(f"/api/workflows/{wf.pk}/", {"name": "X"}, format="json"),
        EDIT,
        200,
    ),
    "restore": (
        "edit",
        lambda c, wf, ws, run: c.post(f"/api/workflows/{wf.pk}/versions/1/restore/"),
        EDIT,
        200,
    ),
    "duplicate": (
        "edit",
        lambda c, wf, ws, run: c.post(f"/api/workflows/{wf.pk}/duplicate/", {}, format="json"),
        EDIT,
        201,
    ),
    "create in the workspace": (
        "edit",
        lambda c, wf, ws, run: c.post(
            "/api/workflows/", {"name": "New", "workspace": ws.pk}, format="json"
        ),
        EDIT,
        201,
    ),
    "import into the workspace": (
        "edit",
        lambda c, wf, ws, run: c.post(
            "/api/workflows/import/",
            {"name": "Imported", "graph": wf.current_version.graph, "workspace": ws.pk},
            format="json",
        ),
        EDIT,
        201,
    ),
    "example into the workspace": (
        "edit",
        lambda c, wf, ws, run: c.post(
            "/api/examples/research/import/", {"workspace": ws.pk}, format="json"
        ),
        EDIT,
        201,
    ),
    "set a price": (
        "edit",
        lambda c, wf, ws, run: c.post(
            f"/api/models/?workspace={ws.pk}",
            {"model": "openai/x", "input_price": 1, "output_price": 2},
            format="json",
        ),
        EDIT,
        200,
    ),
    "delete": ("edit", lambda c, wf, ws, run: c.delete(f"/api/workflows/{wf.pk}/"), EDIT, 204),
    "start a run": (
        "run",
        lambda c, wf, ws, run: c.post(
            f"/api/workflows/{wf.pk}/runs/", {"input": {"topic": "x"}}, format="json"
        ),
        RUN,
        201,
    ),
    "cancel a run": ("run", lambda c, wf, ws, run: c.post(f"/api/runs/{run.pk}/cancel/"), RUN, 202),
    "list credentials": (
        "view",
        lambda c, wf, ws, run: c.get(f"/api/workspaces/{ws.pk}/credentials/"),
        set(ROLES),
        200,
    ),
    "add a credential": (
        "edit",
        lambda c, wf, ws, run: c.post(
            f"/api/workspaces/{ws.pk}/credentials/",
            {"name": "new-key", "kind": "openai", "value": "sk-0123456789abcdef"},
            format="json",
        ),
        EDIT,
        201,
    ),
    "replace a credential": (
        "edit",
        lambda c, wf, ws, run: c.put(_credential_url(ws), {"value": "sk-new"}, format="json"),
        EDIT,
        200,
    ),
    "rename a credential": (
        "edit",
        lambda c, wf, ws, run: c.patch(_credential_url(ws), {"name": "renamed"}, format="json"),
        EDIT,
        200,
    ),
    "delete a credential": (
        "edit",
        lambda c, wf, ws, run: c.delete(_credential_url(ws)),
        EDIT,
        204,
    ),
    # -- workspaces, members, invitations (owners manage people; everyone sees who is in) --
    "list members": (
        "view",
        lambda c, wf, ws, run: c.get(f"/api/workspaces/{ws.pk}/members/"),
        set(ROLES),
        200,
    ),
    "rename the workspace": (
        "owner",
        lambda c, wf, ws, run: c.patch(f"/api/workspaces/{ws.pk}/", {"name": "Y"}, format="json"),
        OWNER,
        200,
    ),
    "change a member's role": (
        "owner",
        lambda c, wf, ws, run: c.patch(
            f"/api/workspaces/{ws.pk}/members/{_target()}/", {"role": "runner"}, format="json"
        ),
        OWNER,
        200,
    ),
    "remove a member": (
        "owner",
        lambda c, wf, ws, run: c.delete(f"/api/workspaces/{ws.pk}/members/{_target()}/"),
        OWNER,
        204,
    ),
    "invite someone": (
        "owner",
        lambda c, wf, ws, run: c.post(
            f"/api/workspaces/{ws.pk}/invitations/",
            {"email": "new@example.org", "role": "viewer"},
            format="json",
        ),
        OWNER,
        201,
    ),
    "list invitations": (
        "owner",
        lambda c, wf, ws, run: c.get(f"/api/workspaces/{ws.pk}/invitations/"),
        OWNER,
        200,
    ),
    "revoke an invitation": (
        "owner",
        lambda c, wf, ws, run: c.delete(f"/api/workspaces/{ws.pk}/invitations/{_pending(ws)}/"),
        OWNER,
        204,
    ),
    # -- the audit log (owners only; tests/web/test_audit.py checks what it holds) --
    "read the audit log": (
        "owner",
        lambda c, wf, ws, run: c.get(f"/api/workspaces/{ws.pk}/audit/"),
        OWNER,
        200,
    ),
    # -- the workflow's webhook trigger (edit role; every member may see that there is one) --
    "read the webhook": (
        "view",
        lambda c, wf, ws, run: c.get(f"/api/workflows/{wf.pk}/webhook/"),
        set(ROLES),
        200,
    ),
    "make or rotate the webhook": (
        "edit",
        lambda c, wf, ws, run: c.post(f"/api/workflows/{wf.pk}/webhook/", {}, format="json"),
        EDIT,
        201,
    ),
    "change the webhook": (
        "edit",
        lambda c, wf, ws, run: c.patch(
            f"/api/workflows/{wf.pk}/webhook/", {"enabled": False}, format="json"
        ),
        EDIT,
        200,
    ),
    "delete the webhook": (
        "edit",
        lambda c, wf, ws, run: c.delete(f"/api/workflows/{wf.pk}/webhook/"),
        EDIT,
        204,
    ),
}


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("call", sorted(CALLS))
def test_it_lets_each_role_do_what_it_may_and_nothing_else(
    call: str,
    role: str,
    member: Callable[[str], APIClient],
    alice: User,
    alice_workspace: Workspace,
    workflow: Workflow,
) -> None:
    _needed, do, allowed, success = CALLS[call]
    run = _run(alice, workflow)
    versions_before = workflow.versions.count()
    runs_before = Run.objects.count()
    client = member(role)
    _setup(alice_workspace, workflow)
    people_before = _people_and_triggers()
    response = do(client, workflow, alice_workspace, run)
    if role in allowed:
        assert response.status_code == success, (call, role, response.content)
        return
    assert response.status_code == 403, (call, role, response.content)
    error = response.json()["error"]
    assert error["code"] == "forbidden"
    assert role in error["message"]
    # Refused means nothing changed.
    assert Workflow.objects.filter(pk=workflow.pk).exists()
    assert workflow.versions.count() == versions_before
    assert Run.objects.count() == runs_before
    run.refresh_from_db()
    assert run.status != "cancelled"
    assert _people_and_triggers() == people_before


@pytest.mark.parametrize("role", ROLES)
def test_a_workflow_says_what_your_role_may_do_with_it(
    role: str, member: Callable[[str], APIClient], workflow: Workflow
) -> None:
    """The editor greys out Save and Run from this; it must match the table above."""
    client = member(role)
    expected = {"edit": role in EDIT, "run": role in RUN}
    assert client.get(f"/api/workflows/{workflow.pk}/").json()["can"] == expected
    listed = client.get("/api/workflows/").json()["results"]
    assert [w["can"] for w in listed if w["id"] == str(workflow.pk)] == [expected]
