"""Published versions: owners and editors publish a saved version (optionally named); API calls
that name no version, webhooks and the MCP endpoint run it, while the editor's Run asks for the
latest; publishing an older version rolls callers back, unpublishing lets them run the latest
again. Each version says what it is (published, draft, invalid, empty). Runs stay queued: no
worker is needed to see which version a start pinned."""

from __future__ import annotations

import asyncio
import copy
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.core.management import CommandError, call_command
from rest_framework.test import APIClient

from editor import operations
from editor.mcp_exposure import served_tools
from editor.models import AuditEntry, Membership, Role, Workflow, Workspace
from orchestrator.models import Run
from orchestrator.workspace_flows import WorkspaceFlows
from tests.web.conftest import PASSWORD

pytestmark = pytest.mark.django_db


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    return dict(response.json()["error"])


def save(client: APIClient, workflow: Workflow, graph: dict[str, Any], note: str = "") -> int:
    response = client.put(
        f"/api/workflows/{workflow.pk}/", {"graph": graph, "note": note}, format="json"
    )
    assert response.status_code == 200, response.content
    return int(response.json()["version"])


def publish(client: APIClient, workflow: Workflow, number: int, **body: Any) -> Any:
    return client.post(
        f"/api/workflows/{workflow.pk}/versions/{number}/publish/", body, format="json"
    )


def start(client: APIClient, workflow: Workflow, **body: Any) -> Run:
    response = client.post(
        f"/api/workflows/{workflow.pk}/runs/", {"input": {"topic": "owls"}, **body}, format="json"
    )
    assert response.status_code == 201, response.content
    return Run.objects.select_related("version").get(pk=response.json()["id"])


def states(client: APIClient, workflow: Workflow) -> dict[int, tuple[str, str]]:
    response = client.get(f"/api/workflows/{workflow.pk}/versions/")
    assert response.status_code == 200
    return {v["number"]: (v["state"], v["name"]) for v in response.json()["results"]}


def with_second_input_field(graph: dict[str, Any]) -> dict[str, Any]:
    """The graph with a changed transform: another version of the same flow."""
    changed = copy.deepcopy(graph)
    changed["nodes"][1]["config"]["template"] = "Changed: {{ input.topic }}"
    return changed


@pytest.fixture
def viewer(alice_workspace: Workspace) -> User:
    user = User.objects.create_user("vera", "vera@example.org", PASSWORD)
    Membership.objects.create(user=user, workspace=alice_workspace, role=Role.VIEWER)
    return user


@pytest.fixture
def viewer_client(viewer: User) -> APIClient:
    client = APIClient()
    client.force_login(viewer)
    return client


def test_it_publishes_a_named_version_that_api_calls_run_while_the_editor_runs_the_latest(
    alice: User, alice_client: APIClient, workflow: Workflow, valid_graph: dict[str, Any]
) -> None:
    response = publish(alice_client, workflow, 1, name="  v1 – first cut ")
    assert response.status_code == 200, response.content
    published = response.json()["published"]
    assert published["number"] == 1 and published["name"] == "v1 – first cut"
    assert published["published_by"] == "alice" and published["published_at"]
    entry = AuditEntry.objects.get(action="workflow.published")
    assert entry.detail == {"version": 1, "name": "v1 – first cut", "previous": None}

    assert save(alice_client, workflow, with_second_input_field(valid_graph)) == 2
    assert start(alice_client, workflow).version.number == 1  # names no version: the published
    assert start(alice_client, workflow, version="published").version.number == 1
    assert start(alice_client, workflow, version="latest").version.number == 2  # the editor's Run
    assert start(alice_client, workflow, version=2).version.number == 2
    assert states(alice_client, workflow) == {
        2: ("draft", ""),
        1: ("published", "v1 – first cut"),
    }
    # the workflow says what is published, in the list and alone
    listed = alice_client.get("/api/workflows/").json()["results"][0]
    assert listed["published"]["number"] == 1 and listed["version"] == 2
    assert alice_client.get(f"/api/workflows/{workflow.pk}/").json()["published"]["number"] == 1


def test_publishing_an_older_version_rolls_back_and_unpublishing_runs_the_latest_again(
    alice_client: APIClient, workflow: Workflow, valid_graph: dict[str, Any]
) -> None:
    save(alice_client, workflow, with_second_input_field(valid_graph))
    assert publish(alice_client, workflow, 2, name="v2").status_code == 200
    assert start(alice_client, workflow).version.number == 2
    # a bad v2: back to v1, which keeps no name until given one
    rolled = publish(alice_client, workflow, 1)
    assert rolled.json()["published"] == {**rolled.json()["published"], "number": 1, "name": ""}
    assert start(alice_client, workflow).version.number == 1
    assert (
        AuditEntry.objects.filter(action="workflow.published")
        .order_by("pk")
        .last()
        .detail["previous"]
        == 2
    )
    assert states(alice_client, workflow) == {2: ("draft", "v2"), 1: ("published", "")}

    response = alice_client.post(f"/api/workflows/{workflow.pk}/unpublish/", {}, format="json")
    assert response.status_code == 200 and response.json()["published"] is None
    assert start(alice_client, workflow).version.number == 2
    assert AuditEntry.objects.get(action="workflow.unpublished").detail == {"version": 1}
    again = alice_client.post(f"/api/workflows/{workflow.pk}/unpublish/", {}, format="json")
    assert error_of(again, 409)["code"] == "not_published"


def test_empty_and_invalid_versions_say_so_and_are_not_published(
    alice: User,
    alice_client: APIClient,
    alice_workspace: Workspace,
    invalid_graph: dict[str, Any],
) -> None:
    workflow = operations.create_workflow(user=alice, workspace=alice_workspace, name="New")
    save(alice_client, workflow, invalid_graph)
    assert states(alice_client, workflow) == {1: ("empty", ""), 2: ("invalid", "")}
    empty = error_of(publish(alice_client, workflow, 1), 400)
    assert empty["code"] == "not_publishable" and "empty" in empty["message"]
    assert "version" in empty["fields"]
    invalid = error_of(publish(alice_client, workflow, 2, name="broken"), 400)
    assert invalid["code"] == "not_publishable" and "2 problems" in invalid["message"]
    workflow.refresh_from_db()
    assert workflow.published_version is None
    assert not AuditEntry.objects.filter(action="workflow.published").exists()
    assert states(alice_client, workflow)[2] == ("invalid", "")  # the refused name was not kept


def test_bad_publish_and_run_requests_are_clear_400s_and_404s(
    alice_client: APIClient, workflow: Workflow
) -> None:
    assert error_of(publish(alice_client, workflow, 9), 404)["message"] == (
        "this workflow has no version 9"
    )
    assert "name" in error_of(publish(alice_client, workflow, 1, name="x" * 101), 400)["fields"]
    assert "name" in error_of(publish(alice_client, workflow, 1, name=7), 400)["fields"]
    url = f"/api/workflows/{workflow.pk}/runs/"
    for version in ("newest", 0, -1, True, 1.5, None, "1"):
        refused = alice_client.post(url, {"input": {}, "version": version}, format="json")
        assert "version" in error_of(refused, 400)["fields"], version
    missing = error_of(alice_client.post(url, {"version": 5}, format="json"), 404)
    assert missing["fields"] == {"version": ["no version 5"]}
    unpublished = error_of(alice_client.post(url, {"version": "published"}, format="json"), 409)
    assert unpublished["code"] == "not_published" and "version" in unpublished["fields"]
    assert not Run.objects.exists()


def test_versions_are_named_and_renamed_without_changing_them(
    alice_client: APIClient, workflow: Workflow, valid_graph: dict[str, Any]
) -> None:
    url = f"/api/workflows/{workflow.pk}/versions/1/"
    named = alice_client.patch(url, {"name": "Baseline"}, format="json")
    assert named.status_code == 200, named.content
    assert named.json()["name"] == "Baseline" and named.json()["graph"] == valid_graph
    assert alice_client.get(url).json()["name"] == "Baseline"
    cleared = alice_client.patch(url, {"name": " "}, format="json")
    assert cleared.json()["name"] == ""
    assert "name" in error_of(alice_client.patch(url, {}, format="json"), 400)["fields"]
    assert (
        alice_client.patch(url.replace("/1/", "/4/"), {"name": "x"}, format="json").status_code
        == 404
    )
    assert [
        e.detail["name"]
        for e in AuditEntry.objects.filter(action="workflow.version_named").order_by("pk")
    ] == [
        "Baseline",
        "",
    ]


def test_only_owners_and_editors_publish_and_everyone_in_the_workspace_sees_it(
    alice_client: APIClient,
    bob_client: APIClient,
    viewer_client: APIClient,
    charlie_client: APIClient,
    workflow: Workflow,
) -> None:
    refused = error_of(publish(viewer_client, workflow, 1, name="mine"), 403)
    assert refused["code"] == "forbidden"
    unpublish_url = f"/api/workflows/{workflow.pk}/unpublish/"
    rename = viewer_client.patch(
        f"/api/workflows/{workflow.pk}/versions/1/", {"name": "x"}, format="json"
    )
    assert rename.status_code == 403
    assert publish(charlie_client, workflow, 1).status_code == 404  # not his workspace
    assert publish(bob_client, workflow, 1, name="by bob").status_code == 200  # an editor
    assert viewer_client.post(unpublish_url, {}, format="json").status_code == 403
    seen = viewer_client.get(f"/api/workflows/{workflow.pk}/").json()["published"]
    assert seen["number"] == 1 and seen["name"] == "by bob" and seen["published_by"] == "bob"
    assert states(viewer_client, workflow)[1] == ("published", "by bob")
    assert alice_client.post(unpublish_url, {}, format="json").status_code == 200


def test_webhooks_and_the_mcp_endpoint_serve_the_published_version(
    alice_client: APIClient, workflow: Workflow, valid_graph: dict[str, Any]
) -> None:
    made = alice_client.post(f"/api/workflows/{workflow.pk}/webhook/", {}, format="json")
    assert made.status_code == 201, made.content
    hook = str(made.json()["url"]).removeprefix("http://testserver")
    assert publish(alice_client, workflow, 1).status_code == 200
    # v2 asks for a field v1 does not: a caller of the published v1 must not be asked for it
    graph = copy.deepcopy(valid_graph)
    graph["nodes"][0]["config"] = {
        "fields": {"type": "object", "properties": {"audience": {"type": "string"}}}
    }
    save(alice_client, workflow, graph)

    called = APIClient().post(hook, {"topic": "owls"}, format="json")
    assert called.status_code == 202, called.content
    assert Run.objects.get(pk=called.json()["run"]).version.number == 1

    Workflow.objects.filter(pk=workflow.pk).update(mcp_exposed=True)
    (tool,) = served_tools(workflow.workspace_id)
    assert "audience" not in str(tool.input_schema)
    alice_client.post(f"/api/workflows/{workflow.pk}/unpublish/", {}, format="json")
    (tool,) = served_tools(workflow.workspace_id)
    assert "audience" in str(tool.input_schema)
    called = APIClient().post(hook, {"topic": "owls"}, format="json")
    assert Run.objects.get(pk=called.json()["run"]).version.number == 2


def test_run_workflow_takes_the_same_version_choice_and_refuses_a_bad_one(
    alice: User, workflow: Workflow
) -> None:
    def refusal(*args: str) -> str:
        with pytest.raises(CommandError) as refused:
            call_command("run_workflow", str(workflow.pk), "--user", "alice", *args)
        return str(refused.value)

    assert refusal("--workflow-version", "newest") == (
        '--workflow-version is "published", "latest" or a version number, not \'newest\''
    )
    assert refusal("--workflow-version", "0").startswith("--workflow-version is")
    assert refusal("--workflow-version", "7").startswith("this workflow has no version 7")
    published = refusal("--workflow-version", "published")
    assert published.startswith("this workflow has no published version")
    assert not Run.objects.exists()


@pytest.mark.django_db(transaction=True)  # the loader reads on a thread of its own
def test_a_flow_called_as_a_workflow_tool_is_loaded_at_its_published_version(
    alice_client: APIClient, workflow: Workflow, valid_graph: dict[str, Any]
) -> None:
    loader = WorkspaceFlows(workflow.workspace_id)  # what a worker's tools and nested flows read
    assert publish(alice_client, workflow, 1).status_code == 200
    graph = copy.deepcopy(valid_graph)
    graph["meta"] = {"description": "the draft"}
    save(alice_client, workflow, graph)
    loaded = asyncio.run(loader.load(str(workflow.pk)))
    assert (loaded.number, loaded.graph.get("meta")) == (1, None)
    alice_client.post(f"/api/workflows/{workflow.pk}/unpublish/", {}, format="json")
    loaded = asyncio.run(loader.load(str(workflow.pk)))
    assert (loaded.number, loaded.graph["meta"]) == (2, {"description": "the draft"})
