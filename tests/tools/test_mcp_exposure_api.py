"""/api/workspaces/<id>/mcp/ and …/mcp/workflows/<workflow id>/: which workflows a workspace
serves over MCP, the tool each one is, who may choose, and the audit entries."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import AuditEntry, Membership, Role, Workflow, Workspace
from tests.orchestrator.conftest import chain, make_workflow, node

pytestmark = pytest.mark.django_db

FIELDS = {
    "type": "object",
    "properties": {"topic": {"type": "string"}, "depth": {"type": "integer", "default": 1}},
    "required": ["topic"],
}


def endpoint(workspace: Workspace) -> str:
    return f"/api/workspaces/{workspace.pk}/mcp/"


def exposure(workspace: Workspace, workflow: Workflow | str) -> str:
    workflow_id = workflow.pk if isinstance(workflow, Workflow) else workflow
    return f"{endpoint(workspace)}workflows/{workflow_id}/"


def expose(client: APIClient, workspace: Workspace, workflow: Workflow, on: Any = True) -> Any:
    return client.put(exposure(workspace, workflow), {"exposed": on}, format="json")


def flow(alice: User, workspace: Workspace, name: str, **input_config: Any) -> Workflow:
    graph = chain(node("in", "input", **input_config), node("out", "output"))
    return make_workflow(alice, workspace, graph, name=name)


def test_every_workflow_is_listed_with_its_tool_and_none_is_served_until_chosen(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    brief = flow(alice, alice_workspace, "Brief writer (v2)", fields=FIELDS)
    brief.description = "Writes a brief."
    brief.save(update_fields=["description"])
    flow(alice, alice_workspace, "brief writer v2")  # same tool name: gets a suffix
    response = alice_client.get(endpoint(alice_workspace))
    assert response.status_code == 200
    body = response.json()
    assert body["url"] == f"http://testserver/mcp/{alice_workspace.pk}/"
    assert "Bearer" in body["auth"]
    tools = body["tools"]
    assert [t["name"] for t in tools] == ["brief_writer_v2", "brief_writer_v2_2"]
    assert [t["exposed"] for t in tools] == [False, False]
    first = tools[0]
    assert first["workflow_id"] == str(brief.pk) and first["workflow_name"] == "Brief writer (v2)"
    assert first["description"] == "Writes a brief."
    assert first["input_schema"] == FIELDS
    assert first["problem"] is None
    # No input fields: any object; no description: one that says what it does.
    assert tools[1]["input_schema"] == {"type": "object", "properties": {}}
    assert "brief writer v2" in tools[1]["description"]


def test_an_editor_turns_serving_on_and_off_and_each_change_is_audited_once(
    alice: User,
    bob: User,
    bob_client: APIClient,
    alice_workspace: Workspace,
) -> None:
    brief = flow(alice, alice_workspace, "Brief", fields=FIELDS)
    updated = Workflow.objects.get(pk=brief.pk).updated_at
    on = expose(bob_client, alice_workspace, brief)
    assert on.status_code == 200, on.content
    assert on.json()["exposed"] is True and on.json()["name"] == "brief"
    assert expose(bob_client, alice_workspace, brief).status_code == 200  # already on: no entry
    stored = Workflow.objects.get(pk=brief.pk)
    assert stored.mcp_exposed is True
    assert stored.updated_at == updated  # serving it is not an edit of the workflow
    entries = AuditEntry.objects.filter(action="workflow.mcp_exposed")
    assert [(e.actor_label, e.via, e.target_id) for e in entries] == [
        ("bob", "session", str(brief.pk))
    ]
    off = expose(bob_client, alice_workspace, brief, on=False)
    assert off.status_code == 200 and off.json()["exposed"] is False
    assert AuditEntry.objects.filter(action="workflow.mcp_hidden").count() == 1


@pytest.mark.parametrize("role", [Role.RUNNER, Role.VIEWER])
def test_a_role_that_may_not_edit_may_look_but_not_choose(
    role: str,
    alice: User,
    charlie: User,
    charlie_client: APIClient,
    alice_workspace: Workspace,
) -> None:
    Membership.objects.create(user=charlie, workspace=alice_workspace, role=role)
    brief = flow(alice, alice_workspace, "Brief")
    assert charlie_client.get(endpoint(alice_workspace)).status_code == 200
    refused = expose(charlie_client, alice_workspace, brief)
    assert refused.status_code == 403
    assert "change workflows" in refused.json()["error"]["message"]
    assert Workflow.objects.get(pk=brief.pk).mcp_exposed is False
    assert not AuditEntry.objects.filter(action="workflow.mcp_exposed").exists()


def test_outsiders_and_other_workspaces_workflows_are_not_found(
    alice: User,
    alice_workspace: Workspace,
    charlie: User,
    charlie_client: APIClient,
    alice_client: APIClient,
) -> None:
    brief = flow(alice, alice_workspace, "Brief")
    assert charlie_client.get(endpoint(alice_workspace)).status_code == 404
    assert expose(charlie_client, alice_workspace, brief).status_code == 404
    # Alice's workflow under charlie's workspace URL (hers to see, not that workspace's).
    from editor.operations import ensure_personal_workspace

    theirs = ensure_personal_workspace(charlie)
    Membership.objects.create(user=alice, workspace=theirs, role=Role.EDITOR)
    assert expose(alice_client, theirs, brief).status_code == 404
    missing = "00000000-0000-0000-0000-000000000000"
    assert (
        alice_client.put(
            exposure(alice_workspace, missing), {"exposed": True}, format="json"
        ).status_code
        == 404
    )
    assert Workflow.objects.get(pk=brief.pk).mcp_exposed is False


@pytest.mark.parametrize("body", [{}, {"exposed": "yes"}, {"exposed": 1}, {"exposed": None}])
def test_anything_but_a_boolean_is_refused_by_field(
    body: dict[str, Any], alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    brief = flow(alice, alice_workspace, "Brief")
    response = alice_client.put(exposure(alice_workspace, brief), body, format="json")
    assert response.status_code == 400
    assert "exposed" in response.json()["error"]["fields"]
    assert Workflow.objects.get(pk=brief.pk).mcp_exposed is False


def test_a_workflow_without_a_runnable_version_says_why(
    alice: User, alice_client: APIClient, alice_workspace: Workspace
) -> None:
    graph = chain(node("in", "input"), node("gate", "approval"), node("out", "output"))
    broken = make_workflow(alice, alice_workspace, graph, name="Draft")  # no handle "out"
    expose(alice_client, alice_workspace, broken)
    (tool,) = alice_client.get(endpoint(alice_workspace)).json()["tools"]
    assert tool["exposed"] is True
    assert "problems" in tool["problem"]
