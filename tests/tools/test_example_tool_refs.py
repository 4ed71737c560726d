"""Importing an example whose workers call other examples as tools (``workflow:<example>``):
the references are pointed at copies imported beside it, as sub-flow nodes are, one copy per
example however it is named; references to nothing an example answers stay as written."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import AuditEntry, Workflow

pytestmark = pytest.mark.django_db

REPO = Path(__file__).resolve().parents[2]


def nodes_of(body: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {n["id"]: n for n in body["graph"]["nodes"]}


def test_the_shipped_research_with_tools_points_its_workflow_tool_at_an_imported_fact_check(
    alice: User, alice_client: APIClient
) -> None:
    response = alice_client.post("/api/examples/research-with-tools/import/", {}, format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    nodes = nodes_of(body)
    (tool,) = nodes["check"]["config"]["tools"]
    kind, _, workflow_id = tool.partition(":")
    assert kind == "workflow"
    copy = Workflow.objects.get(pk=workflow_id)
    fact_check = json.loads((REPO / "examples" / "fact-check.json").read_text())
    assert copy.name == fact_check["meta"]["title"]
    assert copy.workspace_id == body["workspace"]
    assert copy.current_version.graph["nodes"] == fact_check["nodes"]
    # The other tools are not examples and are left as written; the flow is valid as saved.
    assert nodes["clock"]["config"]["tools"] == ["mcp:time/get_current_time"]
    assert nodes["search"]["config"]["tools"] == ["http:search"]
    assert body["valid"] is True
    entry = AuditEntry.objects.get(action="workflow.imported", target_id=workflow_id)
    assert entry.detail == {"example": "fact-check", "subflow_of": body["id"]}


def test_one_copy_per_example_whether_named_by_tools_or_a_subflow(
    alice: User, alice_client: APIClient, settings: Any, tmp_path: Path
) -> None:
    settings.EXAMPLES_DIR = tmp_path
    helper = {
        "meta": {"title": "Helper"},
        "nodes": [
            {"id": "in", "type": "input", "config": {}},
            {"id": "out", "type": "output", "config": {}},
        ],
        "edges": [{"id": "e", "source": "in", "target": "out"}],
    }
    (tmp_path / "helper.json").write_text(json.dumps(helper))
    worker = {"model": "local", "instructions": "Use the helper"}
    main = {
        "meta": {"title": "Main"},
        "nodes": [
            {"id": "in", "type": "input", "config": {}},
            {
                "id": "a",
                "type": "worker",
                "config": {**worker, "tools": ["workflow:helper", "calculator", "workflow:nope"]},
            },
            {"id": "b", "type": "worker", "config": {**worker, "tools": ["workflow:helper"]}},
            {"id": "sub", "type": "subflow", "config": {"workflow": "helper"}},
            {"id": "out", "type": "output", "config": {}},
        ],
        "edges": [
            {"id": "1", "source": "in", "target": "a"},
            {"id": "2", "source": "a", "target": "b"},
            {"id": "3", "source": "b", "target": "sub"},
            {"id": "4", "source": "sub", "target": "out"},
        ],
    }
    (tmp_path / "main.json").write_text(json.dumps(main))
    response = alice_client.post("/api/examples/main/import/", {}, format="json")
    assert response.status_code == 201, response.json()
    nodes = nodes_of(response.json())
    copies = Workflow.objects.filter(name="Helper")
    assert copies.count() == 1
    helper_id = str(copies.get().pk)
    assert nodes["a"]["config"]["tools"] == [f"workflow:{helper_id}", "calculator", "workflow:nope"]
    assert nodes["b"]["config"]["tools"] == [f"workflow:{helper_id}"]
    assert nodes["sub"]["config"]["workflow"] == helper_id


def test_an_example_that_calls_itself_as_a_tool_is_left_as_written(
    alice: User, alice_client: APIClient, settings: Any, tmp_path: Path
) -> None:
    settings.EXAMPLES_DIR = tmp_path
    loop = {
        "meta": {"title": "Loop"},
        "nodes": [
            {"id": "in", "type": "input", "config": {}},
            {"id": "w", "type": "worker", "config": {"model": "local", "tools": ["workflow:loop"]}},
        ],
        "edges": [{"id": "1", "source": "in", "target": "w"}],
    }
    (tmp_path / "loop.json").write_text(json.dumps(loop))
    response = alice_client.post("/api/examples/loop/import/", {}, format="json")
    assert response.status_code == 201, response.json()
    assert nodes_of(response.json())["w"]["config"]["tools"] == ["workflow:loop"]
    assert Workflow.objects.count() == 1
