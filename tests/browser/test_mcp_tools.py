"""MCP in the browser, on the real stack: a worker's settings pick tools of an MCP server (the
official SDK's server on loopback, as tests/tools uses), the run calls them on a Celery worker
and the step inspector shows each call live (running, then its result); and /settings/tools
serves a workflow as a tool of the workspace's own MCP endpoint."""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright.sync_api import Page, expect

from editor import operations, workspace_tools
from editor.models import Workflow, Workspace
from tests.support.mcp_servers import HttpServer, python_http
from tests.support.vendor_server import Completion, ToolCalls, VendorServer

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"
ANSWER = "The sum is 42."


@pytest.fixture
def mcp_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[HttpServer]:
    # Listing its tools happens in this process when the server is added: loopback admitted here
    # as the browser tests' worker admits it (tests/browser/conftest.py).
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")
    with python_http() as server:
        yield server


def add_server(workspace: Workspace, user: User, name: str, url: str) -> None:
    """Add the server as /settings/tools does. Adding lists its tools with asyncio.run, which
    cannot run on this thread while Playwright's loop does: it runs on a thread of its own
    (with a database connection of its own, closed after)."""

    def add() -> None:
        try:
            workspace_tools.create_server(workspace, user=user, name=name, url=url)
        finally:
            connection.close()

    with ThreadPoolExecutor(1) as pool:
        pool.submit(add).result()


def workspace_of(user: User) -> Workspace:
    return Workspace.objects.get(memberships__user=user, memberships__role="owner")


def test_a_worker_picks_mcp_tools_and_the_inspector_shows_the_calls_live(
    app: Page, alice: User, vendor: VendorServer, mcp_server: HttpServer
) -> None:
    page = app
    workspace = workspace_of(alice)
    add_server(workspace, alice, "py", mcp_server.url)
    graph = {
        "nodes": [
            {"id": "in", "type": "input", "label": "Brief", "position": {"x": 0, "y": 0}},
            {
                "id": "agent",
                "type": "worker",
                "label": "Agent",
                "position": {"x": 300, "y": 0},
                "config": {"model": MODEL, "instructions": "Add the numbers", "stream": False},
            },
            {"id": "out", "type": "output", "label": "Answer", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "a", "source": "in", "target": "agent"},
            {"id": "b", "source": "agent", "target": "out"},
        ],
    }
    flow = operations.create_workflow(user=alice, workspace=workspace, name="Adder", graph=graph)

    # -- the worker's Tools setting offers the server's tools; pick two and save
    page.goto(f"/workflows/{flow.pk}")
    page.get_by_test_id("node-agent").locator(".node-label").click()
    panel = page.get_by_test_id("settings-panel")
    group = panel.get_by_test_id("tool-group-mcp:py")
    expect(group).to_contain_text("MCP · py")
    group.get_by_test_id("tool-mcp:py/slow").check()
    group.get_by_test_id("tool-mcp:py/add").check()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    saved = Workflow.objects.get(pk=flow.pk).current_version.graph
    agent = next(n for n in saved["nodes"] if n["id"] == "agent")
    assert agent["config"]["tools"] == ["mcp:py/slow", "mcp:py/add"]

    # -- run: the model calls both; the slow one is seen running before it answers
    vendor.push(
        ToolCalls(
            [
                # long enough to be seen running after the page opens the step on a loaded
                # machine, inside the 30 s a call may take
                {"id": "s", "name": "slow", "arguments": {"seconds": 25}},
                {"id": "a", "name": "add", "arguments": {"a": 40, "b": 2}},
            ]
        ),
        Completion(ANSWER),
    )
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "sums"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{flow.pk}/runs/[^/?]+$"))
    agent_card = page.get_by_test_id("node-agent")
    expect(agent_card).to_have_attribute("data-status", "running")
    agent_card.locator(".node-label").click()
    page.get_by_test_id("run-tab-step").click()
    detail = page.get_by_test_id("step-detail")
    calls = detail.get_by_test_id("step-tool-calls")
    expect(calls.get_by_test_id("tool-call-status-slow")).to_have_text("running", timeout=15_000)
    expect(calls.get_by_test_id("tool-call-slow")).to_contain_text("MCP")
    expect(calls.get_by_test_id("tool-call-args-slow")).to_contain_text('"seconds": 25')
    # A page opened while the call runs reads it from the run's detail (its start is below the
    # detail's last seq, so the socket does not send it again).
    page.reload()
    page.get_by_test_id("node-agent").locator(".node-label").click()
    page.get_by_test_id("run-tab-step").click()
    expect(calls.get_by_test_id("tool-call-status-slow")).to_have_text("running")
    expect(calls.get_by_test_id("tool-call-args-slow")).to_contain_text('"seconds": 25')

    expect(page.get_by_test_id("run-status")).to_contain_text(
        re.compile("succeeded", re.I), timeout=60_000
    )
    expect(calls.get_by_test_id("tool-call-status-slow")).to_have_text("succeeded")
    expect(calls.get_by_test_id("tool-call-status-add")).to_have_text("succeeded")
    expect(calls.get_by_test_id("tool-call-result-add")).to_have_text("42.0")
    expect(calls.get_by_test_id("tool-call-args-add")).to_contain_text('"a": 40')
    expect(calls).to_contain_text("Tool calls · 2")
    page.get_by_test_id("run-tab-output").click()
    expect(page.get_by_test_id("run-output")).to_contain_text(ANSWER)


def test_settings_serve_a_workflow_over_mcp_and_show_the_client_configuration(
    app: Page, alice: User
) -> None:
    page = app
    workspace = workspace_of(alice)
    graph = {
        "nodes": [
            {"id": "in", "type": "input", "config": {}},
            {"id": "out", "type": "output", "config": {}},
        ],
        "edges": [{"id": "a", "source": "in", "target": "out"}],
    }
    flow = operations.create_workflow(
        user=alice, workspace=workspace, name="Brief writer", graph=graph
    )
    page.goto("/settings/tools")
    section = page.get_by_test_id("mcp-endpoint")
    url = section.get_by_test_id("mcp-endpoint-url")
    expect(url).to_have_text(re.compile(rf"^http://[^/]+/mcp/{workspace.pk}/$"))
    row = section.get_by_test_id(f"mcp-served-{flow.pk}")
    expect(row).to_contain_text("Brief writer as brief_writer")
    toggle = section.get_by_test_id(f"mcp-serve-{flow.pk}")
    expect(toggle).not_to_be_checked()
    toggle.click()  # the box follows the answer, so it changes once the server has it
    expect(toggle).to_be_checked()
    expect(page.get_by_text("“Brief writer” is served as brief_writer.")).to_be_visible()
    assert Workflow.objects.get(pk=flow.pk).mcp_exposed is True
    section.get_by_text("Client configuration").click()
    config = json.loads(section.get_by_test_id("mcp-endpoint-config").inner_text())
    assert config["mcpServers"]["flows"]["url"] == url.inner_text()
    assert config["mcpServers"]["flows"]["headers"]["Authorization"].startswith("Bearer ")
    # It stays served after a reload, and turning it off stops it.
    page.reload()
    expect(section.get_by_test_id(f"mcp-serve-{flow.pk}")).to_be_checked()
    section.get_by_test_id(f"mcp-serve-{flow.pk}").click()
    expect(section.get_by_test_id(f"mcp-serve-{flow.pk}")).not_to_be_checked()
    expect(page.get_by_text("“Brief writer” is no longer served.")).to_be_visible()
    assert Workflow.objects.get(pk=flow.pk).mcp_exposed is False
