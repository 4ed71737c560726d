"""Whatever a client sends, the answer is a 4xx in the one error shape, never a 500."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from django.conf import settings
from rest_framework.test import APIClient

from editor.models import Workflow
from runtime.graph import MAX_NODES


def error_of(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content[:500]
    body = response.json()
    assert set(body) == {"error"}
    assert {"code", "message"} <= set(body["error"]) <= {"code", "message", "fields"}
    return body["error"]


def test_the_body_limit_is_2_mib() -> None:
    assert settings.DATA_UPLOAD_MAX_MEMORY_SIZE == 2 * 1024 * 1024


def test_a_body_over_the_limit_is_413(alice_client: APIClient) -> None:
    body = json.dumps({"name": "big", "description": "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE})
    response = alice_client.post("/api/workflows/", body, content_type="application/json")
    error = error_of(response, 413)
    assert error["code"] == "request_too_large"
    assert not Workflow.objects.exists()


def test_a_body_just_under_the_limit_is_accepted(alice_client: APIClient) -> None:
    padding = "x" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE - 100)
    body = json.dumps({"name": "big", "description": padding})
    assert len(body) <= settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = alice_client.post("/api/workflows/", body, content_type="application/json")
    assert response.status_code == 201


def test_an_oversized_form_post_to_a_page_is_413_too(anon_client: APIClient) -> None:
    body = "a=" + "x" * settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    response = anon_client.post("/login/", body, content_type="application/x-www-form-urlencoded")
    assert response.status_code == 413


@pytest.mark.parametrize(
    "body",
    ['{"name": ', "not json", '{"name": NaN}', "\xff\xfe", "[" * 100_000],
    ids=["truncated", "text", "nan", "not-utf8", "deep"],
)
def test_malformed_json_is_400(alice_client: APIClient, body: str) -> None:
    response = alice_client.post(
        "/api/workflows/", body.encode("latin-1"), content_type="application/json"
    )
    assert error_of(response, 400)["code"] == "parse_error"


@pytest.mark.parametrize(
    ("payload", "field"),
    [
        ({"name": ["a list"]}, "name"),
        ({"name": {"an": "object"}}, "name"),
        ({"name": None}, "name"),
        ({"name": ""}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"name": "nul\x00"}, "name"),
        ({"name": 0}, "name"),
        ({"name": True}, "name"),
        ({"name": "   "}, "name"),
        ({"name": "ok", "description": 5}, "description"),
        ({"name": "ok", "workspace": "one"}, "workspace"),
        ({"name": "ok", "workspace": "1"}, "workspace"),
        ({"name": "ok", "workspace": 1.5}, "workspace"),
        ({"name": "ok", "note": "n" * 201}, "note"),
    ],
)
def test_wrong_types_are_field_errors(
    alice_client: APIClient, payload: dict[str, Any], field: str
) -> None:
    response = alice_client.post("/api/workflows/", payload, format="json")
    error = error_of(response, 400)
    assert error["code"] == "invalid"
    assert list(error["fields"]) == [field]


@pytest.mark.parametrize("workspace", [10**30, 987654, 0, -3])
def test_a_workspace_that_is_not_yours_is_404(alice_client: APIClient, workspace: int) -> None:
    # Well formed, but no workspace of yours: the same 404 as the id in a URL gets.
    payload = {"name": "ok", "workspace": workspace}
    response = alice_client.post("/api/workflows/", payload, format="json")
    error = error_of(response, 404)
    assert list(error["fields"]) == ["workspace"]


@pytest.mark.parametrize("body", [[1, 2], "a string", 42, None])
def test_a_body_that_is_not_an_object_is_400(alice_client: APIClient, body: Any) -> None:
    response = alice_client.post(
        "/api/workflows/", json.dumps(body), content_type="application/json"
    )
    assert error_of(response, 400)["code"] == "invalid"


@pytest.mark.parametrize(
    ("graph", "code"),
    [
        ("a string", "invalid_graph"),
        ([], "invalid_graph"),
        ({}, "invalid_graph"),
        ({"nodes": 1}, "invalid_graph"),
        ({"nodes": [], "edges": "none"}, "invalid_graph"),
        ({"nodes": [1, 2]}, "invalid_graph"),
        ({"nodes": [], "edges": [None]}, "invalid_graph"),
        ({"nodes": [{"id": "a", "type": "input", "label": "\x00"}]}, "invalid_graph"),
        ({"nodes": [{"id": "a", "type": "input", "config": {"\x00": 1}}]}, "invalid_graph"),
        ({"nodes": [], "deep": json.loads("[" * 40 + "]" * 40)}, "invalid_graph"),
        (
            {"nodes": [{"id": f"n{i}", "type": "input"} for i in range(MAX_NODES + 1)]},
            "too_many_nodes",
        ),
    ],
    ids=[
        "string",
        "list",
        "no-nodes",
        "nodes-not-list",
        "edges-not-list",
        "node-not-object",
        "edge-not-object",
        "nul-in-value",
        "nul-in-key",
        "too-deep",
        "too-many-nodes",
    ],
)
def test_a_graph_that_is_not_graph_shaped_is_refused(
    workflow: Workflow, alice_client: APIClient, graph: Any, code: str
) -> None:
    response = alice_client.put(f"/api/workflows/{workflow.id}/", {"graph": graph}, format="json")
    error = error_of(response, 400)
    assert error["code"] == code
    assert list(error["fields"]) == ["graph"]
    assert workflow.versions.count() == 1
    created = alice_client.post("/api/workflows/", {"name": "x", "graph": graph}, format="json")
    assert error_of(created, 400)["code"] == code


def test_a_deeply_nested_graph_still_validates(workflow: Workflow, alice_client: APIClient) -> None:
    deep = json.loads("[" * 500 + "]" * 500)
    graph = {"nodes": [{"id": "a", "type": "input", "config": {"fields": deep}}], "edges": []}
    response = alice_client.post(
        f"/api/workflows/{workflow.id}/validate/", {"graph": graph}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["valid"] is False


@pytest.mark.parametrize(
    "url",
    [
        f"/api/workflows/{uuid.uuid4()}/",
        "/api/workflows/not-a-uuid/",
        f"/api/workflows/{uuid.uuid4()}/versions/",
        "/api/workflows/{id}/versions/999/",
        "/api/workflows/{id}/versions/99999999999999999999/",
        "/api/workflows/{id}/versions/-1/",
        "/api/no-such-thing/",
        "/api/workflows/?page=999",
    ],
)
def test_unknown_ids_are_404(workflow: Workflow, alice_client: APIClient, url: str) -> None:
    response = alice_client.get(url.replace("{id}", str(workflow.id)))
    assert error_of(response, 404)["code"] == "not_found"


def test_a_bad_workspace_filter_is_400(alice_client: APIClient) -> None:
    response = alice_client.get("/api/workflows/?workspace=abc")
    assert list(error_of(response, 400)["fields"]) == ["workspace"]


def test_a_bad_base_version_is_a_field_error(workflow: Workflow, alice_client: APIClient) -> None:
    response = alice_client.put(
        f"/api/workflows/{workflow.id}/",
        {"graph": {"nodes": []}, "base_version": "yesterday"},
        format="json",
    )
    assert list(error_of(response, 400)["fields"]) == ["base_version"]


def test_a_form_body_is_415(alice_client: APIClient) -> None:
    response = alice_client.post("/api/workflows/", {"name": "x"})  # multipart by default
    assert error_of(response, 415)["code"] == "unsupported_media_type"


def test_a_wrong_method_is_405(alice_client: APIClient) -> None:
    response = alice_client.delete("/api/workflows/")
    assert error_of(response, 405)["code"] == "method_not_allowed"
