"""Talking to one MCP server with the official ``mcp`` SDK: list its tools, call one.

A :class:`McpConnection` is one session, opened when first needed and closed with the step (or
the listing) that opened it. The SDK runs a session inside an anyio task group: a server that
dies mid-call makes that group fail, and a failing group cancels whatever task entered it. So
the session lives in a task of its own (the *runner*) and calls are made from outside: a call
waits for its answer, the runner's end or its time limit, whichever comes first, and each of
those becomes an answer or an :class:`McpToolError` for that one call. Nothing the server does
cancels the step, and a second server's session is a second runner.

HTTP servers are reached by the streamable-HTTP transport through the outbound guard
(:mod:`runtime.tools.guarded_mcp_http`); stdio servers (the operator's) are started as a child
process with the SDK's default environment (no secrets of ours), stderr kept to name a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import tempfile
from collections.abc import Awaitable, Callable
from typing import Any, TextIO, TypeVar

from mcp import Client, StdioServerParameters
from mcp.client.streamable_http import streamable_http_client

from runtime.outbound import OutboundPolicy
from runtime.secrets import Secret
from runtime.tools.credentials import auth_headers, scrub
from runtime.tools.guarded_mcp_http import guarded_mcp_client
from runtime.tools.specs import McpServerSpec, ToolInfo

T = TypeVar("T")
DEFAULT_CONNECT_TIMEOUT = 20.0  # starting a stdio server (an interpreter) can take seconds
MAX_LIST_PAGES = 20
STDERR_TAIL = 400


class McpToolError(Exception):
    """A server that cannot be reached, answers with an error or takes too long: the message is
    what the model (and the step's record of the call) reads."""


def _first_cause(exc: BaseException) -> BaseException:
    while isinstance(exc, BaseExceptionGroup) and exc.exceptions:
        exc = exc.exceptions[0]
    return exc


def describe(exc: BaseException) -> str:
    cause = _first_cause(exc)
    text = str(cause).strip()
    return f"{type(cause).__name__}: {text}" if text else type(cause).__name__


class McpConnection:
    def __init__(
        self,
        spec: McpServerSpec,
        secret: Secret | None = None,
        *,
        connect_timeout: float = DEFAULT_CONNECT_TIMEOUT,
        policy: OutboundPolicy | None = None,
    ) -> None:
        self.spec = spec
        self._secret = secret
        self._headers = auth_headers(secret)
        self._connect_timeout = connect_timeout
        self._policy = policy
        self._ready: asyncio.Future[Client] | None = None
        self._stop = asyncio.Event()
        self._runner: asyncio.Task[None] | None = None
        self._ended: str | None = None  # why the session ended, once it has
        self._stderr: TextIO | None = None

    # -- the runner: the session's own task ------------------------------------------------------

    def _target(self) -> Any:
        spec = self.spec
        if spec.transport == "stdio":
            return StdioServerParameters(
                command=spec.command, args=list(spec.args), env=dict(spec.env) or None, cwd=spec.cwd
            )
        http = guarded_mcp_client(self._headers or None, self._policy)
        return _HttpTransport(spec.url, http)

    async def _run(self) -> None:
        assert self._ready is not None
        try:
            target = self._target()
            if isinstance(target, StdioServerParameters):
                # Kept open for the session's life (closed in aclose): no context manager.
                self._stderr = tempfile.TemporaryFile(mode="w+", encoding="utf-8")  # noqa: SIM115
                transport: Any = _StdioTransport(target, self._stderr)
            else:
                transport = target
            # No response cache: a refreshed listing must be the server's, not a copy.
            async with Client(transport, cache=None) as client:
                if not self._ready.done():
                    self._ready.set_result(client)
                await self._stop.wait()
        except BaseException as exc:  # the session's end, however it came: kept for the callers
            self._ended = self._why(exc)
            if not self._ready.done():
                self._ready.set_exception(McpToolError(self._ended))
            if isinstance(exc, asyncio.CancelledError):
                raise
        else:
            self._ended = "the session was closed"

    def _why(self, exc: BaseException) -> str:
        where = self.spec.url or self.spec.command
        text = f"MCP server {self.spec.name!r} ({where}) is not available: {describe(exc)}"
        tail = self._stderr_tail()
        return f"{text} (it said: {tail})" if tail else text

    def _stderr_tail(self) -> str:
        if self._stderr is None:
            return ""
        try:
            self._stderr.flush()
            self._stderr.seek(0)
            return " ".join(self._stderr.read().split())[-STDERR_TAIL:]
        except (OSError, ValueError):
            return ""

    async def _client(self) -> Client:
        if self._ready is None:
            self._ready = asyncio.get_running_loop().create_future()
            self._runner = asyncio.create_task(self._run(), name=f"mcp:{self.spec.name}")
        try:
            return await asyncio.wait_for(asyncio.shield(self._ready), self._connect_timeout)
        except TimeoutError:
            raise McpToolError(
                f"MCP server {self.spec.name!r} did not answer within "
                f"{self._connect_timeout:g}s of connecting"
            ) from None

    async def _guarded(
        self, call: Callable[[Client], Awaitable[T]], timeout: float, what: str
    ) -> T:
        client = await self._client()
        assert self._runner is not None
        if self._runner.done():
            raise McpToolError(self._ended or f"MCP server {self.spec.name!r} is gone")
        task = asyncio.ensure_future(call(client))
        done, _ = await asyncio.wait(
            {task, self._runner}, timeout=timeout, return_when=asyncio.FIRST_COMPLETED
        )
        if task in done:
            try:
                return task.result()
            except McpToolError:
                raise
            except Exception as exc:
                raise McpToolError(f"{what} failed: {describe(exc)}") from None
        task.cancel()
        with contextlib.suppress(BaseException):
            await task
        if self._runner.done():
            raise McpToolError(self._ended or f"MCP server {self.spec.name!r} went away")
        raise McpToolError(f"{what}: no answer within {timeout:g}s (the tool's time limit)")

    # -- what callers use ------------------------------------------------------------------------

    async def list_tools(self, timeout: float = 30.0) -> list[ToolInfo]:
        async def listing(client: Client) -> list[ToolInfo]:
            found: list[ToolInfo] = []
            cursor: str | None = None
            for _ in range(MAX_LIST_PAGES):
                page = await client.list_tools(cursor=cursor)
                for tool in page.tools:
                    schema = tool.input_schema if isinstance(tool.input_schema, dict) else {}
                    found.append(ToolInfo(tool.name, tool.description or "", schema))
                cursor = page.next_cursor
                if not cursor:
                    break
            return found

        return await self._guarded(listing, timeout, f"listing the tools of {self.spec.name!r}")

    async def call_tool(
        self, name: str, arguments: dict[str, Any], timeout: float
    ) -> tuple[bool, str]:
        """(ok, text) of one call: the server's own error result (``isError``) is ok=False."""

        async def calling(client: Client) -> tuple[bool, str]:
            result = await client.call_tool(name, arguments)
            # A server that echoes the credential does not hand it to the model.
            return not result.is_error, scrub(result_text(result), self._secret)

        what = f"tool {name!r} of MCP server {self.spec.name!r}"
        return await self._guarded(calling, timeout, what)

    async def aclose(self) -> None:
        self._stop.set()
        runner = self._runner
        if runner is not None and not runner.done():
            try:
                await asyncio.wait_for(asyncio.shield(runner), 5.0)
            except (TimeoutError, Exception):
                runner.cancel()
                with contextlib.suppress(BaseException):
                    await runner
        if self._stderr is not None:
            self._stderr.close()
            self._stderr = None


def result_text(result: Any) -> str:
    """A tool result as the text of the tool message: its text parts, or its structured content
    as JSON, with other media named rather than inlined."""
    parts: list[str] = []
    for item in result.content or []:
        kind = getattr(item, "type", "")
        if kind == "text":
            parts.append(item.text)
        elif kind in ("image", "audio"):
            size = len(item.data or "") * 3 // 4
            parts.append(f"[{kind} {item.mime_type}, about {size:,} bytes, not shown]")
        elif kind == "resource":
            inner = item.resource
            text = getattr(inner, "text", None)
            parts.append(text if isinstance(text, str) else f"[resource {inner.uri}]")
        elif kind == "resource_link":
            parts.append(f"[link {item.uri}]")
    if not parts and result.structured_content is not None:
        parts.append(json.dumps(result.structured_content, ensure_ascii=False, default=str))
    return "\n".join(parts)


# -- transports: the SDK's, with our HTTP client and a kept stderr --------------------------------


class _HttpTransport:
    """``streamable_http_client`` with the guarded client, as the SDK's ``Transport``."""

    def __init__(self, url: str, http: Any) -> None:
        self.url = url
        self.http = http

    @contextlib.asynccontextmanager
    async def _open(self) -> Any:
        async with self.http, streamable_http_client(self.url, http_client=self.http) as streams:
            yield streams

    async def __aenter__(self) -> Any:
        self._cm = self._open()
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)


class _StdioTransport:
    def __init__(self, params: StdioServerParameters, errlog: TextIO) -> None:
        self.params = params
        self.errlog = errlog

    async def __aenter__(self) -> Any:
        from mcp.client.stdio import stdio_client

        self._cm = stdio_client(self.params, errlog=self.errlog)
        return await self._cm.__aenter__()

    async def __aexit__(self, *exc: Any) -> Any:
        return await self._cm.__aexit__(*exc)
