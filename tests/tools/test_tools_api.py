"""/api/workspaces/<id>/mcp-servers/, …/http-tools/ and …/tools/: a workspace's agent tools,
listed from real MCP servers, with roles, credentials and the operator's stdio servers."""

from __future__ import annotations

import json
from typing import Any

import pytest
from rest_framework.test import APIClient

from editor import credentials
from editor.models import AuditEntry, Membership, Role, Workspace
from tests.support.mcp_servers import TIME_SERVER, HttpServer, python_http


def servers_url(workspace: Workspace, *rest: str) -> str:
    return "/".join([f"/api/workspaces/{workspace.pk}/mcp-servers", *rest]) + "/"


def http_url(workspace: Workspace, *rest: str) -> str:
    return "/".join([f"/api/workspaces/{workspace.pk}/http-tools", *rest]) + "/"


def add(client: APIClient, workspace: Workspace, **body: Any) -> Any:
    return client.post(servers_url(workspace), body, format="json")


@pytest.fixture
def operator_time(monkeypatch: pytest.MonkeyPatch) -> None:
    servers = {"time": {"command": str(TIME_SERVER), "args": ["--local-timezone", "UTC"]}}
    monkeypatch.setenv("MCP_STDIO_SERVERS", json.dumps(servers))


def test_adding_a_server_lists_its_tools_with_their_schemas(
    alice_client: APIClient,
    alice_workspace: Workspace,
    py_server: HttpServer,
    loopback_allowed: None,
) -> None:
    response = add(alice_client, alice_workspace, name="py", url=py_server.url)
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["source"] == "workspace" and body["tools_error"] == ""
    tools = {tool["name"]: tool for tool in body["tools"]}
    assert tools["add"]["ref"] == "mcp:py/add"
    assert tools["add"]["input_schema"]["required"] == ["a", "b"]
    assert tools["add"]["problem"] is None
    assert "not valid JSON Schema" in tools["broken_schema"]["problem"]
    entry = AuditEntry.objects.get(action="mcp_server.created")
    assert entry.target_label == "py" and entry.detail["tools"] == len(body["tools"])
    # Listed for every member, refreshed on demand.
    again = alice_client.post(servers_url(alice_workspace, "py", "refresh"))
    assert again.status_code == 200 and len(again.json()["tools"]) == len(body["tools"])


def test_a_server_that_is_down_is_added_with_the_reason_and_refreshed_later(
    alice_client: APIClient, alice_workspace: Workspace, loopback_allowed: None
) -> None:
    with python_http() as server:
        url = server.url
    response = add(alice_client, alice_workspace, name="later", url=url)
    assert response.status_code == 201
    assert response.json()["tools"] == []
    assert "'later'" in response.json()["tools_error"]
    port = int(url.split(":")[2].split("/")[0])
    import sys

    from tests.support.mcp_servers import PYTHON_SERVER
    from tests.support.mcp_servers import HttpServer as Server

    revived = Server([sys.executable, str(PYTHON_SERVER), "--port", str(port)], port)
    try:
        refreshed = alice_client.post(servers_url(alice_workspace, "later", "refresh")).json()
    finally:
        revived.kill()
    assert refreshed["tools_error"] == "" and {t["name"] for t in refreshed["tools"]} >= {"add"}


def test_a_loopback_server_is_refused_by_the_outbound_guard_unless_allowed(
    alice_client: APIClient,
    alice_workspace: Workspace,
    py_server: HttpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OUTBOUND_ALLOWLIST", raising=False)
    body = add(alice_client, alice_workspace, name="py", url=py_server.url).json()
    assert "loopback address" in body["tools_error"]


def test_the_credential_is_sent_and_checked(
    alice: Any, alice_client: APIClient, alice_workspace: Workspace, loopback_allowed: None
) -> None:
    credentials.create_credential(
        workspace=alice_workspace,
        user=alice,
        name="mcp-key",
        kind="http_bearer",
        value="tok-0123456789abcdef",
    )
    credentials.create_credential(
        workspace=alice_workspace,
        user=alice,
        name="llm",
        kind="openai",
        value="sk-0123456789abcdef",
    )
    with python_http(token="tok-0123456789abcdef") as server:
        keyed = add(
            alice_client, alice_workspace, name="keyed", url=server.url, credential="mcp-key"
        )
        bare = add(alice_client, alice_workspace, name="bare", url=server.url)
    assert keyed.json()["tools_error"] == "" and keyed.json()["credential"] == "mcp-key"
    assert bare.json()["tools"] == [] and bare.json()["tools_error"]
    wrong = add(
        alice_client, alice_workspace, name="w", url="https://x.example/mcp", credential="llm"
    )
    assert wrong.status_code == 409 and "openai credential" in wrong.json()["error"]["message"]
    missing = add(
        alice_client, alice_workspace, name="m", url="https://x.example/mcp", credential="nope"
    )
    assert (
        missing.status_code == 404
        and "no credential named 'nope'" in missing.json()["error"]["message"]
    )
    assert "tok-0123456789" not in json.dumps([keyed.json(), bare.json()])


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"name": "bad name", "url": "https://x.example/mcp"}, "name"),
        ({"name": "x", "url": "ftp://x.example/mcp"}, "url"),
        ({"name": "x", "url": "https://user:pw@x.example/mcp"}, "url"),
        ({"name": "x", "url": 5}, "url"),
    ],
)
def test_bad_servers_are_refused_naming_the_field(
    alice_client: APIClient, alice_workspace: Workspace, body: dict[str, Any], field: str
) -> None:
    response = add(alice_client, alice_workspace, **body)
    assert response.status_code == 400, response.content
    assert field in response.json()["error"]["fields"]


def test_only_editors_change_servers_and_outsiders_see_nothing(
    alice_client: APIClient,
    bob: Any,
    bob_client: APIClient,
    charlie_client: APIClient,
    alice_workspace: Workspace,
) -> None:
    assert (
        add(alice_client, alice_workspace, name="s", url="https://x.invalid/mcp").status_code == 201
    )
    Membership.objects.filter(user=bob, workspace=alice_workspace).update(role=Role.VIEWER)
    assert bob_client.get(servers_url(alice_workspace)).status_code == 200
    assert (
        add(bob_client, alice_workspace, name="t", url="https://x.invalid/mcp").status_code == 403
    )
    assert bob_client.delete(servers_url(alice_workspace, "s")).status_code == 403
    assert bob_client.post(servers_url(alice_workspace, "s", "refresh")).status_code == 403
    assert charlie_client.get(servers_url(alice_workspace)).status_code == 404
    assert charlie_client.get(servers_url(alice_workspace, "s")).status_code == 404
    assert alice_client.delete(servers_url(alice_workspace, "s")).status_code == 204
    assert AuditEntry.objects.filter(action="mcp_server.deleted").count() == 1


def test_operator_stdio_servers_are_listed_read_only_and_never_made_from_the_api(
    alice_client: APIClient, alice_workspace: Workspace, operator_time: None
) -> None:
    listed = alice_client.get(servers_url(alice_workspace)).json()
    assert [(s["name"], s["source"], s["transport"]) for s in listed] == [
        ("time", "operator", "stdio")
    ]
    refreshed = alice_client.post(servers_url(alice_workspace, "time", "refresh")).json()
    assert {t["ref"] for t in refreshed["tools"]} == {
        "mcp:time/get_current_time",
        "mcp:time/convert_time",
    }
    # Its name is taken, it cannot be changed here, and a body cannot carry a command.
    assert (
        add(alice_client, alice_workspace, name="time", url="https://x.invalid/mcp").status_code
        == 409
    )
    assert alice_client.delete(servers_url(alice_workspace, "time")).status_code == 403
    sneaky = add(
        alice_client, alice_workspace, name="sh", url="https://x.invalid/mcp", command="sh"
    )
    assert sneaky.status_code == 201 and sneaky.json()["transport"] == "http"


def test_http_tools_are_checked_and_listed(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    body = {
        "name": "weather",
        "description": "The weather in a city",
        "url": "https://api.example.com/weather?city={{ city | urlencode }}",
        "parameters": {
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        "headers": {"Accept": "application/json"},
    }
    created = alice_client.post(http_url(alice_workspace), body, format="json")
    assert created.status_code == 201, created.content
    assert created.json()["ref"] == "http:weather" and created.json()["method"] == "GET"
    changed = alice_client.patch(
        http_url(alice_workspace, "weather"), {"method": "POST"}, format="json"
    )
    assert changed.json()["method"] == "POST"
    # Refused: what is not shaped right.
    for bad, field in [
        ({**body, "name": "w1", "url": "{{ base }}/x"}, "url"),
        ({**body, "name": "w2", "parameters": "not a schema"}, "parameters"),
        ({**body, "name": "bad name"}, "name"),
    ]:
        response = alice_client.post(http_url(alice_workspace), bad, format="json")
        assert response.status_code == 400, (bad, response.content)
        assert field in response.json()["error"]["fields"], response.json()
    # Kept, with the problem named: what is shaped right but cannot be called (as a draft flow).
    for kept, problem in [
        (
            {
                **body,
                "name": "p1",
                "parameters": {"type": "object", "properties": {"a": {"type": 3}}},
            },
            "parameters: the input schema is not valid JSON Schema",
        ),
        ({**body, "name": "p2", "url": "https://x/{{ a"}, "url: "),
        ({**body, "name": "p3", "headers": {"bad header": "x"}}, "headers: 'bad header'"),
    ]:
        response = alice_client.post(http_url(alice_workspace), kept, format="json")
        assert response.status_code == 201, (kept, response.content)
        assert response.json()["problem"].startswith(problem), response.json()
    assert created.json()["problem"] is None
    assert alice_client.post(http_url(alice_workspace), body, format="json").status_code == 409


def test_the_catalogue_offers_everything_a_worker_may_be_given(
    alice: Any,
    alice_client: APIClient,
    alice_workspace: Workspace,
    operator_time: None,
    py_server: HttpServer,
    loopback_allowed: None,
) -> None:
    from editor import operations

    add(alice_client, alice_workspace, name="py", url=py_server.url)
    alice_client.post(
        http_url(alice_workspace), {"name": "ping", "url": "https://x.example/"}, format="json"
    )
    graph = {
        "nodes": [
            {
                "id": "in",
                "type": "input",
                "config": {"fields": {"type": "object", "properties": {"q": {"type": "string"}}}},
            },
            {"id": "out", "type": "output", "config": {}},
        ],
        "edges": [{"id": "e", "source": "in", "target": "out"}],
    }
    flow = operations.create_workflow(
        workspace=alice_workspace, user=alice, name="Lookup", graph=graph
    )
    catalogue = alice_client.get(f"/api/workspaces/{alice_workspace.pk}/tools/").json()
    assert "calculator" in {t["ref"] for t in catalogue["builtin"]}
    assert {s["name"] for s in catalogue["mcp_servers"]} == {"py", "time"}
    assert [t["ref"] for t in catalogue["http_tools"]] == ["http:ping"]
    assert catalogue["workflows"] == [
        {
            "ref": f"workflow:{flow.pk}",
            "name": "Lookup",
            "workflow": str(flow.pk),
            "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
        }
    ]
