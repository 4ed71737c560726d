"""A real MCP server for the tests and benchmarks, built with the official SDK's ``MCPServer``
and served over streamable HTTP by uvicorn: ``python tests/support/mcp/python_server.py --port N``.

Its tools exercise what the product must survive: ``slow`` (sleeps, to time out or be killed
mid-call), ``big`` (a result of any size), ``broken_schema`` (listed with an input schema that is
not valid JSON Schema), ``headers`` (what the request carried, to see a credential arrive), plus
``--extra N`` generated tools ``tool_000``… for discovery at scale. ``--token T`` answers 401 to
any request without ``Authorization: Bearer T``.
"""

from __future__ import annotations

import argparse
import asyncio
import json

import uvicorn
from mcp.server import MCPServer
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Receive, Scope, Send

server = MCPServer("flowbuilder-test-server")
seen_headers: dict[str, str] = {}


@server.tool()
def add(a: float, b: float) -> float:
    """Add two numbers."""
    return a + b


@server.tool()
async def slow(seconds: float) -> str:
    """Wait this many seconds, then answer."""
    await asyncio.sleep(seconds)
    return f"waited {seconds}s"


@server.tool()
def big(chars: int) -> str:
    """A text of this many characters."""
    return "x" * chars


@server.tool()
def broken_schema(value: str) -> str:
    """Listed with an input schema that is not valid JSON Schema."""
    return value


@server.tool()
def headers() -> str:
    """The headers of the request that called this tool (authorization masked)."""
    return json.dumps(seen_headers, sort_keys=True)


def _break_schema() -> None:
    tool = server._tool_manager.get_tool("broken_schema")
    assert tool is not None
    tool.parameters = {"type": "object", "properties": {"value": {"type": 12}}}


def _add_extra(count: int) -> None:
    for n in range(count):

        def echo(text: str, n: int = n) -> str:
            return f"{n}:{text}"

        server.add_tool(echo, name=f"tool_{n:03d}", description=f"Generated tool number {n}.")


class Guard:
    """401 without the expected bearer token; remembers the last request's headers."""

    def __init__(self, app: ASGIApp, token: str | None) -> None:
        self.app = app
        self.token = token

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            request = Request(scope)
            seen_headers.clear()
            seen_headers.update(
                {k: v for k, v in request.headers.items() if k in ("authorization", "x-api-key")}
            )
            if self.token and request.headers.get("authorization") != f"Bearer {self.token}":
                await JSONResponse({"error": "unauthorized"}, status_code=401)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--token")
    parser.add_argument("--extra", type=int, default=0)
    args = parser.parse_args()
    _break_schema()
    _add_extra(args.extra)
    app = Guard(server.streamable_http_app(), args.token)
    uvicorn.run(app, host="127.0.0.1", port=args.port, log_level="warning")


if __name__ == "__main__":
    main()
