"""Fixtures of the tool tests: real MCP servers (none of them ours), a loopback HTTP API, and an
outbound allowlist that admits loopback, as an operator would for servers on the same machine."""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator

import httpx
import pytest

from tests.support.echo_server import EchoServer
from tests.support.mcp_servers import HttpServer, everything_http, python_http


@pytest.fixture(scope="module")
def everything() -> Iterator[HttpServer]:
    """@modelcontextprotocol/server-everything over streamable HTTP."""
    with everything_http() as server:
        yield server


@pytest.fixture
def py_server() -> Iterator[HttpServer]:
    """The official SDK's MCPServer with slow, big and broken_schema tools (fresh per test: some
    tests kill it)."""
    with python_http() as server:
        yield server


@pytest.fixture
def echo() -> Iterator[EchoServer]:
    with EchoServer() as server:
        yield server


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


# The web tests' people and workspaces: alice owns her workspace, bob edits in it, charlie is
# an outsider (tests/web/conftest.py).
# The real stack: Daphne, the scripted vendor and the API client (tests/orchestrator/conftest.py).
from tests.orchestrator.conftest import (  # noqa: E402, F401
    api,
    stack,
    stack_daphne,
    stack_database_url,
    stack_vendor,
    vendor,
)
from tests.web.conftest import (  # noqa: E402, F401
    alice,
    alice_client,
    alice_workspace,
    anon_client,
    bob,
    bob_client,
    charlie,
    charlie_client,
    fast_password_hashing,
)
