"""Tools on the real stack: a worker on a Celery worker calls an MCP tool (a real server), an
HTTP tool (a loopback API) and a workflow tool in one run; the calls are Event rows, live and
in the log; a server killed mid-call is an error result and the run goes on."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from editor import workspace_tools
from editor.models import Workspace
from orchestrator.models import Event, Run, Step
from tests.orchestrator.conftest import chain, finished, make_workflow, node, start_run
from tests.support.echo_server import EchoServer
from tests.support.mcp_servers import python_http
from tests.support.stack import CeleryWorker, Stack
from tests.support.vendor_server import Completion, ToolCalls, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
MODEL = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def tool_worker(stack: Stack) -> Iterator[CeleryWorker]:
    """A worker whose outbound guard admits loopback, where the test servers listen."""
    with stack.worker(concurrency=2, env={"OUTBOUND_ALLOWLIST": "127.0.0.1"}) as worker:
        yield worker


def lookup_flow() -> dict[str, Any]:
    return {
        "nodes": [
            node(
                "in",
                "input",
                fields={
                    "type": "object",
                    "properties": {"q": {"type": "string"}},
                    "required": ["q"],
                },
            ),
            node("look", "worker", model="local/echo", instructions="Look up {{ input.q }}"),
            node("out", "output"),
        ],
        "edges": [
            {"id": "a", "source": "in", "target": "look"},
            {"id": "b", "source": "look", "target": "out"},
        ],
    }


def tool_events(run_id: str) -> list[dict[str, Any]]:
    return [
        e.data for e in Event.objects.filter(run_id=run_id, type="step.tool_call").order_by("seq")
    ]


def test_a_worker_calls_an_mcp_an_http_and_a_workflow_tool_in_one_run(
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
    vendor: VendorServer,
    tool_worker: CeleryWorker,
    loopback_allowed: None,  # for listing the tools in this process
) -> None:
    with python_http() as mcp_server, EchoServer() as echo:
        workspace_tools.create_server(alice_workspace, user=alice, name="py", url=mcp_server.url)
        workspace_tools.create_http_tool(
            alice_workspace,
            user=alice,
            data={
                "name": "search",
                "url": echo.url("/echo?q={{ q | urlencode }}"),
                "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
            },
        )
        lookup = make_workflow(alice, alice_workspace, lookup_flow(), name="Lookup")
        graph = chain(
            node("brief", "input"),
            node(
                "agent",
                "worker",
                model=MODEL,
                stream=False,
                tools=["mcp:py/add", "http:search", f"workflow:{lookup.pk}"],
            ),
            node("result", "output"),
        )
        flow = make_workflow(alice, alice_workspace, graph, name="Research with tools")
        vendor.push(
            ToolCalls(
                [
                    {"id": "m", "name": "add", "arguments": {"a": 40, "b": 2}},
                    {"id": "h", "name": "search", "arguments": {"q": "tidal power"}},
                    {"id": "w", "name": "Lookup", "arguments": {"q": "tides"}},
                ]
            ),
            Completion("All three tools answered."),
        )
        run_id = start_run(api, flow, {"topic": "tides"})
        run = finished(run_id, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.output == "All three tools answered."
    done = {e["id"]: e for e in tool_events(run_id) if e["status"] != "running"}
    assert done["m"]["result"] == "42.0" and done["m"]["kind"] == "mcp"
    assert done["h"]["status"] == "succeeded" and "tidal power" in done["h"]["result"]
    assert done["w"]["status"] == "succeeded" and "tides" in done["w"]["result"]
    assert echo.requests[-1].query == {"q": ["tidal power"]}
    # The workflow's steps are child steps of the call, the calling step's child: its model
    # call is counted there (and in the run), not again on the calling step.
    step = Step.objects.get(run_id=run_id, key="agent")
    assert set(step.by_model) == {MODEL}
    look = Step.objects.get(run_id=run_id, key="agent/Lookup.1/look")
    assert look.model == "local/echo" and look.parent.parent_id == step.pk
    assert "local/echo" in Run.objects.get(pk=run_id).by_model
    assert all(e["duration_ms"] >= 0 for e in done.values())
    # A page that opens the run later reads the calls from its detail, each as it ended, in
    # the order they were made.
    detail = api.get(f"/api/runs/{run_id}/").json()
    agent = next(s for s in detail["steps"] if s["id"] == "agent")
    assert [(c["id"], c["status"]) for c in agent["tool_calls"]] == [
        ("m", "succeeded"),
        ("h", "succeeded"),
        ("w", "succeeded"),
    ]
    assert agent["tool_calls"][0]["result"] == "42.0"
    assert next(s for s in detail["steps"] if s["id"] == "brief")["tool_calls"] == []


def test_a_server_killed_mid_call_gives_an_error_result_and_the_run_goes_on(
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
    vendor: VendorServer,
    tool_worker: CeleryWorker,
    loopback_allowed: None,  # for listing the tools in this process
) -> None:
    with python_http() as mcp_server:
        workspace_tools.create_server(alice_workspace, user=alice, name="py", url=mcp_server.url)
        graph = chain(
            node("brief", "input"),
            node(
                "agent",
                "worker",
                model=MODEL,
                stream=False,
                tools=["mcp:py/slow", "calculator"],
                tool_timeout=60,
            ),
            node("result", "output"),
        )
        flow = make_workflow(alice, alice_workspace, graph, name="Killed")
        vendor.push(
            ToolCalls([{"id": "s", "name": "slow", "arguments": {"seconds": 30}}]),
            Completion("Went on without it."),
        )
        run_id = start_run(api, flow, {})
        # Kill the server once the call is under way (its running event is in the log).
        from tests.support.stack import wait_until

        wait_until(lambda: tool_events(run_id), 30, "the tool call to start")
        mcp_server.kill()
        run = finished(run_id, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.output == "Went on without it."
    failed = [e for e in tool_events(run_id) if e["status"] == "failed"]
    assert len(failed) == 1 and failed[0]["tool"] == "slow" and "py" in failed[0]["error"]
