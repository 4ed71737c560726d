"""Which store a URL names: ``sqlite:///…`` (sqlite-vec + FTS5) or ``postgres://…`` (pgvector)."""

from __future__ import annotations

from runtime.knowledge.store import KnowledgeStore


def open_store(url: str) -> KnowledgeStore:
    """``sqlite:///path/to/file.sqlite3`` (or ``sqlite:///:memory:``) or ``postgres://…``."""
    if url.startswith("sqlite:"):
        from runtime.knowledge.sqlite_store import SQLiteStore

        if not url.startswith("sqlite:///"):
            raise ValueError("an SQLite store URL is sqlite:///relative/path or sqlite:////abs")
        return SQLiteStore(url.removeprefix("sqlite:///"))
    if url.startswith(("postgres://", "postgresql://")):
        from runtime.knowledge.pg_store import PostgresStore

        return PostgresStore(url)
    raise ValueError(f"a knowledge store URL starts with sqlite:/// or postgres:// (got {url!r})")
