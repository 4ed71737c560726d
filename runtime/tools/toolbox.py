"""The tools of one worker step: what its references name, offered to the model, and every call
run so that a failure stays with that call.

:meth:`Toolbox.open` turns the worker's ``tools`` references (:mod:`runtime.tools.refs`) into
the tools the model is shown. A reference that cannot be served (a server or workflow that is
gone, a tool whose schema is not valid JSON Schema) is still offered, under its name, with an
open schema and a description saying why; calling it answers that reason. A server that cannot
list its tools leaves ``mcp:<server>/*`` empty and says so in an event. So the list never
breaks: one bad server, tool or schema costs only itself.

:meth:`Toolbox.call` runs one call: arguments checked against the schema, then the tool, within
the step's time limit per call, its result at most ``max_result_chars`` (a larger result is an
error result telling the model to ask for less). Whatever happens is an answer for the model,
never an exception, and two events record it live (``step.tool_call``: running, then succeeded
or failed, with the arguments, the result or error and the duration).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from runtime import telemetry
from runtime.errors import BudgetExceededError, StepError
from runtime.flows import Flow
from runtime.providers.base import ToolSpec
from runtime.tools.base import ToolOutcome, ToolRegistry
from runtime.tools.context import ToolCallContext
from runtime.tools.credentials import CredentialKindError
from runtime.tools.http_tool import HttpToolError, call_http_tool
from runtime.tools.mcp_client import McpConnection, McpToolError
from runtime.tools.refs import ALL_TOOLS, ToolRef, model_name, parse_ref
from runtime.tools.specs import McpServerSpec, StaticToolDefinitions, ToolInfo
from runtime.tools.workflow_tool import (
    WorkflowToolError,
    call_workflow,
    description_of,
    parameters_of,
)

OPEN_SCHEMA: dict[str, Any] = {"type": "object", "properties": {}}
# What an event keeps of arguments and results (the model got the whole result).
EVENT_TEXT_CHARS = 4_000
LIST_TIMEOUT = 30.0


@dataclass(frozen=True)
class ToolLimits:
    max_calls: int = 5
    timeout: float = 30.0  # seconds per call
    max_result_chars: int = 20_000


Runner = Callable[[dict[str, Any], str], Awaitable[tuple[bool, str]]]


@dataclass
class OfferedTool:
    name: str  # what the model calls it
    ref: ToolRef
    description: str
    parameters: dict[str, Any]
    run: Runner | None  # None: unavailable, for ``problem``
    problem: str = ""
    kind_label: str = field(default="")

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


def _schema_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "its input schema is not a JSON object"
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"its input schema is not valid JSON Schema: {exc.message}"
    if schema.get("type", "object") != "object":
        return "its input schema does not describe an object of arguments"
    return None


def _clip(text: str, limit: int = EVENT_TEXT_CHARS) -> str:
    return text if len(text) <= limit else text[:limit] + f"… [{len(text):,} characters]"


class Toolbox:
    """``async with Toolbox(ctx, refs, limits) as box:`` then ``box.specs``, ``box.call``."""

    def __init__(
        self,
        ctx: ToolCallContext,
        refs: Sequence[str],
        limits: ToolLimits,
        registry: ToolRegistry,
    ) -> None:
        self.ctx = ctx
        self.refs = list(refs)
        self.limits = limits
        self.registry = registry
        self.offered: dict[str, OfferedTool] = {}
        self.calls = 0
        self._connections: dict[str, McpConnection] = {}

    async def __aenter__(self) -> Toolbox:
        await self.open()
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.aclose()

    @property
    def specs(self) -> list[ToolSpec]:
        return [tool.spec() for tool in self.offered.values()]

    # -- what the references name --------------------------------------------------------------

    async def open(self) -> None:
        for text in self.refs:
            ref = parse_ref(text)
            if ref.kind == "builtin":
                self._builtin(ref)
            elif ref.kind == "mcp":
                await self._mcp(ref)
            elif ref.kind == "http":
                await self._http(ref)
            else:
                await self._workflow(ref)

    def _offer(self, tool: OfferedTool) -> None:
        name, n = tool.name, 2
        while name in self.offered:
            name = f"{tool.name[:60]}_{n}"
            n += 1
        tool.name = name
        self.offered[name] = tool

    def _unavailable(self, ref: ToolRef, name: str, problem: str) -> None:
        self._offer(
            OfferedTool(
                model_name(name),
                ref,
                f"Unavailable: {problem}",
                dict(OPEN_SCHEMA),
                None,
                problem,
            )
        )

    def _definitions(self) -> Any:
        return getattr(self.ctx.services, "tool_definitions", None) or StaticToolDefinitions()

    def _builtin(self, ref: ToolRef) -> None:
        tool = self.registry.get(ref.name)
        if tool is None:
            self._unavailable(ref, ref.name, f"there is no built-in tool {ref.name!r}")
            return
        allowed = [ref.name]

        async def run(arguments: dict[str, Any], _call_id: str) -> tuple[bool, str]:
            outcome: ToolOutcome = await self.registry.run(ref.name, arguments, allowed)
            # The registry words its errors for the model already; the toolbox adds the prefix.
            return outcome.ok, outcome.content.removeprefix("Error: ")

        self._offer(OfferedTool(tool.name, ref, tool.description, dict(tool.parameters), run))

    def _mcp_name(self, server: str, tool: str) -> str:
        # A tool's own name, unless another server's tool has it already.
        name = model_name(tool)
        return model_name(f"{server}_{tool}") if name in self.offered else name

    async def _mcp(self, ref: ToolRef) -> None:
        label = self._mcp_name(ref.name, ref.tool) if ref.tool != ALL_TOOLS else ref.name
        try:
            # The app's definitions read the database: off the event loop.
            spec: McpServerSpec = await asyncio.to_thread(self._definitions().mcp_server, ref.name)
        except StepError as exc:
            self._unavailable(ref, label, str(exc))
            return
        tools = spec.tools
        if tools is None:
            try:
                tools = tuple(await self._connection(spec).list_tools(LIST_TIMEOUT))
            except (McpToolError, CredentialKindError, StepError) as exc:
                if ref.tool == ALL_TOOLS:
                    await self._record_problem(ref, str(exc))
                else:
                    self._unavailable(ref, label, str(exc))
                return
        chosen: list[ToolInfo] = [
            info for info in tools if ref.tool == ALL_TOOLS or info.name == ref.tool
        ]
        if not chosen and ref.tool != ALL_TOOLS:
            have = ", ".join(sorted(info.name for info in tools)) or "none"
            self._unavailable(
                ref, label, f"MCP server {spec.name!r} has no tool {ref.tool!r} (it has: {have})"
            )
            return
        for info in chosen:
            self._offer_mcp_tool(ref, spec, info)

    def _offer_mcp_tool(self, ref: ToolRef, spec: McpServerSpec, info: ToolInfo) -> None:
        one = ToolRef("mcp", spec.name, info.name)
        name = self._mcp_name(spec.name, info.name)
        problem = _schema_problem(info.input_schema)
        if problem is not None:
            self._unavailable(one, name, f"tool {info.name!r} of {spec.name!r}: {problem}")
            return

        async def run(arguments: dict[str, Any], _call_id: str) -> tuple[bool, str]:
            connection = self._connection(spec)
            return await connection.call_tool(info.name, arguments, self.limits.timeout)

        description = info.description or f"Tool {info.name} of the MCP server {spec.name}"
        self._offer(OfferedTool(name, one, description, dict(info.input_schema), run))

    def _connection(self, spec: McpServerSpec) -> McpConnection:
        found = self._connections.get(spec.name)
        if found is None:
            secret = self.ctx.services.secrets.get(spec.credential) if spec.credential else None
            found = McpConnection(spec, secret)
            self._connections[spec.name] = found
        return found

    async def _http(self, ref: ToolRef) -> None:
        try:
            spec = await asyncio.to_thread(self._definitions().http_tool, ref.name)
        except StepError as exc:
            self._unavailable(ref, ref.name, str(exc))
            return
        problem = _schema_problem(spec.parameters)
        if problem is not None:
            self._unavailable(ref, spec.name, f"HTTP tool {spec.name!r}: {problem}")
            return

        async def run(arguments: dict[str, Any], _call_id: str) -> tuple[bool, str]:
            secret = self.ctx.services.secrets.get(spec.credential) if spec.credential else None
            return await call_http_tool(
                spec,
                arguments,
                secret=secret,
                timeout=self.limits.timeout,
                idempotency_key=self.ctx.idempotency_key,
            )

        description = spec.description or f"{spec.method} {spec.url}"
        self._offer(
            OfferedTool(model_name(spec.name), ref, description, dict(spec.parameters), run)
        )

    async def _workflow(self, ref: ToolRef) -> None:
        try:
            flow: Flow = await self.ctx.services.flows.load(ref.name)
        except StepError as exc:
            self._unavailable(ref, f"workflow_{ref.name[:8]}", str(exc))
            return
        parameters = parameters_of(flow.graph)
        problem = _schema_problem(parameters)
        if problem is not None:
            self._unavailable(ref, flow.name, f"workflow {flow.name!r}: {problem}")
            return

        async def run(arguments: dict[str, Any], call_id: str) -> tuple[bool, str]:
            try:
                return await asyncio.wait_for(
                    call_workflow(self.ctx, flow, arguments, call_id), self.limits.timeout
                )
            except TimeoutError:
                return False, (
                    f"workflow {flow.name!r} did not finish within {self.limits.timeout:g}s "
                    "(the tool's time limit)"
                )

        self._offer(OfferedTool(model_name(flow.name), ref, description_of(flow), parameters, run))

    async def _record_problem(self, ref: ToolRef, problem: str) -> None:
        await self.ctx.emit_tool_call(
            {
                "id": uuid.uuid4().hex[:12],
                "tool": ref.text,
                "ref": ref.text,
                "kind": ref.kind,
                "status": "failed",
                "phase": "listing",
                "error": problem,
                "arguments": None,
                "duration_ms": 0,
            }
        )

    # -- calls ---------------------------------------------------------------------------------

    async def call(self, call_id: str, name: str, arguments: Any) -> str:
        """Run one call of the model's; the text of the tool message that answers it."""
        self.calls += 1
        index = self.calls
        tool = self.offered.get(name)
        event: dict[str, Any] = {
            "id": call_id,
            "index": index,
            "tool": name,
            "ref": tool.ref.text if tool else None,
            "kind": tool.ref.kind if tool else None,
            "arguments": arguments
            if len(json.dumps(arguments, default=str)) <= EVENT_TEXT_CHARS
            else _clip(json.dumps(arguments, default=str)),
            "attempt": self.ctx.attempt,
            "round": self.ctx.round,
        }
        await self.ctx.emit_tool_call({**event, "status": "running"})
        started = time.monotonic()
        with telemetry.tool_call(name, call_id, tool.ref.kind if tool else None) as span:
            ok, text = await self._run(tool, name, arguments, call_id)
            if not ok:
                telemetry.tool_failed(span, text)
        if ok and len(text) > self.limits.max_result_chars:
            limit = self.limits.max_result_chars
            ok, text = (
                False,
                (
                    f"the result of {name!r} is {len(text):,} characters, over this step's limit "
                    f"of {limit:,}; ask for less (a narrower query, fewer items)"
                ),
            )
        duration = round((time.monotonic() - started) * 1000, 1)
        outcome = {"result": _clip(text)} if ok else {"error": _clip(text)}
        await self.ctx.emit_tool_call(
            {**event, "status": "succeeded" if ok else "failed", "duration_ms": duration, **outcome}
        )
        return text if ok else f"Error: {text}"

    async def _run(
        self, tool: OfferedTool | None, name: str, arguments: Any, call_id: str
    ) -> tuple[bool, str]:
        if tool is None:
            have = ", ".join(sorted(self.offered)) or "none"
            return False, f"there is no tool {name!r} (available: {have})"
        if tool.run is None:
            return False, f"tool {name!r} cannot be called: {tool.problem}"
        if not isinstance(arguments, dict):
            return False, "the arguments must be a JSON object"
        problem = best_match(
            jsonschema.Draft202012Validator(tool.parameters).iter_errors(arguments)
        )
        if problem is not None:
            where = "" if problem.json_path == "$" else f" (at {problem.json_path})"
            return False, f"invalid arguments: {problem.message}{where}"
        try:
            return await tool.run(arguments, call_id)
        except BudgetExceededError:
            raise  # the run's budget is the run's, not the tool's: the step stops
        except (McpToolError, HttpToolError, WorkflowToolError, CredentialKindError) as exc:
            return False, str(exc)
        except StepError as exc:  # a credential that is gone, a refused address…
            return False, str(exc)
        except Exception as exc:  # a tool's own bug: the model reads it, the step goes on
            return False, f"{type(exc).__name__}: {exc}"

    async def aclose(self) -> None:
        connections, self._connections = list(self._connections.values()), {}
        for connection in connections:
            await connection.aclose()
