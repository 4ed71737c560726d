"""Traces of a run on real processes: Daphne and a Celery worker export their spans over
OTLP/HTTP to a loopback receiver (tests/support/otlp_receiver.py), which decodes the protobuf.

The run is started through the API with a caller's ``traceparent``; the test checks the tree
(the request's server span under the caller's span, the run's span under it, every step's span
under the run's, each model and tool call under its step), the names, the GenAI attributes,
that the model calls carried ``traceparent`` to the vendor, and that no secret is in any span.
"""

from __future__ import annotations

import asyncio
import json
import secrets
import uuid
from collections.abc import Iterator
from typing import Any

import httpx
import httpx2
import pytest
from django.contrib.auth.models import User
from django.urls import resolve
from mcp import Client
from mcp.client.streamable_http import streamable_http_client

from editor import mcp_exposure
from editor.models import Workspace
from editor.tokens import issue_token
from orchestrator.models import Run, Step
from tests.orchestrator.conftest import edge, finished, make_workflow, node
from tests.support.otlp_receiver import OtlpReceiver, ReceivedSpan
from tests.support.stack import CeleryWorker, Daphne, Stack, wait_until
from tests.support.vendor_server import (
    Completion,
    HTTPError,
    RecordedRequest,
    ToolCalls,
    VendorServer,
)

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

SERVER, INTERNAL, CLIENT = 2, 1, 3  # the protocol's SpanKind numbers


@pytest.fixture(scope="module")
def receiver() -> Iterator[OtlpReceiver]:
    with OtlpReceiver() as found:
        yield found


@pytest.fixture(scope="module")
def traced(stack: Stack, receiver: OtlpReceiver) -> Iterator[tuple[Daphne, CeleryWorker]]:
    """Daphne and a worker exporting spans to the receiver (batches sent every 100 ms)."""
    env = {
        "OTEL_EXPORTER_OTLP_ENDPOINT": receiver.endpoint,
        "OTEL_BSP_SCHEDULE_DELAY": "100",
        "OTEL_SERVICE_NAME": "flowbuilder-tests",
    }
    with stack.daphne(env=env) as web, stack.worker(concurrency=2, env=env) as worker:
        yield web, worker


@pytest.fixture
def client(alice: User, traced: tuple[Daphne, CeleryWorker]) -> Iterator[httpx.Client]:
    _, token = issue_token(alice, "tracing")
    with httpx.Client(
        base_url=traced[0].url,
        headers={"Authorization": f"Token {token}"},
        timeout=15,
        trust_env=False,
    ) as found:
        yield found


def of_trace(receiver: OtlpReceiver, trace_id: str, names: set[str]) -> dict[str, ReceivedSpan]:
    """Wait for spans named ``names`` in the trace; every span of it by name (names unique)."""

    def spans() -> dict[str, ReceivedSpan] | None:
        found = {s.name: s for s in receiver.received() if s.trace_id == trace_id}
        return found if names <= set(found) else None

    return wait_until(spans, 20, f"spans {sorted(names)} of trace {trace_id}", interval=0.1)


def test_a_run_is_one_trace_under_the_callers_span(
    client: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    receiver: OtlpReceiver,
) -> None:
    vendor.push(
        ToolCalls([{"id": "c1", "name": "calculator", "arguments": {"expression": "6*7"}}]),
        Completion("42", prompt_tokens=9, completion_tokens=2),
    )
    graph = {
        "nodes": [
            node("in", "input"),
            node(
                "agent",
                "worker",
                model="openai/trace-model",
                instructions="What is 6*7?",
                tools=["calculator"],
                stream=False,
            ),
            node("shout", "transform", template="{{ upstream }}!"),
            node("out", "output"),
        ],
        "edges": [edge("in", "agent"), edge("agent", "shout"), edge("shout", "out")],
    }
    workflow = make_workflow(alice, alice_workspace, graph, name="Traced")
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    started = client.post(
        f"/api/workflows/{workflow.id}/runs/",
        json={"input": {}},
        headers={"traceparent": f"00-{caller_trace}-{caller_span}-01"},
    )
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    assert finished(run_id).status == "succeeded"
    assert client.get(f"/api/runs/{run_id}/").json()["trace_id"] == caller_trace

    steps = {"step in", "step agent", "step shout", "step out"}
    calls = {"chat trace-model", "execute_tool calculator"}
    spans = of_trace(receiver, caller_trace, {"run Traced", *steps, *calls})
    server = next(s for s in spans.values() if s.kind == SERVER)
    run = spans["run Traced"]
    # The tree: caller → request → run → steps → model and tool calls.
    assert server.parent_span_id == caller_span
    route = "/" + resolve(f"/api/workflows/{workflow.id}/runs/").route
    assert server.name == f"POST {route}"
    assert server.attributes["http.route"] == route
    assert server.attributes["http.response.status_code"] == 201
    assert run.parent_span_id == server.span_id
    assert run.attributes["flowbuilder.run.id"] == run_id
    assert run.attributes["flowbuilder.run.status"] == "succeeded"
    assert run.attributes["gen_ai.usage.input_tokens"] == 5 + 9
    # The run's span is exported when the run ends (by the worker whose step ended it), and
    # spans the run: it starts before its request answered and ends after its last step.
    assert run.resource["flowbuilder.process"] == "worker"
    assert run.start_ns <= server.end_ns
    for name in steps:
        assert spans[name].parent_span_id == run.span_id, name
        assert run.start_ns <= spans[name].start_ns, name
        assert spans[name].end_ns <= run.end_ns, name
        assert spans[name].resource["flowbuilder.process"] == "worker"
        assert spans[name].resource["service.name"] == "flowbuilder-tests"
    agent = spans["step agent"]
    keys = dict(Step.objects.filter(run_id=run_id).values_list("node_id", "key"))
    assert agent.attributes["flowbuilder.step.key"] == keys["agent"]
    assert agent.attributes["flowbuilder.node.type"] == "worker"
    assert agent.attributes["flowbuilder.step.status"] == "succeeded"
    assert agent.attributes["gen_ai.usage.input_tokens"] == 5 + 9
    assert agent.attributes["gen_ai.usage.output_tokens"] == 5 + 2

    # Two model calls (the tool call's turn, then the answer) and one tool call, under the step.
    model_calls = [
        s for s in receiver.received() if s.trace_id == caller_trace and s.name.startswith("chat ")
    ]
    assert len(model_calls) == 2
    for call in model_calls:
        assert call.parent_span_id == agent.span_id
        assert call.kind == CLIENT
        assert call.attributes["gen_ai.operation.name"] == "chat"
        assert call.attributes["gen_ai.provider.name"] == "openai"
        assert call.attributes["gen_ai.request.model"] == "trace-model"
        assert call.attributes["gen_ai.response.model"] == "trace-model"
        assert "flowbuilder.cost_usd" in call.attributes
    by_tokens = sorted(
        (c.attributes["gen_ai.usage.input_tokens"], c.attributes["gen_ai.usage.output_tokens"])
        for c in model_calls
    )
    assert by_tokens == [(5, 5), (9, 2)]
    tool = spans["execute_tool calculator"]
    assert tool.parent_span_id == agent.span_id
    assert tool.attributes["gen_ai.operation.name"] == "execute_tool"
    assert tool.attributes["gen_ai.tool.call.id"] == "c1"
    assert tool.status_code != 2

    # Each model call carried its own span's context to the vendor.
    sent = [request.headers.get("traceparent", "") for request in vendor.requests]
    assert sorted(sent) == sorted(f"00-{caller_trace}-{c.span_id}-01" for c in model_calls)


def test_no_secret_is_in_any_span(
    client: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    receiver: OtlpReceiver,
) -> None:
    value = f"sk-spancheck-{uuid.uuid4().hex}"

    def answer(request: RecordedRequest) -> Any:
        return HTTPError(401, message=f"Incorrect API key provided: {value}")

    vendor.respond_with(answer)
    made = client.post(
        f"/api/workspaces/{alice_workspace.pk}/credentials/",
        json={
            "name": "vendor-key",
            "kind": "openai",
            "value": value,
            "config": {"base_url": vendor.url},
        },
    )
    assert made.status_code == 201, made.text
    graph = {
        "nodes": [
            node("in", "input"),
            node(
                "bad",
                "worker",
                model="openai/span-bad",
                instructions="Say hi",
                credential="vendor-key",
                stream=False,
                retry={"max_attempts": 1},
            ),
            node("out", "output"),
        ],
        "edges": [edge("in", "bad"), edge("bad", "out")],
    }
    workflow = make_workflow(alice, alice_workspace, graph, name="Span leak check")
    started = client.post(f"/api/workflows/{workflow.id}/runs/", json={"input": {}})
    run_id = started.json()["id"]
    assert finished(run_id).status == "failed"
    trace_id = client.get(f"/api/runs/{run_id}/").json()["trace_id"]
    names = {"run Span leak check", "step bad", "chat span-bad"}
    spans = of_trace(receiver, trace_id, names)
    assert vendor.requests[0].headers["authorization"] == f"Bearer {value}"  # it was used
    assert spans["run Span leak check"].attributes["flowbuilder.run.status"] == "failed"
    for name in sorted(names):
        assert spans[name].status_code == 2, name
        assert "[redacted]" in spans[name].status_message, spans[name].status_message
    assert spans["chat span-bad"].attributes["error.type"]
    every_byte = b"".join(receiver.raw)
    assert value.encode() not in every_byte
    assert value not in json.dumps([s.__dict__ for s in receiver.received()], default=str)


def test_a_workflow_called_over_mcp_runs_in_the_clients_trace(
    traced: tuple[Daphne, CeleryWorker],
    alice: User,
    alice_workspace: Workspace,
    receiver: OtlpReceiver,
) -> None:
    graph = {
        "nodes": [
            node("in", "input"),
            node("echo", "transform", template="hi"),
            node("out", "output"),
        ],
        "edges": [edge("in", "echo"), edge("echo", "out")],
    }
    workflow = make_workflow(alice, alice_workspace, graph, name="Served")
    mcp_exposure.set_exposed(workflow, True, user=alice, via="session")
    tool = next(
        t
        for t in mcp_exposure.served_tools(alice_workspace.pk)
        if t.workflow_id == str(workflow.pk)
    )
    _, token = issue_token(alice, "mcp tracing")
    caller_trace, caller_span = secrets.token_hex(16), secrets.token_hex(8)
    url = traced[0].url + mcp_exposure.ENDPOINT_PATH.format(workspace=alice_workspace.pk)

    async def call() -> Any:
        headers = {
            "Authorization": f"Bearer {token}",
            "traceparent": f"00-{caller_trace}-{caller_span}-01",
        }
        async with (
            httpx2.AsyncClient(headers=headers, timeout=60) as http,
            Client(_Transport(url, http), cache=None) as client,
        ):
            return await client.call_tool(tool.name, {})

    result = asyncio.run(call())
    assert not result.is_error, result
    run = Run.objects.get(workflow=workflow)
    assert run.trace_parent.split("-")[1] == caller_trace
    spans = of_trace(receiver, caller_trace, {f"tools/call {tool.name}", "run Served", "step echo"})
    served_call = spans[f"tools/call {tool.name}"]
    assert served_call.kind == SERVER
    assert served_call.parent_span_id == caller_span
    assert served_call.attributes["gen_ai.tool.name"] == tool.name
    assert spans["run Served"].parent_span_id == served_call.span_id
    assert spans["step echo"].parent_span_id == spans["run Served"].span_id


class _Transport:
    """The SDK's streamable-HTTP transport over a given client (its headers: the token and the
    caller's traceparent)."""

    def __init__(self, url: str, http: Any) -> None:
        self.url, self.http = url, http

    async def __aenter__(self) -> Any:
        self._streams = streamable_http_client(self.url, http_client=self.http)
        return await self._streams.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._streams.__aexit__(*exc)
