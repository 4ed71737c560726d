"""``/mcp/<workspace id>/``: a workspace's chosen workflows as the tools of an MCP server.

An MCP client (an IDE, a desktop assistant, another agent framework) points at the URL over
streamable HTTP with an API token (``Authorization: Bearer <token>``, or ``Token <token>`` as
the API takes it), lists the workflows the workspace serves (editor.mcp_exposure) and calls
them. The official ``mcp`` SDK's server speaks the protocol; this module authenticates each
request before the SDK sees it, and answers a call with a run.

- **Who.** A token acts as its user, as in the API. No token, or a bad, expired or deleted one:
  401. A workspace the user is not a member of: 404, as the API answers outsiders. A member
  whose role may not start runs (a viewer): 403. Checked on every request: the server is
  stateless (no MCP session kept between requests), so any web process can answer any request
  and a deleted token or a changed role counts at once.
- **A call is a normal run.** ``runs.start_run`` as the token's user, ``via`` token, the audit
  entry saying which MCP tool started it: visible live in the app, in the workflow's runs, and
  charged as any other run; ``_meta["flowbuilder/budget"]`` gives it a budget as the API's
  ``budget`` does. The arguments are the run input, checked as any run's input is;
  a start that is refused (arguments that do not fit, a version that cannot run) is an error
  result naming the fields, and nothing runs.
- **The answer.** The call waits (polling the run's row off the event loop) until the run ends,
  at most MCP_CALL_TIMEOUT seconds (default 300): its output is the result (text; an object is
  also the structured content), a failed or cancelled run is an error result with the run's
  error. A run that waits for a person (an approval gate) is not waited for: the result says so,
  with the prompt, the run's page and where its output will be, and so does a run still going
  when the time is up. Neither is an error: the run is fine and goes on.
- **Sizes.** A request body above MAX_REQUEST_BYTES is refused (413) before it is read; an output
  larger than that is not sent back: the result names the run's API URL to fetch it from.

The SDK's session manager needs a task group that outlives requests; Daphne has no ASGI
lifespan, so it is started in the web process's event loop on the first request and lives as
long as the process.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
from collections.abc import Awaitable, Callable, Mapping, MutableMapping
from dataclasses import dataclass
from typing import Any

import mcp_types as types
from channels.db import database_sync_to_async
from django.conf import settings
from mcp.server.lowlevel.server import Server
from mcp.server.streamable_http_manager import StreamableHTTPSessionManager
from mcp.shared.exceptions import MCPError
from rest_framework import exceptions

from editor.access import PERMISSIONS, VERBS, role_in
from editor.authentication import TOKEN_KIND, authenticate_secret
from editor.errors import OperationError
from editor.mcp_exposure import ServedTool, served_tools
from editor.models import Workflow
from orchestrator import runs, tracing
from orchestrator.models import Approval, Run, Step
from orchestrator.serializers import BudgetSerializer
from runtime.events import FINISHED_STEP_STATUSES

log = logging.getLogger(__name__)

Scope = MutableMapping[str, Any]
ASGIReceiveCallable = Callable[[], Awaitable[MutableMapping[str, Any]]]
ASGISendCallable = Callable[[MutableMapping[str, Any]], Awaitable[None]]

PATH = re.compile(r"^/mcp/(?P<workspace>[0-9]{1,18})/?$")
SCOPE_KEY = "flowbuilder.mcp_caller"
FINISHED = frozenset({"succeeded", "failed", "cancelled"})
# A call may carry the run's budget, as the runs API's body does: {"max_tokens", "max_cost"}.
BUDGET_META = "flowbuilder/budget"
# How often a call looks at its run: soon at first (most runs are short), then less often, up
# to once a second (bench/mcp_endpoint.py: a short run's call costs about what starting it
# through the REST API and polling every 20 ms does).
FIRST_POLL, POLL_GROWTH, LAST_POLL = 0.05, 1.5, 1.0


@dataclass(frozen=True, slots=True)
class Caller:
    """Who is calling, into which workspace, and how the app's pages are reached from there."""

    user: Any
    workspace_id: int
    base_url: str  # scheme://host of the request, for the links a result carries


def is_mcp_path(path: str) -> bool:
    return path == "/mcp" or path.startswith("/mcp/")


# -- authentication, before the SDK ----------------------------------------------------------------


def _secret_of(scope: Scope) -> str | None:
    for name, value in scope.get("headers", []):
        if name.lower() == b"authorization":
            scheme, _, secret = value.decode("latin-1").strip().partition(" ")
            if scheme.lower() in ("bearer", "token") and secret.strip():
                return secret.strip()
            return None
    return None


@database_sync_to_async
def _caller_or_refusal(
    secret: str | None, workspace_id: int, base_url: str
) -> Caller | tuple[int, str, str]:
    """The caller, or (status, code, message) saying why not."""
    if secret is None:
        return (
            401,
            "not_authenticated",
            ("send an API token of yours (/settings/tokens) as 'Authorization: Bearer <token>'"),
        )
    if not secret.startswith(TOKEN_KIND):
        return 401, "authentication_failed", "Invalid token."
    try:
        user, _token = authenticate_secret(secret)
    except exceptions.AuthenticationFailed as exc:
        return 401, "authentication_failed", str(exc.detail)
    role = role_in(user, workspace_id)
    if role is None:
        return 404, "not_found", "no such workspace of yours"
    if role not in PERMISSIONS["run"]:
        return (
            403,
            "permission_denied",
            (
                f"your role in this workspace ({role}) may not {VERBS['run']}, which is what "
                f"a call does; that takes {' or '.join(sorted(PERMISSIONS['run']))}"
            ),
        )
    return Caller(user=user, workspace_id=workspace_id, base_url=base_url)


def _base_url(scope: Scope) -> str:
    host = next((v.decode("latin-1") for k, v in scope.get("headers", []) if k == b"host"), "")
    if not host and scope.get("server"):
        server_host, port = scope["server"]
        host = f"{server_host}:{port}"
    return f"{scope.get('scheme', 'http')}://{host}"


async def _refuse(send: ASGISendCallable, status: int, code: str, message: str) -> None:
    # The API's error shape; WWW-Authenticate tells an MCP client what a 401 wants.
    body = json.dumps({"error": {"code": code, "message": message}}).encode()
    headers = [(b"content-type", b"application/json"), (b"content-length", str(len(body)).encode())]
    if status == 401:
        headers.append((b"www-authenticate", b'Bearer realm="flowbuilder"'))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body, "more_body": False})


class McpEndpoint:
    """The ASGI app of ``/mcp/…``: checks the caller, then hands the request to the SDK."""

    def __init__(self) -> None:
        self._manager: asyncio.Future[StreamableHTTPSessionManager] | None = None
        self._task: asyncio.Task[None] | None = None

    async def __call__(
        self, scope: Scope, receive: ASGIReceiveCallable, send: ASGISendCallable
    ) -> None:
        match = PATH.match(scope["path"])
        if match is None:
            await _refuse(send, 404, "not_found", "an MCP endpoint is /mcp/<workspace id>/")
            return
        found = await _caller_or_refusal(
            _secret_of(scope), int(match["workspace"]), _base_url(scope)
        )
        if not isinstance(found, Caller):
            await _refuse(send, *found)
            return
        manager = await self._started()
        # The SDK hands handlers the request, and so this scope (ServerRequestContext.request).
        await manager.handle_request({**scope, SCOPE_KEY: found}, receive, send)

    async def _started(self) -> StreamableHTTPSessionManager:
        if self._manager is None:
            loop = asyncio.get_running_loop()
            self._manager = loop.create_future()
            self._task = loop.create_task(self._serve(self._manager))
        return await asyncio.shield(self._manager)

    async def _serve(self, ready: asyncio.Future[StreamableHTTPSessionManager]) -> None:
        manager = StreamableHTTPSessionManager(
            app=SERVER,
            # Stateless: nothing of a client is kept between requests, so any web process
            # answers any request and each one is authenticated afresh.
            stateless=True,
            max_request_body_size=settings.DATA_UPLOAD_MAX_MEMORY_SIZE,
        )
        try:
            async with manager.run():
                ready.set_result(manager)
                await asyncio.Event().wait()  # for as long as the process serves
        except Exception as exc:
            log.exception("the MCP endpoint stopped")
            if not ready.done():
                ready.set_exception(exc)
            self._manager = None  # the next request starts it again


# -- the tools -------------------------------------------------------------------------------------


def _caller(ctx: Any) -> Caller:
    request = getattr(ctx, "request", None)
    caller = request.scope.get(SCOPE_KEY) if request is not None else None
    if not isinstance(caller, Caller):  # only reachable through McpEndpoint, which sets it
        raise MCPError(types.INVALID_REQUEST, "not authenticated")
    return caller


async def list_tools(
    ctx: Any, params: types.PaginatedRequestParams | None
) -> types.ListToolsResult:
    caller = _caller(ctx)
    tools = await database_sync_to_async(served_tools)(caller.workspace_id)
    return types.ListToolsResult(
        tools=[
            types.Tool(
                name=tool.name,
                title=tool.workflow_name,
                description=tool.description,
                input_schema=tool.input_schema,
            )
            for tool in tools
        ]
    )


def _tool(workspace_id: int, name: str) -> ServedTool | None:
    return next((t for t in served_tools(workspace_id) if t.name == name), None)


def _budget(params: types.CallToolRequestParams) -> dict[str, Any] | None:
    """The run's budget from the call's ``_meta`` (as the runs API takes it in its body), checked
    by the same serializer; OperationError naming the fields when it does not fit."""
    meta = params.meta if isinstance(params.meta, dict) else {}
    raw = meta.get(BUDGET_META)
    if raw is None:
        return None
    checked = BudgetSerializer(data=raw)
    if not checked.is_valid():
        fields = checked.errors if isinstance(checked.errors, dict) else {}
        raise OperationError(
            f"_meta[{BUDGET_META!r}] is not a budget",
            fields={
                f"{BUDGET_META}.{name}": [str(message) for message in messages]
                for name, messages in fields.items()
            }
            or {BUDGET_META: ["an object of max_tokens, max_cost, downgrade_at"]},
            code="invalid_budget",
        )
    return dict(checked.validated_data) or None


def _start(
    caller: Caller,
    tool: ServedTool,
    arguments: dict[str, Any],
    budget: dict[str, Any] | None,
    headers: Mapping[str, str],
) -> Run:
    # No version named: the published one when there is one (Workflow.trigger_version).
    workflow = Workflow.objects.select_related(
        "workspace", "current_version", "published_version"
    ).get(pk=tool.workflow_id)
    # The call's span (a child of the client's traceparent) is current while the run starts,
    # so the run is in the client's trace, as a run started through the API is.
    with tracing.incoming_call(
        headers,
        f"tools/call {tool.name}",
        {"rpc.system": "jsonrpc", "rpc.method": "tools/call", "gen_ai.tool.name": tool.name},
    ):
        return runs.start_run(
            workflow,
            arguments,
            actor=caller.user,
            via="token",
            budget=budget,
            audit={"mcp_tool": tool.name},
        )


async def call_tool(ctx: Any, params: types.CallToolRequestParams) -> types.CallToolResult:
    caller = _caller(ctx)
    tool = await database_sync_to_async(_tool)(caller.workspace_id, params.name)
    if tool is None:
        # An unknown name is a protocol error (the spec's -32602), not a tool's failure.
        raise MCPError(types.INVALID_PARAMS, f"this server has no tool named {params.name!r}")
    try:
        budget = _budget(params)
        request = getattr(ctx, "request", None)
        headers = dict(request.headers) if request is not None else {}
        run = await database_sync_to_async(_start)(
            caller, tool, dict(params.arguments or {}), budget, headers
        )
    except OperationError as exc:
        # Refused before anything ran (arguments that do not fit its input fields, a version
        # that cannot run): the fields' problems are what the caller needs to fix its call.
        problems = "; ".join(
            f"{field}: {' '.join(messages)}" for field, messages in (exc.fields or {}).items()
        )
        shown = f"{exc.message} ({problems})" if problems else exc.message
        return _error(
            f"the workflow {tool.workflow_name!r} did not start: {shown}",
            {"status": "refused", "code": exc.code, "fields": exc.fields or {}},
        )
    links = _links(caller, run)
    outcome = await _outcome(ctx, run.pk, settings.MCP_CALL_TIMEOUT)
    return _result(tool, outcome, links)


# -- waiting for the run ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Outcome:
    status: str
    output: Any = None
    error: Any = None
    prompts: tuple[str, ...] = ()


def _look(run_id: Any) -> tuple[_Outcome, int]:
    """The run as it stands, and how many of its steps have ended (for progress)."""
    status, output, error = Run.objects.values_list("status", "output", "error").get(pk=run_id)
    prompts: tuple[str, ...] = ()
    if status == "waiting":
        prompts = tuple(
            Approval.objects.filter(run_id=run_id, status="pending")
            .order_by("created_at")
            .values_list("prompt", flat=True)
        )
    done = 0
    if status not in FINISHED:
        done = Step.objects.filter(run_id=run_id, status__in=FINISHED_STEP_STATUSES).count()
    return _Outcome(status, output, error, prompts), done


async def _outcome(ctx: Any, run_id: Any, timeout: float) -> _Outcome:
    """The run once it ended or waits for a person, or as it stands after ``timeout``."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    pause, reported = FIRST_POLL, -1
    while True:
        outcome: _Outcome
        outcome, done = await database_sync_to_async(_look)(run_id)
        if outcome.status in FINISHED or outcome.status == "waiting" or loop.time() >= deadline:
            return outcome
        if done != reported:
            reported = done
            # A no-op unless the client asked for progress; it also keeps a proxy from
            # closing a long, quiet response.
            await ctx.session.report_progress(done, message=f"{done} step(s) done")
        await asyncio.sleep(min(pause, max(0.0, deadline - loop.time())))
        pause = min(pause * POLL_GROWTH, LAST_POLL)


def _links(caller: Caller, run: Run) -> dict[str, str]:
    base = caller.base_url
    return {
        "run": str(run.pk),
        "url": f"{base}/workflows/{run.workflow_id}/runs/{run.pk}",
        "api": f"{base}/api/runs/{run.pk}/",
    }


def _error(text: str, structured: dict[str, Any] | None = None) -> types.CallToolResult:
    ran = structured is not None and "run" in structured
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=structured,
        meta={"flowbuilder/run": structured} if ran else None,
        is_error=True,
    )


def _result(tool: ServedTool, outcome: _Outcome, links: dict[str, str]) -> types.CallToolResult:
    name = tool.workflow_name
    state = {**links, "status": outcome.status}
    if outcome.status == "succeeded":
        output = outcome.output
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        if len(text.encode()) > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
            return _error(
                f"the run of {name!r} succeeded, but its output ({len(text.encode())} bytes) is "
                f"larger than this server sends ({settings.DATA_UPLOAD_MAX_MEMORY_SIZE} bytes); "
                f"read it from {links['api']} with the same token",
                state,
            )
        return types.CallToolResult(
            content=[types.TextContent(type="text", text=text)],
            structured_content=output if isinstance(output, dict) else None,
            meta={"flowbuilder/run": state},
            is_error=False,
        )
    if outcome.status in ("failed", "cancelled"):
        error = outcome.error if isinstance(outcome.error, dict) else {}
        where = f" at step {error['step']!r}" if error.get("step") else ""
        message = error.get("message") or ""
        cause = f": {message}" if message else ""
        return _error(
            f"the run of {name!r} {outcome.status}{where}{cause} (run {links['url']})",
            {**state, "error": error or None},
        )
    if outcome.status == "waiting":
        asked = "; ".join(p for p in outcome.prompts if p) or "an approval"
        text = (
            f"the run of {name!r} is waiting for a person to decide: {asked}. It goes on once "
            f"someone who may approve decides, at {links['url']} (or in the app's approvals); "
            f"its output will then be at {links['api']}."
        )
    else:
        text = (
            f"the run of {name!r} is still {outcome.status} after {settings.MCP_CALL_TIMEOUT:g} s "
            f"and goes on: follow it at {links['url']}; its output will be at {links['api']}."
        )
    return types.CallToolResult(
        content=[types.TextContent(type="text", text=text)],
        structured_content=state,
        meta={"flowbuilder/run": state},
        is_error=False,
    )


SERVER: Server[Any] = Server(
    "flowbuilder",
    instructions="Each tool runs a workflow of this workspace and answers with its output.",
    on_list_tools=list_tools,
    on_call_tool=call_tool,
)
