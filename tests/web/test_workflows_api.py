from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import ImmutableVersion, Membership, Role, Workflow, WorkflowVersion, Workspace
from editor.tokens import issue_token


def node_ids(issues: list[dict[str, Any]]) -> set[str]:
    return {issue["node_id"] for issue in issues if "node_id" in issue}


def edge_ids(issues: list[dict[str, Any]]) -> set[str]:
    return {issue["edge_id"] for issue in issues if "edge_id" in issue}


# -- list and create -------------------------------------------------------------------------------


def test_it_lists_the_workflows_of_my_workspaces(
    workflow: Workflow, alice_client: APIClient, bob_client: APIClient, charlie_client: APIClient
) -> None:
    for client in (alice_client, bob_client):
        response = client.get("/api/workflows/")
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 1
        (item,) = body["results"]
        assert item["id"] == str(workflow.id)
        assert item["name"] == "Research brief"
        assert item["version"] == 1
        assert item["valid"] is True
        assert "graph" not in item  # lists stay small; the graph comes with the detail
    assert charlie_client.get("/api/workflows/").json()["count"] == 0


def test_it_filters_the_list_by_workspace(
    workflow: Workflow, bob: User, bob_client: APIClient, alice_workspace: Workspace
) -> None:
    bob_client.post("/api/workflows/", {"name": "Bob's own"}, format="json")
    everything = bob_client.get("/api/workflows/").json()
    assert everything["count"] == 2
    alices = bob_client.get(f"/api/workflows/?workspace={alice_workspace.id}").json()
    assert [item["name"] for item in alices["results"]] == ["Research brief"]


def test_it_creates_a_workflow_at_version_1(
    alice_client: APIClient, alice_workspace: Workspace, valid_graph: dict[str, Any]
) -> None:
    response = alice_client.post(
        "/api/workflows/",
        {"name": "Summariser", "description": "Short", "graph": valid_graph},
        format="json",
    )
    assert response.status_code == 201
    body = response.json()
    assert body["version"] == 1
    assert body["valid"] is True
    assert body["issues"] == []
    assert body["graph"] == valid_graph
    assert body["workspace"] == alice_workspace.id
    assert body["created_by"] == "alice"
    workflow = Workflow.objects.get(pk=body["id"])
    assert workflow.versions.count() == 1


def test_it_creates_an_empty_draft_when_no_graph_is_sent(alice_client: APIClient) -> None:
    response = alice_client.post("/api/workflows/", {"name": "Blank"}, format="json")
    assert response.status_code == 201
    body = response.json()
    assert body["graph"] == {"nodes": [], "edges": []}
    assert body["valid"] is False
    assert [issue["code"] for issue in body["issues"]] == ["empty_graph"]


def test_it_creates_in_a_workspace_i_belong_to(
    bob_client: APIClient, alice_workspace: Workspace
) -> None:
    response = bob_client.post(
        "/api/workflows/", {"name": "Shared", "workspace": alice_workspace.id}, format="json"
    )
    assert response.status_code == 201
    assert response.json()["workspace"] == alice_workspace.id


def test_it_refuses_to_create_in_someone_elses_workspace(
    charlie_client: APIClient, alice_workspace: Workspace
) -> None:
    response = charlie_client.post(
        "/api/workflows/", {"name": "Intrusion", "workspace": alice_workspace.id}, format="json"
    )
    assert response.status_code == 404  # not his to see, as with the id in a URL
    error = response.json()["error"]
    assert error["code"] == "not_found"
    assert list(error["fields"]) == ["workspace"]
    assert not Workflow.objects.filter(name="Intrusion").exists()


def test_it_answers_a_missing_name_with_a_field_error(alice_client: APIClient) -> None:
    response = alice_client.post("/api/workflows/", {"description": "no name"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"] == {"name": ["This field is required."]}


# -- read and save ---------------------------------------------------------------------------------


def test_it_reads_a_workflow_with_its_graph(
    workflow_url: str, alice_client: APIClient, valid_graph: dict[str, Any]
) -> None:
    body = alice_client.get(workflow_url).json()
    assert body["name"] == "Research brief"
    assert body["description"] == "Turns a topic into a briefing"
    assert body["graph"] == valid_graph
    assert body["issues"] == []


def test_every_save_makes_a_new_immutable_version(
    workflow: Workflow, workflow_url: str, alice_client: APIClient, valid_graph: dict[str, Any]
) -> None:
    graphs = []
    for label in ("Second", "Third"):
        graph = {**valid_graph, "nodes": [{**valid_graph["nodes"][0], "label": label}]}
        graph["nodes"] += valid_graph["nodes"][1:]
        graphs.append(graph)
        response = alice_client.put(workflow_url, {"graph": graph, "note": label}, format="json")
        assert response.status_code == 200
    assert response.json()["version"] == 3
    versions = {v.number: v for v in WorkflowVersion.objects.filter(workflow=workflow)}
    assert sorted(versions) == [1, 2, 3]
    assert versions[1].graph == valid_graph  # the first save is untouched
    assert versions[2].graph == graphs[0]
    assert versions[3].graph == graphs[1]
    assert versions[3].note == "Third"
    assert versions[3].created_by is not None and versions[3].created_by.username == "alice"
    workflow.refresh_from_db()
    assert workflow.current_version == versions[3]


def test_saving_the_same_graph_twice_still_makes_two_versions(
    workflow_url: str, alice_client: APIClient, valid_graph: dict[str, Any]
) -> None:
    alice_client.put(workflow_url, {"graph": valid_graph}, format="json")
    response = alice_client.put(workflow_url, {"graph": valid_graph}, format="json")
    assert response.json()["version"] == 3


def test_an_invalid_graph_is_saved_with_its_issues(
    workflow: Workflow,
    workflow_url: str,
    alice_client: APIClient,
    invalid_graph: dict[str, Any],
) -> None:
    response = alice_client.put(workflow_url, {"graph": invalid_graph}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert body["version"] == 2
    assert body["valid"] is False
    assert body["graph"] == invalid_graph
    assert "shout" in node_ids(body["issues"])
    assert "e9" in edge_ids(body["issues"])
    stored = WorkflowVersion.objects.get(workflow=workflow, number=2)
    assert stored.graph == invalid_graph
    assert stored.issues == body["issues"]


def test_a_member_may_save_a_workflow_of_the_workspace(
    workflow_url: str, bob_client: APIClient, valid_graph: dict[str, Any]
) -> None:
    response = bob_client.put(workflow_url, {"graph": valid_graph}, format="json")
    assert response.status_code == 200
    assert response.json()["version"] == 2


def test_put_without_a_graph_is_a_field_error(workflow_url: str, alice_client: APIClient) -> None:
    response = alice_client.put(workflow_url, {"name": "Only a name"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["graph"]


def test_patch_with_only_a_name_renames_without_a_new_version(
    workflow: Workflow, workflow_url: str, alice_client: APIClient
) -> None:
    response = alice_client.patch(
        workflow_url, {"name": "Briefing", "description": "New words"}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert (body["name"], body["description"], body["version"]) == ("Briefing", "New words", 1)
    assert workflow.versions.count() == 1


def test_patch_with_a_graph_and_a_name_does_both(
    workflow: Workflow, workflow_url: str, alice_client: APIClient, invalid_graph: dict[str, Any]
) -> None:
    response = alice_client.patch(
        workflow_url, {"name": "Renamed", "graph": invalid_graph}, format="json"
    )
    body = response.json()
    assert (body["name"], body["version"], body["valid"]) == ("Renamed", 2, False)


def test_an_empty_patch_is_refused(workflow_url: str, alice_client: APIClient) -> None:
    response = alice_client.patch(workflow_url, {}, format="json")
    assert response.status_code == 400
    assert "name, description, graph" in response.json()["error"]["message"]


def test_saving_on_top_of_a_newer_version_is_a_conflict(
    workflow_url: str, alice_client: APIClient, bob_client: APIClient, valid_graph: dict[str, Any]
) -> None:
    first = bob_client.put(workflow_url, {"graph": valid_graph, "base_version": 1}, format="json")
    assert first.status_code == 200
    stale = alice_client.put(workflow_url, {"graph": valid_graph, "base_version": 1}, format="json")
    assert stale.status_code == 409
    error = stale.json()["error"]
    assert error["code"] == "version_conflict"
    assert error["fields"] == {"base_version": ["the current version is 2"]}


# -- versions --------------------------------------------------------------------------------------


def test_it_lists_versions_newest_first(
    workflow_url: str, alice_client: APIClient, invalid_graph: dict[str, Any]
) -> None:
    alice_client.put(workflow_url, {"graph": invalid_graph, "note": "WIP"}, format="json")
    body = alice_client.get(f"{workflow_url}versions/").json()
    assert body["count"] == 2
    assert [(v["number"], v["valid"], v["note"]) for v in body["results"]] == [
        (2, False, "WIP"),
        (1, True, "Created"),
    ]
    assert body["results"][0]["issue_count"] >= 2
    assert "graph" not in body["results"][0]


def test_it_reads_one_version(
    workflow_url: str, alice_client: APIClient, valid_graph: dict[str, Any], invalid_graph: Any
) -> None:
    alice_client.put(workflow_url, {"graph": invalid_graph}, format="json")
    body = alice_client.get(f"{workflow_url}versions/1/").json()
    assert body["number"] == 1
    assert body["graph"] == valid_graph
    assert body["issues"] == []
    assert body["created_by"] == "alice"


def test_restoring_a_version_makes_a_new_version_with_its_graph(
    workflow: Workflow,
    workflow_url: str,
    alice_client: APIClient,
    valid_graph: dict[str, Any],
    invalid_graph: dict[str, Any],
) -> None:
    alice_client.put(workflow_url, {"graph": invalid_graph}, format="json")
    response = alice_client.post(f"{workflow_url}versions/1/restore/")
    assert response.status_code == 200
    body = response.json()
    assert (body["version"], body["valid"], body["graph"]) == (3, True, valid_graph)
    restored = workflow.versions.get(number=3)
    assert restored.note == "Restored from version 1"
    assert workflow.versions.get(number=2).graph == invalid_graph  # history kept


def test_restoring_a_missing_version_is_404(workflow_url: str, alice_client: APIClient) -> None:
    response = alice_client.post(f"{workflow_url}versions/7/restore/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_a_version_cannot_be_changed(workflow: Workflow) -> None:
    version = workflow.versions.get()
    version.note = "rewritten"
    with pytest.raises(ImmutableVersion):
        version.save()
    with pytest.raises(ImmutableVersion):
        WorkflowVersion.objects.filter(pk=version.pk).update(note="rewritten")
    assert WorkflowVersion.objects.get(pk=version.pk).note == "Created"


# -- duplicate, delete, validate, export, import ---------------------------------------------------


def test_it_duplicates_a_workflow(
    workflow: Workflow, workflow_url: str, bob_client: APIClient, valid_graph: dict[str, Any]
) -> None:
    response = bob_client.post(f"{workflow_url}duplicate/")
    assert response.status_code == 201
    body = response.json()
    assert body["id"] != str(workflow.id)
    assert (body["name"], body["version"], body["graph"]) == (
        "Research brief (copy)",
        1,
        valid_graph,
    )
    assert body["workspace"] == workflow.workspace_id
    assert body["created_by"] == "bob"
    named = bob_client.post(f"{workflow_url}duplicate/", {"name": "Mine"}, format="json")
    assert named.json()["name"] == "Mine"


def test_it_deletes_a_workflow_and_its_versions(
    workflow: Workflow, workflow_url: str, alice_client: APIClient
) -> None:
    response = alice_client.delete(workflow_url)
    assert response.status_code == 204
    assert alice_client.get(workflow_url).status_code == 404
    assert not WorkflowVersion.objects.filter(workflow_id=workflow.id).exists()


def test_validate_reports_issues_by_node_and_edge(
    workflow_url: str, alice_client: APIClient, invalid_graph: dict[str, Any]
) -> None:
    response = alice_client.post(
        f"{workflow_url}validate/", {"graph": invalid_graph}, format="json"
    )
    assert response.status_code == 200
    body = response.json()
    assert body["valid"] is False
    by_node = [e for e in body["errors"] if e.get("node_id") == "shout"]
    assert by_node and by_node[0]["code"] == "invalid_config"
    assert by_node[0]["field"] == "config.template"
    by_edge = [e for e in body["errors"] if e.get("edge_id") == "e9"]
    assert by_edge and by_edge[0]["code"] == "dangling_edge"
    assert all(set(e) <= {"code", "message", "node_id", "edge_id", "field"} for e in body["errors"])


def test_validate_without_a_graph_checks_the_current_one(
    workflow: Workflow, workflow_url: str, alice_client: APIClient
) -> None:
    response = alice_client.post(f"{workflow_url}validate/")
    body = response.json()
    assert (body["valid"], body["errors"]) == (True, [])
    # the graph reads input.topic from an Input node that declares no fields: a warning only
    assert [(w["code"], w["node_id"]) for w in body["warnings"]] == [("undeclared_input", "shout")]
    assert workflow.versions.count() == 1  # validating never saves


def test_validate_answers_a_shapeless_graph_with_issues(
    workflow_url: str, alice_client: APIClient
) -> None:
    response = alice_client.post(f"{workflow_url}validate/", {"graph": [1, 2]}, format="json")
    assert response.status_code == 200
    assert response.json()["valid"] is False
    assert response.json()["errors"][0]["code"] == "invalid_graph"


def test_export_then_import_round_trips(
    workflow_url: str, alice_client: APIClient, charlie_client: APIClient, valid_graph: Any
) -> None:
    exported = alice_client.get(workflow_url + "export/")
    assert exported.status_code == 200
    assert exported["Content-Disposition"] == 'attachment; filename="research-brief.json"'
    document = exported.json()
    assert document["format"] == "flowbuilder.workflow"
    assert document["graph"] == valid_graph
    imported = charlie_client.post("/api/workflows/import/", document, format="json")
    assert imported.status_code == 201
    body = imported.json()
    assert (body["name"], body["graph"], body["version"]) == ("Research brief", valid_graph, 1)
    assert Workflow.objects.get(pk=body["id"]).versions.get().note == "Imported"


def test_import_refuses_an_unknown_format(alice_client: APIClient, valid_graph: Any) -> None:
    document = {"format": "n8n", "name": "x", "graph": valid_graph}
    response = alice_client.post("/api/workflows/import/", document, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["format"]


# -- who may see what ------------------------------------------------------------------------------

DETAIL_CALLS = [
    ("get", ""),
    ("put", ""),
    ("patch", ""),
    ("delete", ""),
    ("get", "versions/"),
    ("get", "versions/1/"),
    ("post", "versions/1/restore/"),
    ("post", "duplicate/"),
    ("post", "validate/"),
    ("get", "export/"),
]


@pytest.mark.parametrize(("method", "suffix"), DETAIL_CALLS)
def test_another_workspaces_workflow_is_not_found(
    method: str,
    suffix: str,
    workflow: Workflow,
    workflow_url: str,
    charlie_client: APIClient,
    valid_graph: dict[str, Any],
) -> None:
    body = {"graph": valid_graph, "name": "mine now"}
    response = getattr(charlie_client, method)(workflow_url + suffix, body, format="json")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    workflow.refresh_from_db()
    assert (workflow.name, workflow.versions.count()) == ("Research brief", 1)


@pytest.mark.parametrize(
    ("method", "url"),
    [
        ("get", "/api/workflows/"),
        ("post", "/api/workflows/"),
        ("post", "/api/workflows/import/"),
        ("get", "/api/workspaces/"),
        ("get", "/api/node-types/"),
    ],
)
def test_anonymous_callers_are_refused(method: str, url: str, anon_client: APIClient) -> None:
    response = getattr(anon_client, method)(url, {}, format="json")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Token"
    assert response.json()["error"]["code"] == "not_authenticated"


def test_anonymous_callers_learn_nothing_about_a_workflow(
    workflow_url: str, anon_client: APIClient
) -> None:
    assert anon_client.get(workflow_url).status_code == 401


def test_a_token_authenticates_a_script(alice: User, workflow: Workflow) -> None:
    _, token = issue_token(alice, "tests")
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {token}")
    assert client.get("/api/workflows/").json()["count"] == 1
    client.credentials(HTTP_AUTHORIZATION="Token not-a-real-key")
    response = client.get("/api/workflows/")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "authentication_failed"


def test_a_session_write_needs_the_csrf_token(alice: User) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(alice)
    response = client.post("/api/workflows/", {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["error"]["message"]


# -- workspaces ------------------------------------------------------------------------------------


def test_a_new_user_gets_a_workspace_they_own(db: None) -> None:
    dora = User.objects.create_user("dora", password="x")
    (membership,) = Membership.objects.filter(user=dora)
    assert membership.role == Role.OWNER
    assert membership.workspace.slug == "dora"


def test_workspace_slugs_stay_unique(db: None) -> None:
    Workspace.objects.create(name="taken", slug="eve")
    eve = User.objects.create_user("eve", password="x")
    assert Membership.objects.get(user=eve).workspace.slug == "eve-2"


def test_it_lists_my_workspaces_with_my_role(
    bob: User, bob_client: APIClient, alice_workspace: Workspace
) -> None:
    body = bob_client.get("/api/workspaces/").json()
    roles = {item["slug"]: item["role"] for item in body["results"]}
    assert roles == {"alice": "editor", "bob": "owner"}


@pytest.mark.django_db(transaction=True)
def test_concurrent_saves_get_distinct_version_numbers(
    alice: User, alice_workspace: Workspace, valid_graph: dict[str, Any]
) -> None:
    import threading

    from django.db import connection

    from editor import operations

    if connection.vendor == "sqlite":
        pytest.skip("the in-memory test database is one shared cache; PostgreSQL proves this")
    workflow = operations.create_workflow(
        user=alice, workspace=alice_workspace, name="Busy", graph=valid_graph
    )
    start = threading.Barrier(4)
    errors: list[BaseException] = []

    def save() -> None:
        try:
            start.wait()
            operations.save_workflow(workflow, user=alice, graph=valid_graph)
        except BaseException as exc:  # reported below, in the test's thread
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=save) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == []
    numbers = sorted(workflow.versions.values_list("number", flat=True))
    assert numbers == [1, 2, 3, 4, 5]
    workflow.refresh_from_db()
    assert workflow.current_version is not None and workflow.current_version.number == 5
