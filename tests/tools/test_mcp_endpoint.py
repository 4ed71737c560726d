"""A workspace's workflows served over MCP, on the real stack: the official SDK's client talks
streamable HTTP to Daphne (/mcp/<workspace id>/) with an API token, lists the workflows the
workspace chose, and a call is a run on real Celery workers whose output is the tool's result.
A failed run is an error result with the run's error; a run stopped at an approval gate answers
that it waits, with its URL; no token, a bad one, an outsider's and a viewer's are refused;
a workflow not served is neither listed nor callable."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import Any

import httpx
import httpx2
import pytest
from django.contrib.auth.models import User
from mcp import Client
from mcp.client.streamable_http import streamable_http_client
from mcp.shared.exceptions import MCPError
from mcp_types.version import LATEST_MODERN_VERSION

from editor import mcp_exposure
from editor.models import AuditEntry, Membership, Role, Workflow, Workspace
from editor.tokens import issue_token
from orchestrator.models import Approval, Run
from tests.orchestrator.conftest import chain, edge, finished, make_workflow, node
from tests.support.stack import CeleryWorker, Daphne
from tests.support.vendor_server import Completion, Delay, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

TOPIC_FIELDS = {
    "type": "object",
    "properties": {"topic": {"type": "string", "description": "What the brief is about"}},
    "required": ["topic"],
}
INITIALIZE = {
    "jsonrpc": "2.0",
    "id": 1,
    "method": "initialize",
    "params": {
        "protocolVersion": "2025-06-18",
        "capabilities": {},
        "clientInfo": {"name": "curl", "version": "1"},
    },
}
MCP_ACCEPT = {"Accept": "application/json, text/event-stream"}


class _TokenTransport:
    """The SDK's streamable-HTTP transport with an ``Authorization`` header, as an MCP client
    configured with a token sends it."""

    def __init__(self, url: str, authorization: str) -> None:
        self.url = url
        self.http = httpx2.AsyncClient(headers={"Authorization": authorization}, timeout=60)

    @contextlib.asynccontextmanager
    async def _open(self) -> Any:
        async with self.http, streamable_http_client(self.url, http_client=self.http) as streams:
            yield streams

    async def __aenter__(self) -> Any:
        self._cm = self._open()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)


@contextlib.asynccontextmanager
async def mcp_client(
    url: str, token: str, scheme: str = "Bearer", mode: Any = "auto"
) -> AsyncIterator[Client]:
    transport = _TokenTransport(url, f"{scheme} {token}")
    async with Client(transport, cache=None, mode=mode) as client:
        yield client


def endpoint(daphne: Daphne, workspace: Workspace) -> str:
    return daphne.url + mcp_exposure.ENDPOINT_PATH.format(workspace=workspace.pk)


def secret_of(user: User) -> str:
    return issue_token(user, "mcp client")[1]


def served(workflow: Workflow, user: User) -> Workflow:
    return mcp_exposure.set_exposed(workflow, True, user=user, via="session")


@pytest.fixture(scope="module")
def workers(stack: Any) -> Iterator[CeleryWorker]:
    with stack.worker(concurrency=2) as worker:
        yield worker


def brief_writer(alice: User, workspace: Workspace) -> Workflow:
    graph = chain(
        node("in", "input", fields=TOPIC_FIELDS),
        node("write", "transform", template="A brief on {{ input.topic }}."),
        node("out", "output"),
    )
    flow = make_workflow(alice, workspace, graph, name="Brief writer!")
    flow.description = "Writes a one-line brief on a topic."
    flow.save(update_fields=["description"])
    return served(flow, alice)


def test_a_client_lists_the_served_workflows_and_a_call_answers_with_the_runs_output(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne, workers: CeleryWorker
) -> None:
    flow = brief_writer(alice, alice_workspace)
    hidden = make_workflow(
        alice, alice_workspace, chain(node("in", "input"), node("out", "output")), name="Internal"
    )
    secret = secret_of(alice)

    async def session() -> tuple[Any, Any, Any, str]:
        async with mcp_client(endpoint(stack_daphne, alice_workspace), secret) as client:
            listed = await client.list_tools()
            result = await client.call_tool("brief_writer", {"topic": "tidal power"})
            with pytest.raises(MCPError) as refused:
                await client.call_tool("internal", {})
            return listed, result, refused.value, client.protocol_version

    listed, result, refused, version = asyncio.run(session())
    assert version == LATEST_MODERN_VERSION  # the newest protocol, no initialize handshake
    assert [t.name for t in listed.tools] == ["brief_writer"]
    tool = listed.tools[0]
    assert tool.title == "Brief writer!"
    assert tool.description == "Writes a one-line brief on a topic."
    assert tool.input_schema == TOPIC_FIELDS
    assert result.is_error is False, result.content
    assert [c.text for c in result.content] == ["A brief on tidal power."]
    # A normal run: the token's user started it, with its audit entry naming the MCP tool.
    run = Run.objects.get(workflow=flow)
    assert run.status == "succeeded" and run.output == "A brief on tidal power."
    assert run.created_by == alice and run.input == {"topic": "tidal power"}
    assert result.meta["flowbuilder/run"]["run"] == str(run.pk)
    assert result.meta["flowbuilder/run"]["url"].endswith(f"/workflows/{flow.pk}/runs/{run.pk}")
    entry = AuditEntry.objects.get(action="run.started", target_id=str(run.pk))
    assert entry.via == "token" and entry.detail["mcp_tool"] == "brief_writer"
    # The unserved workflow is not callable either, and nothing ran.
    assert "internal" in refused.message
    assert not Run.objects.filter(workflow=hidden).exists()


def test_the_api_tokens_own_scheme_works_too_and_an_object_output_is_structured(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne, workers: CeleryWorker
) -> None:
    graph = chain(
        node("in", "input", fields=TOPIC_FIELDS),
        node(
            "shape", "transform", template='{"topic": "{{ input.topic }}", "n": 3}', parse_json=True
        ),
        node("out", "output"),
    )
    served(make_workflow(alice, alice_workspace, graph, name="Shape"), alice)

    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)

    async def call() -> Any:
        async with mcp_client(url, secret, scheme="Token") as client:
            return await client.call_tool("shape", {"topic": "tides"})

    result = asyncio.run(call())
    assert result.is_error is False, result.content
    assert result.structured_content == {"topic": "tides", "n": 3}


def test_a_client_on_the_initialize_handshake_is_served_the_same(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne, workers: CeleryWorker
) -> None:
    """Clients written for the 2025 protocol versions open with initialize; the endpoint
    (stateless) answers them as it answers the newer single-request protocol."""
    brief_writer(alice, alice_workspace)
    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)

    async def session() -> tuple[str, list[str], Any]:
        async with mcp_client(url, secret, mode="legacy") as client:
            tools = [t.name for t in (await client.list_tools()).tools]
            result = await client.call_tool("brief_writer", {"topic": "eels"})
            return client.protocol_version, tools, result

    version, tools, result = asyncio.run(session())
    assert version.startswith("2025-")
    assert tools == ["brief_writer"]
    assert result.is_error is False and result.content[0].text == "A brief on eels."


def test_a_failed_run_is_an_error_result_with_the_runs_error(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne, workers: CeleryWorker
) -> None:
    graph = chain(
        node("in", "input", fields=TOPIC_FIELDS),
        node("parse", "transform", template="not JSON: {{ input.topic }}", parse_json=True),
        node("out", "output"),
    )
    flow = served(make_workflow(alice, alice_workspace, graph, name="Parse"), alice)
    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)

    async def call() -> Any:
        async with mcp_client(url, secret) as client:
            return await client.call_tool("parse", {"topic": "tides"})

    result = asyncio.run(call())
    assert result.is_error is True
    run = Run.objects.get(workflow=flow)
    assert run.status == "failed"
    text = result.content[0].text
    assert text.startswith("the run of 'Parse' failed at step 'parse': ")
    assert run.error["message"] in text and str(run.pk) in text
    assert result.structured_content["error"]["step"] == "parse"
    assert result.meta["flowbuilder/run"]["run"] == str(run.pk)


def test_arguments_that_do_not_fit_the_input_fields_start_nothing_and_name_the_field(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne
) -> None:
    flow = brief_writer(alice, alice_workspace)
    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)

    async def call() -> Any:
        async with mcp_client(url, secret) as client:
            return await client.call_tool("brief_writer", {"subject": "tides"})

    result = asyncio.run(call())
    assert result.is_error is True
    assert "input.topic" in result.content[0].text
    assert result.structured_content["status"] == "refused"
    assert "input.topic" in result.structured_content["fields"]
    assert not Run.objects.filter(workflow=flow).exists()


def test_a_run_that_waits_for_approval_answers_that_it_waits_with_its_url(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne, workers: CeleryWorker
) -> None:
    graph = {
        "nodes": [
            node("in", "input", fields=TOPIC_FIELDS),
            node("gate", "approval", prompt="Publish the brief on {{ input.topic }}?"),
            node("out", "output"),
        ],
        "edges": [edge("in", "gate"), edge("gate", "out", "approved")],
    }
    flow = served(make_workflow(alice, alice_workspace, graph, name="Publish"), alice)

    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)

    async def call() -> Any:
        async with mcp_client(url, secret) as client:
            return await client.call_tool("publish", {"topic": "tides"})

    result = asyncio.run(call())
    run = Run.objects.get(workflow=flow)
    assert run.status == "waiting"
    assert result.is_error is False
    assert result.structured_content["status"] == "waiting"
    assert result.structured_content["run"] == str(run.pk)
    text = result.content[0].text
    assert "waiting for a person" in text and "Publish the brief on tides?" in text
    assert f"/workflows/{flow.pk}/runs/{run.pk}" in text
    # The gate still waits for a person, as any run's does.
    assert Approval.objects.get(run=run).status == "pending"


def _post(url: str, headers: dict[str, str] | None = None, extra: str = "") -> httpx.Response:
    body = (
        {**INITIALIZE, "params": {**INITIALIZE["params"], "padding": extra}}
        if extra
        else INITIALIZE
    )
    return httpx.post(url, json=body, headers={**MCP_ACCEPT, **(headers or {})}, trust_env=False)


def test_no_token_a_bad_token_an_outsider_and_a_viewer_are_refused(
    alice: User,
    alice_workspace: Workspace,
    charlie: User,
    stack_daphne: Daphne,
) -> None:
    brief_writer(alice, alice_workspace)
    url = endpoint(stack_daphne, alice_workspace)
    unauthenticated = _post(url)
    assert unauthenticated.status_code == 401
    assert unauthenticated.headers["WWW-Authenticate"].startswith("Bearer")
    assert unauthenticated.json()["error"]["code"] == "not_authenticated"
    assert _post(url, {"Authorization": "Bearer fbt_not-a-token"}).status_code == 401
    # Charlie's token is good, but not for alice's workspace: it is not there for him.
    outsider = _post(url, {"Authorization": f"Bearer {secret_of(charlie)}"})
    assert outsider.status_code == 404
    Membership.objects.create(user=charlie, workspace=alice_workspace, role=Role.VIEWER)
    viewer = _post(url, {"Authorization": f"Bearer {secret_of(charlie)}"})
    assert viewer.status_code == 403
    assert "viewer" in viewer.json()["error"]["message"]

    async def sdk_without_token() -> None:
        async with Client(url, cache=None) as client:
            await client.list_tools()

    # The SDK's own client, given no token, does not get in either.
    with pytest.raises(Exception):  # noqa: B017 (the SDK wraps the 401 in its own errors)
        asyncio.run(sdk_without_token())
    assert not Run.objects.exists()


def test_the_same_token_in_another_workspace_sees_that_workspaces_tools(
    alice: User, alice_workspace: Workspace, bob: User, stack_daphne: Daphne
) -> None:
    """bob edits in alice's workspace and owns his own: each URL serves its own workspace."""
    brief_writer(alice, alice_workspace)
    from editor.operations import ensure_personal_workspace

    own = ensure_personal_workspace(bob)
    served(make_workflow(bob, own, chain(node("in", "input"), node("out", "output")), "Echo"), bob)
    secret = secret_of(bob)

    async def listing(workspace: Workspace) -> list[str]:
        async with mcp_client(endpoint(stack_daphne, workspace), secret) as client:
            return [t.name for t in (await client.list_tools()).tools]

    assert asyncio.run(listing(alice_workspace)) == ["brief_writer"]
    assert asyncio.run(listing(own)) == ["echo"]


def slow_flow(alice: User, workspace: Workspace, name: str) -> Workflow:
    """A worker on the stack's scripted vendor: as slow as the test makes its answer."""
    graph = chain(
        node("in", "input", fields=TOPIC_FIELDS),
        node("agent", "worker", model="openai/gpt-4o-mini", stream=False),
        node("out", "output"),
    )
    return served(make_workflow(alice, workspace, graph, name=name), alice)


def test_a_long_call_reports_progress_to_a_client_that_asks(
    alice: User,
    alice_workspace: Workspace,
    stack_daphne: Daphne,
    workers: CeleryWorker,
    vendor: VendorServer,
) -> None:
    slow_flow(alice, alice_workspace, "Slow")
    vendor.push(Delay(3, Completion("Done slowly.")))
    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)
    progress: list[tuple[float, str | None]] = []

    async def on_progress(done: float, total: float | None, message: str | None) -> None:
        progress.append((done, message))

    async def call() -> Any:
        async with mcp_client(url, secret) as client:
            return await client.call_tool("slow", {"topic": "x"}, progress_callback=on_progress)

    result = asyncio.run(call())
    assert result.is_error is False and result.content[0].text == "Done slowly."
    # At least the input step had ended while the worker waited on its model.
    assert (1, "1 step(s) done") in progress


@pytest.fixture(scope="module")
def strict_daphne(stack: Any) -> Iterator[Daphne]:
    """A web process that waits 1 s for a call's run and takes bodies of at most 3,000 bytes."""
    with stack.daphne(env={"MCP_CALL_TIMEOUT": "1", "MAX_REQUEST_BYTES": "3000"}) as daphne:
        yield daphne


def test_a_run_still_going_at_the_timeout_answers_that_it_goes_on(
    alice: User,
    alice_workspace: Workspace,
    strict_daphne: Daphne,
    workers: CeleryWorker,
    vendor: VendorServer,
) -> None:
    flow = slow_flow(alice, alice_workspace, "Slow")
    vendor.push(Delay(4, Completion("Done later.")))
    url, secret = endpoint(strict_daphne, alice_workspace), secret_of(alice)

    async def call() -> Any:
        async with mcp_client(url, secret) as client:
            return await client.call_tool("slow", {"topic": "x"})

    result = asyncio.run(call())
    assert result.is_error is False
    assert result.structured_content["status"] == "running"
    run_id = result.structured_content["run"]
    assert "still running after 1 s and goes on" in result.content[0].text
    assert result.structured_content["api"].endswith(f"/api/runs/{run_id}/")
    # The run was not stopped by the call's end: it finishes on its own.
    assert finished(run_id, timeout=30).output == "Done later."
    assert Run.objects.get(pk=run_id).workflow == flow


def test_a_body_or_an_output_over_the_size_limit_is_refused_and_nothing_is_lost(
    alice: User, alice_workspace: Workspace, strict_daphne: Daphne, workers: CeleryWorker
) -> None:
    graph = chain(
        node("in", "input", fields=TOPIC_FIELDS),
        node("double", "transform", template="{{ input.topic }}{{ input.topic }}"),
        node("out", "output"),
    )
    flow = served(make_workflow(alice, alice_workspace, graph, name="Double"), alice)
    url, secret = endpoint(strict_daphne, alice_workspace), secret_of(alice)
    big = _post(url, {"Authorization": f"Bearer {secret}"}, extra="x" * 4000)
    assert big.status_code == 413

    async def call() -> Any:
        async with mcp_client(url, secret) as client:
            return await client.call_tool("double", {"topic": "y" * 2000})

    result = asyncio.run(call())
    assert result.is_error is True
    text = result.content[0].text
    assert "succeeded, but its output (4000 bytes) is larger than this server sends" in text
    run = Run.objects.get(workflow=flow)
    assert run.status == "succeeded" and run.output == "y" * 4000  # kept, readable from the API
    assert f"/api/runs/{run.pk}/" in text


def test_a_call_may_carry_the_runs_budget_as_the_api_does(
    alice: User,
    alice_workspace: Workspace,
    stack_daphne: Daphne,
    workers: CeleryWorker,
    vendor: VendorServer,
) -> None:
    flow = slow_flow(alice, alice_workspace, "Slow")
    vendor.push(Completion("Too dear.", prompt_tokens=50, completion_tokens=50))
    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)

    async def call(budget: Any) -> Any:
        async with mcp_client(url, secret) as client:
            meta = {"flowbuilder/budget": budget}
            return await client.call_tool("slow", {"topic": "x"}, meta=meta)

    refused = asyncio.run(call({"max_tokens": -1}))
    assert refused.is_error is True
    assert "flowbuilder/budget.max_tokens" in refused.structured_content["fields"]
    assert not Run.objects.filter(workflow=flow).exists()

    result = asyncio.run(call({"max_tokens": 10}))
    run = Run.objects.get(workflow=flow)
    assert run.budget == {"max_tokens": 10}
    assert run.status == "failed" and result.is_error is True
    assert run.error["message"] in result.content[0].text
