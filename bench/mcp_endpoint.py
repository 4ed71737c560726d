"""A workflow called over MCP against the same run started and followed through the REST API.

    .venv/bin/python bench/mcp_endpoint.py [--calls 30] [--concurrent 20]

One Celery worker with 2 processes and Daphne, on real PostgreSQL and Redis. The workflow is
input → transform → output (no model: what is measured is the way in and out). Prints, in the
same run:

1. one call at a time: the wall time of an MCP ``tools/call`` through the official SDK's client
   (one connected client, as an MCP client keeps one), and of the anchor: ``POST
   /api/workflows/<id>/runs/`` then ``GET /api/runs/<id>/`` every 20 ms until the run has ended,
   as a script polling the API would; medians and the ratio (goal: MCP ≤ 1.5× the anchor);
2. ``--concurrent`` calls at once over MCP against as many API runs at once: the wall time of
   each batch (a call waits off the event loop, so calls do not queue behind each other in
   Daphne; goal ≤ 1.5× the anchor).

It needs PostgreSQL at 127.0.0.1:5432 (it creates and migrates ``BENCH_DATABASE_URL``, default
``flowbench_mcp``) and Redis (``BENCH_REDIS_URL``, default db 6, emptied first).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import statistics
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

DATABASE_URL = os.environ.get(
    "BENCH_DATABASE_URL", "postgres://postgres@127.0.0.1:5432/flowbench_mcp"
)
REDIS_URL = os.environ.get("BENCH_REDIS_URL", "redis://127.0.0.1:6379/6")
POLL = 0.02

GRAPH = {
    "nodes": [
        {"id": "in", "type": "input", "config": {}},
        {"id": "t", "type": "transform", "config": {"template": "brief on {{ input.topic }}"}},
        {"id": "out", "type": "output", "config": {}},
    ],
    "edges": [
        {"id": "a", "source": "in", "target": "t"},
        {"id": "b", "source": "t", "target": "out"},
    ],
}


@contextlib.asynccontextmanager
async def mcp_client(url: str, token: str) -> AsyncIterator[Any]:
    import httpx2
    from mcp import Client
    from mcp.client.streamable_http import streamable_http_client

    class Transport:
        def __init__(self) -> None:
            self.http = httpx2.AsyncClient(
                headers={"Authorization": f"Bearer {token}"}, timeout=120
            )

        @contextlib.asynccontextmanager
        async def _open(self) -> Any:
            async with self.http, streamable_http_client(url, http_client=self.http) as streams:
                yield streams

        async def __aenter__(self) -> Any:
            self._cm = self._open()
            return await self._cm.__aenter__()

        async def __aexit__(self, *exc: Any) -> Any:
            return await self._cm.__aexit__(*exc)

    async with Client(Transport(), cache=None) as client:
        yield client


async def mcp_call(client: Any, n: int) -> float:
    started = time.perf_counter()
    result = await client.call_tool("brief", {"topic": f"t{n}"})
    wall = time.perf_counter() - started
    if result.is_error or result.content[0].text != f"brief on t{n}":
        raise SystemExit(f"unexpected MCP result: {result}")
    return wall


async def api_run(http: Any, workflow_id: str, n: int) -> float:
    started = time.perf_counter()
    response = await http.post(
        f"/api/workflows/{workflow_id}/runs/", json={"input": {"topic": f"t{n}"}}
    )
    response.raise_for_status()
    run_id = response.json()["id"]
    while True:
        run = (await http.get(f"/api/runs/{run_id}/")).json()
        if run["status"] in ("succeeded", "failed", "cancelled"):
            break
        await asyncio.sleep(POLL)
    wall = time.perf_counter() - started
    if run["output"] != f"brief on t{n}":
        raise SystemExit(f"unexpected API run: {run}")
    return wall


async def measure(base: str, workflow_id: str, url: str, token: str, args: Any) -> dict[str, Any]:
    import httpx

    headers = {"Authorization": f"Token {token}"}
    async with (
        mcp_client(url, token) as client,
        httpx.AsyncClient(base_url=base, headers=headers, timeout=120, trust_env=False) as http,
    ):
        for n in range(3):  # warm: worker processes, connections, the endpoint's task group
            await mcp_call(client, n)
            await api_run(http, workflow_id, n)
        mcp, api = [], []
        for n in range(args.calls):  # interleaved, so a slow moment of the machine hits both
            mcp.append(await mcp_call(client, n))
            api.append(await api_run(http, workflow_id, n))
        started = time.perf_counter()
        await asyncio.gather(*(mcp_call(client, n) for n in range(args.concurrent)))
        mcp_batch = time.perf_counter() - started
        started = time.perf_counter()
        await asyncio.gather(*(api_run(http, workflow_id, n) for n in range(args.concurrent)))
        api_batch = time.perf_counter() - started
    return {"mcp": mcp, "api": api, "mcp_batch": mcp_batch, "api_batch": api_batch}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=30, help="sequential calls of each kind")
    parser.add_argument("--concurrent", type=int, default=20, help="calls at once, each kind")
    args = parser.parse_args()

    os.environ.update({"DATABASE_URL": DATABASE_URL, "REDIS_URL": REDIS_URL})
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")
    os.environ.setdefault("SECRET_KEY", "bench-secret-key-not-for-production")
    os.environ["BENCH_DATABASE_URL"] = DATABASE_URL  # bench.runs reads it when imported
    from bench.runs import prepare_database

    prepare_database()
    import django

    django.setup()
    from django.contrib.auth import get_user_model
    from django.db import connection

    from editor import mcp_exposure
    from editor import operations as editor_operations
    from editor.tokens import issue_token
    from tests.support.stack import Stack

    user, _ = get_user_model().objects.get_or_create(username="bench-mcp")
    workspace = editor_operations.ensure_personal_workspace(user)
    workspace.workflows.all().delete()  # an earlier run's: the tool is "brief", not "brief_2"
    workflow = editor_operations.create_workflow(
        user=user, workspace=workspace, name="Brief", graph=GRAPH
    )
    mcp_exposure.set_exposed(workflow, True, user=user, via="command")
    _, token = issue_token(user, "bench")
    connection.close()

    stack = Stack(
        DATABASE_URL,
        REDIS_URL,
        env={"STEP_LEASE_SECONDS": "15", "SWEEP_SECONDS": "5", "SECRET_KEY": "bench"},
    )
    stack.flush_redis()
    try:
        stack.worker(concurrency=2)
        daphne = stack.daphne()
        url = daphne.url + mcp_exposure.ENDPOINT_PATH.format(workspace=workspace.pk)
        figures = asyncio.run(measure(daphne.url, str(workflow.pk), url, token, args))
    finally:
        stack.close()

    mcp = statistics.median(figures["mcp"]) * 1000
    api = statistics.median(figures["api"]) * 1000
    print("A 3-node workflow (input → transform → output) on one Celery worker (2 processes)")
    print(f"one call, MCP tools/call (SDK client)   : {mcp:7.1f} ms  (median of {args.calls})")
    print(f"one run, REST start + poll every 20 ms  : {api:7.1f} ms  (the anchor)")
    print(f"ratio                                   : {mcp / api:7.2f}×   (goal ≤ 1.5×)")
    batch_mcp, batch_api = figures["mcp_batch"], figures["api_batch"]
    print(f"{f'{args.concurrent} calls at once over MCP':<40}: {batch_mcp:7.2f} s")
    print(f"{f'{args.concurrent} runs at once through the REST API':<40}: {batch_api:7.2f} s")
    print(
        f"ratio                                   : {batch_mcp / batch_api:7.2f}×   (goal ≤ 1.5×)"
    )


if __name__ == "__main__":
    main()
