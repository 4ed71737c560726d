"""GET /api/workflows/<id>/versions/compare/?from=N&to=M: two versions side by side."""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import Membership, Role, Workflow, Workspace
from tests.web.conftest import PASSWORD


def compare_url(workflow: Workflow, query: str) -> str:
    return f"/api/workflows/{workflow.id}/versions/compare/?{query}"


@pytest.fixture
def edited(
    workflow: Workflow, workflow_url: str, alice_client: APIClient, valid_graph: dict[str, Any]
) -> Workflow:
    """Version 2 of alice's workflow: the transform's template changed, the output renamed and
    moved, a second output added after the transform (its edge with a new id), the edges of
    version 1 saved again under new ids."""
    graph = copy.deepcopy(valid_graph)
    nodes = {node["id"]: node for node in graph["nodes"]}
    nodes["shout"]["config"]["template"] = "TOPIC: {{ input.topic | upper }}"
    nodes["result"]["label"] = "Answer"
    nodes["result"]["position"] = {"x": 600, "y": 40}
    graph["nodes"].append({"id": "copy", "type": "output", "label": "Copy"})
    graph["edges"] = [
        {"id": "n1", "source": "brief", "target": "shout"},
        {"id": "n2", "source": "shout", "target": "result"},
        {"id": "n3", "source": "shout", "target": "copy"},
    ]
    response = alice_client.put(workflow_url, {"graph": graph}, format="json")
    assert response.status_code == 200, response.json()
    assert response.json()["version"] == 2
    return workflow


def test_it_compares_two_versions(edited: Workflow, alice_client: APIClient) -> None:
    response = alice_client.get(compare_url(edited, "from=1&to=2"))
    assert response.status_code == 200, response.json()
    body = response.json()
    assert (body["from"], body["to"]) == (1, 2)
    nodes = body["nodes"]
    assert nodes["added"] == [{"id": "copy", "type": "output", "label": "Copy"}]
    assert nodes["removed"] == []
    assert nodes["changed"] == [
        {
            "id": "shout",
            "type": "transform",
            "label": "Shout",
            "label_before": "Shout",
            "renamed": False,
            "moved": False,
            "settings": [
                {
                    "path": "config.template",
                    "change": "changed",
                    "before": "Topic: {{ input.topic }}",
                    "after": "TOPIC: {{ input.topic | upper }}",
                }
            ],
        }
    ]
    assert [(n["id"], n["label_before"], n["label"]) for n in nodes["moved_or_renamed"]] == [
        ("result", "Result", "Answer")
    ]
    assert nodes["unchanged"] == 1
    # the edges saved again under new ids are the same edges
    assert body["edges"]["removed"] == []
    assert [(e["id"], e["source"], e["target"]) for e in body["edges"]["added"]] == [
        ("n3", "shout", "copy")
    ]


def test_the_other_way_round_the_added_node_is_removed(
    edited: Workflow, alice_client: APIClient
) -> None:
    body = alice_client.get(compare_url(edited, "from=2&to=1")).json()
    assert (body["from"], body["to"]) == (2, 1)
    assert body["nodes"]["removed"] == [{"id": "copy", "type": "output", "label": "Copy"}]
    assert body["nodes"]["added"] == []
    assert [e["id"] for e in body["edges"]["removed"]] == ["n3"]
    (change,) = body["nodes"]["changed"]
    assert change["settings"][0]["before"] == "TOPIC: {{ input.topic | upper }}"


def test_a_version_with_itself_has_no_changes(workflow: Workflow, alice_client: APIClient) -> None:
    body = alice_client.get(compare_url(workflow, "from=1&to=1")).json()
    assert body == {
        "from": 1,
        "to": 1,
        "nodes": {
            "added": [],
            "removed": [],
            "changed": [],
            "moved_or_renamed": [],
            "unchanged": 3,
        },
        "edges": {"added": [], "removed": []},
    }


def test_a_draft_with_issues_compares_too(
    workflow: Workflow, workflow_url: str, alice_client: APIClient, invalid_graph: dict[str, Any]
) -> None:
    assert (
        alice_client.put(workflow_url, {"graph": invalid_graph}, format="json").json()["valid"]
        is False
    )
    body = alice_client.get(compare_url(workflow, "from=1&to=2")).json()
    assert [n["id"] for n in body["nodes"]["removed"]] == ["result"]
    assert [c["settings"] for c in body["nodes"]["changed"]] == [
        [
            {
                "path": "config.template",
                "change": "removed",
                "before": "Topic: {{ input.topic }}",
                "after": None,
            }
        ]
    ]
    assert [(e["source"], e["target"]) for e in body["edges"]["added"]] == [("shout", "gone")]


@pytest.mark.parametrize(
    ("query", "fields"),
    [
        ("", {"from": ["a version number is needed"], "to": ["a version number is needed"]}),
        ("from=1", {"to": ["a version number is needed"]}),
        ("from=&to=1", {"from": ["a version number is needed"]}),
        ("from=one&to=1", {"from": ["a version number is a whole number from 1"]}),
        ("from=1&to=-2", {"to": ["a version number is a whole number from 1"]}),
        ("from=1.0&to=1", {"from": ["a version number is a whole number from 1"]}),
        ("from=0&to=1", {"from": ["a version number is a whole number from 1"]}),
        ("from=1&to=1234567890", {"to": ["a version number is a whole number from 1"]}),
        ("from=%C2%B2&to=1", {"from": ["a version number is a whole number from 1"]}),
    ],
)
def test_bad_numbers_are_a_400_naming_them(
    workflow: Workflow, alice_client: APIClient, query: str, fields: dict[str, list[str]]
) -> None:
    response = alice_client.get(compare_url(workflow, query))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid"
    assert error["fields"] == fields
    for name in fields:
        assert f"{name}:" in error["message"]


def test_a_version_the_workflow_does_not_have_is_a_404_naming_it(
    workflow: Workflow, alice_client: APIClient
) -> None:
    response = alice_client.get(compare_url(workflow, "from=1&to=7"))
    assert response.status_code == 404
    error = response.json()["error"]
    assert error == {
        "code": "not_found",
        "message": "this workflow has no version 7",
        "fields": {"to": ["this workflow has no version 7"]},
    }
    both = alice_client.get(compare_url(workflow, "from=5&to=6")).json()["error"]
    assert both["message"] == "this workflow has no version 5 or 6"
    assert set(both["fields"]) == {"from", "to"}


def test_versions_of_another_workflow_do_not_count(
    edited: Workflow, alice_client: APIClient, alice: User, alice_workspace: Workspace
) -> None:
    other = alice_client.post("/api/workflows/", {"name": "Other"}, format="json").json()
    response = alice_client.get(f"/api/workflows/{other['id']}/versions/compare/?from=1&to=2")
    assert response.status_code == 404
    assert response.json()["error"]["message"] == "this workflow has no version 2"


def test_any_member_may_compare_and_an_outsider_gets_404(
    edited: Workflow,
    alice_workspace: Workspace,
    bob_client: APIClient,
    charlie: User,
    charlie_client: APIClient,
    anon_client: APIClient,
) -> None:
    viewer = User.objects.create_user("dora", "dora@example.org", PASSWORD)
    Membership.objects.create(user=viewer, workspace=alice_workspace, role=Role.VIEWER)
    viewer_client = APIClient()
    viewer_client.force_login(viewer)
    for client in (bob_client, viewer_client):
        assert client.get(compare_url(edited, "from=1&to=2")).status_code == 200
    # not his workspace: as if the workflow did not exist, whatever the numbers
    for query in ("from=1&to=2", "from=x"):
        response = charlie_client.get(compare_url(edited, query))
        assert response.status_code == 404
        assert response.json()["error"]["code"] == "not_found"
    assert anon_client.get(compare_url(edited, "from=1&to=2")).status_code in (401, 403)


def test_the_schema_declares_the_comparison(anon_client: APIClient) -> None:
    schema = anon_client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json").json()
    operation = schema["paths"]["/api/workflows/{id}/versions/compare/"]["get"]
    query = {p["name"]: p for p in operation["parameters"] if p["in"] == "query"}
    assert set(query) == {"from", "to"}
    assert all(p["required"] for p in query.values())
    assert {"200", "400", "404"} <= set(operation["responses"])
