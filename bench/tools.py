"""One MCP tool call through the product against the official SDK calling the same server
directly, in the same run; and how long listing a server's 100 tools takes.

    .venv/bin/python bench/tools.py [--calls 200] [--tools 100]

The server is the SDK's own ``MCPServer`` over streamable HTTP on loopback
(tests/support/mcp/python_server.py, with ``--extra`` generated tools). Both sides keep one
session open and call ``add`` again and again:

- **direct**: ``mcp.Client(url)`` (the SDK's default httpx2 client) and ``client.call_tool``;
- **product**: a worker step's :class:`~runtime.tools.toolbox.Toolbox` with the server's tools
  as the workspace stores them: the arguments checked against the schema, the call through the
  guarded outbound client, its own session task, the result limit and both ``step.tool_call``
  events (recorded by the in-process executor's sink).

Prints the median and 90th percentile per call, the ratio and the goal (product ≤ 1.5 × direct
+ 2 ms), then the discovery time of a server with ``--tools`` tools, through the product
(McpConnection.list_tools, a new session) and directly (a new ``Client`` and ``list_tools``).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from mcp import Client

from runtime.events import Event, ListSink
from runtime.graph import Node
from runtime.nodes.base import StepContext
from runtime.services import Services
from runtime.tools import default_tools
from runtime.tools.mcp_client import McpConnection
from runtime.tools.specs import McpServerSpec, StaticToolDefinitions
from runtime.tools.toolbox import Toolbox, ToolLimits
from tests.support.mcp_servers import python_http


def figures(samples: list[float]) -> tuple[float, float]:
    ordered = sorted(samples)
    return statistics.median(ordered), ordered[int(len(ordered) * 0.9) - 1]


async def direct_calls(url: str, calls: int) -> list[float]:
    times = []
    async with Client(url, cache=None) as client:
        await client.call_tool("add", {"a": 1, "b": 2})  # warm
        for n in range(calls):
            started = time.perf_counter()
            result = await client.call_tool("add", {"a": n, "b": 2})
            times.append((time.perf_counter() - started) * 1000)
            assert not result.is_error
    return times


async def product_calls(spec: McpServerSpec, calls: int) -> list[float]:
    sink = ListSink()

    async def record(data: dict[str, Any]) -> None:
        sink.emit(Event("step.tool_call", "bench", "agent", "agent", "running", data))

    ctx = StepContext(
        run_id="bench",
        step_id="agent",
        node=Node(id="agent", type="worker"),
        attempt=1,
        input=None,
        scope={},
        services=Services(tool_definitions=StaticToolDefinitions([spec])),
        emit_tool_call=record,
    )
    times = []
    limits = ToolLimits(max_calls=calls + 1, timeout=30, max_result_chars=20_000)
    async with Toolbox(ctx, ["mcp:py/add"], limits, default_tools) as toolbox:
        await toolbox.call("warm", "add", {"a": 1, "b": 2})
        for n in range(calls):
            started = time.perf_counter()
            text = await toolbox.call(f"c{n}", "add", {"a": n, "b": 2})
            times.append((time.perf_counter() - started) * 1000)
            assert not text.startswith("Error"), text
    assert len(sink.events) == 2 * (calls + 1)
    return times


async def discovery(
    url: str, spec: McpServerSpec, repeat: int
) -> tuple[list[float], list[float], int]:
    ours, theirs, count = [], [], 0
    for _ in range(repeat):
        started = time.perf_counter()
        connection = McpConnection(spec)
        try:
            count = len(await connection.list_tools())
        finally:
            await connection.aclose()
        ours.append((time.perf_counter() - started) * 1000)
        started = time.perf_counter()
        async with Client(url, cache=None) as client:
            listed = await client.list_tools()
        theirs.append((time.perf_counter() - started) * 1000)
        assert len(listed.tools) == count
    return ours, theirs, count


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--tools", type=int, default=100)
    parser.add_argument("--repeat", type=int, default=10, help="listings of the big server")
    args = parser.parse_args()
    os.environ["OUTBOUND_ALLOWLIST"] = "127.0.0.1"  # the server listens on loopback
    with python_http(extra=args.tools) as server:
        spec = McpServerSpec("py", url=server.url)
        listed = asyncio.run(McpConnection(spec).list_tools())
        stored = spec.with_tools(listed)  # as the workspace keeps them after a refresh
        # Alternate the two sides, so a slow moment of the machine hits both.
        direct: list[float] = []
        product: list[float] = []
        for _ in range(2):
            direct += asyncio.run(direct_calls(server.url, args.calls // 2))
            product += asyncio.run(product_calls(stored, args.calls // 2))
        ours, theirs, count = asyncio.run(discovery(server.url, spec, args.repeat))
    d_med, d_p90 = figures(direct)
    p_med, p_p90 = figures(product)
    goal = 1.5 * d_med + 2.0
    print(f"one MCP tool call (streamable HTTP, loopback), ms over {len(direct)} calls each")
    print(f"{'side':<10}{'median':>10}{'p90':>10}")
    print(f"{'direct':<10}{d_med:>10.2f}{d_p90:>10.2f}")
    print(f"{'product':<10}{p_med:>10.2f}{p_p90:>10.2f}")
    print(
        f"ratio {p_med / d_med:.2f}×, overhead {p_med - d_med:+.2f} ms; goal ≤ 1.5× + 2 ms "
        f"= {goal:.2f} ms: {'met' if p_med <= goal else 'NOT met'}"
    )
    o_med, _ = figures(ours)
    t_med, _ = figures(theirs)
    print(f"\nlisting {count} tools (a new session each time), ms, median of {args.repeat}")
    print(f"product {o_med:.1f}   direct {t_med:.1f}   ratio {o_med / t_med:.2f}×")


if __name__ == "__main__":
    main()
