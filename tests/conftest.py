"""Shared pytest fixtures.

Keep each section self-contained; other sections are added below this one.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.vendor_server import VendorServer

pytest_plugins: list[str] = []


# -- vendor server: a real loopback HTTP server playing an LLM vendor ------------------------------


@pytest.fixture
def vendor_server() -> Iterator[VendorServer]:
    """A fresh scripted vendor per test; queue answers with ``vendor_server.push(...)``."""
    with VendorServer() as server:
        yield server


@pytest.fixture
def loopback_allowed(monkeypatch: pytest.MonkeyPatch) -> None:
    """The operator's outbound allowlist admits loopback, where the tests' servers listen (as
    an operator admits a local Ollama or MCP server)."""
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")
