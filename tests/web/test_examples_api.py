"""The example flows: listed from examples/*.json and imported as new workflows."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor import examples
from editor.models import Workflow, Workspace
from editor.operations import check_graph_shape
from runtime.validation import validate_graph

REPO = Path(__file__).resolve().parents[2]
SHIPPED = sorted(path.stem for path in (REPO / "examples").glob("*.json"))


def raw_example(name: str) -> dict[str, Any]:
    return json.loads((REPO / "examples" / f"{name}.json").read_text())


def error_of(response: Any) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    return body["error"]


# -- the files -------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_each_shipped_example_has_meta_that_neither_the_engine_nor_the_editor_minds(
    name: str,
) -> None:
    raw = raw_example(name)
    meta = raw["meta"]
    assert isinstance(meta["title"], str) and meta["title"].strip()
    assert isinstance(meta["description"], str) and meta["description"].strip()
    # Unknown top-level keys are ignored by both checks: the file is a valid graph as it is.
    assert validate_graph(raw) == []
    check_graph_shape(raw)
    assert examples.is_example_name(name)


# -- list ------------------------------------------------------------------------------------------


def test_it_lists_every_shipped_example_with_its_title_and_node_count(
    alice_client: APIClient,
) -> None:
    response = alice_client.get("/api/examples/")
    assert response.status_code == 200
    body = response.json()
    assert [item["name"] for item in body] == SHIPPED
    for item in body:
        raw = raw_example(item["name"])
        assert item == {
            "name": item["name"],
            "title": raw["meta"]["title"],
            "description": raw["meta"]["description"],
            "node_count": len(raw["nodes"]),
        }


def test_the_examples_need_a_login(anon_client: APIClient) -> None:
    assert anon_client.get("/api/examples/").status_code in (401, 403)
    response = anon_client.post("/api/examples/research/import/", {}, format="json")
    assert response.status_code in (401, 403)
    assert Workflow.objects.count() == 0


def test_a_broken_or_oddly_named_file_is_left_out_and_meta_is_optional(
    alice_client: APIClient, settings: Any, tmp_path: Path
) -> None:
    settings.EXAMPLES_DIR = tmp_path
    graph = {"nodes": [{"id": "a", "type": "input"}], "edges": []}
    (tmp_path / "plain-flow.json").write_text(json.dumps(graph))
    (tmp_path / "broken.json").write_text("{not json")
    (tmp_path / "not-a-graph.json").write_text(json.dumps({"nodes": 3}))
    (tmp_path / "Upper_Case.json").write_text(json.dumps(graph))
    (tmp_path / "notes.txt").write_text("not an example")
    body = alice_client.get("/api/examples/").json()
    assert body == [
        {"name": "plain-flow", "title": "Plain flow", "description": "", "node_count": 1}
    ]
    assert alice_client.post("/api/examples/broken/import/").status_code == 404


# -- import ----------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", SHIPPED)
def test_importing_an_example_creates_a_valid_workflow_in_my_workspace(
    name: str, alice_client: APIClient, alice: User
) -> None:
    response = alice_client.post(f"/api/examples/{name}/import/", {}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    raw = raw_example(name)
    assert body["name"] == raw["meta"]["title"]
    assert body["description"] == raw["meta"]["description"]
    assert body["version"] == 1
    assert body["valid"] is True and body["issues"] == []
    # The graph is the example's, without its meta (sub-flows and workflow tools naming other
    # examples point at the copies imported with it: tests/tools/test_example_tool_refs.py).
    subflows = {n["id"] for n in raw["nodes"] if n["type"] == "subflow"}
    referring = subflows | {
        n["id"]
        for n in raw["nodes"]
        if any(str(t).startswith("workflow:") for t in n.get("config", {}).get("tools") or [])
    }
    same = [n for n in body["graph"]["nodes"] if n["id"] not in referring]
    assert same == [n for n in raw["nodes"] if n["id"] not in referring]
    assert body["graph"]["edges"] == raw["edges"]
    workflow = Workflow.objects.get(pk=body["id"])
    assert workflow.created_by == alice
    own = Workspace.objects.get(memberships__user=alice, memberships__role="owner")
    assert workflow.workspace == own
    assert workflow.current_version is not None
    assert name in workflow.current_version.note
    # It is an ordinary workflow: listed, and opened like any other.
    assert alice_client.get(f"/api/workflows/{body['id']}/").status_code == 200
    listed = [w["id"] for w in alice_client.get("/api/workflows/").json()["results"]]
    assert listed[0] == body["id"]
    assert len(listed) == 1 + len(referring)


def test_importing_twice_makes_two_independent_workflows(alice_client: APIClient) -> None:
    first = alice_client.post("/api/examples/research/import/").json()
    second = alice_client.post("/api/examples/research/import/").json()
    assert first["id"] != second["id"]
    assert Workflow.objects.count() == 2


def test_an_import_may_be_named_and_put_in_a_workspace_i_belong_to(
    bob_client: APIClient, alice_workspace: Workspace
) -> None:
    response = bob_client.post(
        "/api/examples/sales-report/import/",
        {"name": "Q3 report", "workspace": alice_workspace.id},
        format="json",
    )
    assert response.status_code == 201, response.json()
    assert response.json()["name"] == "Q3 report"
    assert response.json()["workspace"] == alice_workspace.id


def test_an_import_into_someone_elses_workspace_is_refused(
    charlie_client: APIClient, alice_workspace: Workspace
) -> None:
    response = charlie_client.post(
        "/api/examples/research/import/", {"workspace": alice_workspace.id}, format="json"
    )
    assert response.status_code == 404  # not his to see, as with the id in a URL
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "workspace" in error["fields"]
    assert Workflow.objects.count() == 0


def test_an_unknown_example_is_404_in_the_api_error_shape(alice_client: APIClient) -> None:
    response = alice_client.post("/api/examples/no-such-flow/import/", {}, format="json")
    assert response.status_code == 404
    error = error_of(response)
    assert error["code"] == "not_found"
    assert "no-such-flow" in error["message"]
    assert Workflow.objects.count() == 0


@pytest.mark.parametrize(
    "name",
    [
        "..",
        "...",
        "..%2Fpyproject",
        "%2E%2E%2Fexamples%2Fresearch",
        "..%5C..%5Cpyproject",
        "%2Fetc%2Fpasswd",
        "Research",
        "research.json",
        "research%00",
        "re search",
        "-research",
        "x" * 65,
    ],
)
def test_a_name_that_is_not_a_safe_slug_reads_no_file(
    name: str, alice_client: APIClient, settings: Any, tmp_path: Path
) -> None:
    # Files an unchecked name could reach, next to and above the examples directory.
    examples_dir = tmp_path / "examples"
    examples_dir.mkdir()
    graph = {"nodes": [{"id": "a", "type": "input"}], "edges": []}
    for target in (tmp_path / "pyproject.json", examples_dir / "research.json"):
        target.write_text(json.dumps(graph))
    settings.EXAMPLES_DIR = examples_dir
    response = alice_client.post(f"/api/examples/{name}/import/", {}, format="json")
    assert response.status_code == 404
    assert error_of(response)["code"] == "not_found"
    assert Workflow.objects.count() == 0


def test_a_symlink_out_of_the_examples_directory_is_not_followed(
    alice_client: APIClient, settings: Any, tmp_path: Path
) -> None:
    examples_dir = tmp_path / "examples"
    examples_dir.mkdir()
    outside = tmp_path / "secret.json"
    outside.write_text(json.dumps({"nodes": [{"id": "a", "type": "input"}], "edges": []}))
    (examples_dir / "secret.json").symlink_to(outside)
    settings.EXAMPLES_DIR = examples_dir
    assert alice_client.get("/api/examples/").json() == []
    response = alice_client.post("/api/examples/secret/import/", {}, format="json")
    assert response.status_code == 404
    assert Workflow.objects.count() == 0


def test_only_post_imports(alice_client: APIClient) -> None:
    assert alice_client.get("/api/examples/research/import/").status_code == 405
    assert Workflow.objects.count() == 0


def test_the_endpoints_are_in_the_api_schema(alice_client: APIClient) -> None:
    response = alice_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    paths = response.json()["paths"]
    assert "get" in paths["/api/examples/"]
    assert "post" in paths["/api/examples/{name}/import/"]
