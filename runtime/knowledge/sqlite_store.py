"""The embedded store: SQLite with FTS5 for words and sqlite-vec for vectors.

Tables: ``kb_chunks`` (the chunks), ``kb_documents`` (each document's claimed ingestion
generation), ``kb_fts`` (an external-content FTS5 index over their text,
kept in step by triggers, Porter stemming) and ``kb_vec_<n>`` (a sqlite-vec ``vec0`` table per
vector size, cosine distance, partitioned by base, rowid = chunk id).

Python's own sqlite3 may be built without extension loading (this one is), so the connection
comes from ``sqlean.py``, a drop-in sqlite3 with it, when the standard module cannot load
sqlite-vec. One connection per thread, in WAL mode, so a web process and a worker can share the
file.
"""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from runtime.knowledge.embedders import Vectors
from runtime.knowledge.errors import Superseded
from runtime.knowledge.store import (
    Filters,
    KnowledgeStore,
    NewChunk,
    StoredChunk,
    as_float32_bytes,
    check_filters,
    query_terms,
)

_SCHEMA = """
CREATE TABLE IF NOT EXISTS kb_chunks (
    id INTEGER PRIMARY KEY,
    base_id TEXT NOT NULL,
    document_id TEXT NOT NULL,
    position INTEGER NOT NULL,
    text TEXT NOT NULL,
    meta TEXT NOT NULL DEFAULT '{}',
    text_hash TEXT NOT NULL,
    dims INTEGER NOT NULL,
    -- A copy of the vector, for explaining a few chunks' similarity: a point lookup in vec0
    -- reads the whole block of 1,024 vectors it sits in.
    embedding BLOB,
    UNIQUE (document_id, position)
);
CREATE INDEX IF NOT EXISTS kb_chunks_base ON kb_chunks (base_id, document_id);
CREATE TABLE IF NOT EXISTS kb_documents (
    document_id TEXT PRIMARY KEY,
    base_id TEXT NOT NULL,
    generation INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS kb_documents_base ON kb_documents (base_id);
CREATE VIRTUAL TABLE IF NOT EXISTS kb_fts USING fts5(
    text, content='kb_chunks', content_rowid='id', tokenize='porter unicode61'
);
CREATE TRIGGER IF NOT EXISTS kb_chunks_ai AFTER INSERT ON kb_chunks BEGIN
    INSERT INTO kb_fts (rowid, text) VALUES (new.id, new.text);
END;
CREATE TRIGGER IF NOT EXISTS kb_chunks_ad AFTER DELETE ON kb_chunks BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, text) VALUES ('delete', old.id, old.text);
END;
CREATE TRIGGER IF NOT EXISTS kb_chunks_au AFTER UPDATE OF text ON kb_chunks BEGIN
    INSERT INTO kb_fts (kb_fts, rowid, text) VALUES ('delete', old.id, old.text);
    INSERT INTO kb_fts (rowid, text) VALUES (new.id, new.text);
END;
"""


def _sqlite() -> Any:
    """A sqlite3 module that can load extensions."""
    import sqlite3

    if hasattr(sqlite3.Connection, "enable_load_extension"):
        return sqlite3
    import sqlean

    return sqlean


class SQLiteStore(KnowledgeStore):
    backend = "sqlite-vec"

    def __init__(self, path: str) -> None:
        self.path = path
        if path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        self._local = threading.local()
        self._vector_tables: set[int] = set()
        with self._connect() as db:
            db.executescript(_SCHEMA)
            columns = {row[1] for row in db.execute("PRAGMA table_info(kb_chunks)")}
            if "embedding" not in columns:  # a store made before the column existed
                db.execute("ALTER TABLE kb_chunks ADD COLUMN embedding BLOB")

    def __repr__(self) -> str:
        return f"SQLiteStore({self.path!r})"

    def _connect(self) -> Any:
        db = getattr(self._local, "db", None)
        if db is None:
            import sqlite_vec

            db = _sqlite().connect(self.path, timeout=20, check_same_thread=False)
            db.enable_load_extension(True)
            sqlite_vec.load(db)
            db.enable_load_extension(False)
            db.execute("PRAGMA journal_mode=WAL")
            db.execute("PRAGMA synchronous=NORMAL")
            db.execute("PRAGMA foreign_keys=ON")
            self._local.db = db
        return db

    def close(self) -> None:
        db = getattr(self._local, "db", None)
        if db is not None:
            db.close()
            self._local.db = None

    # -- writing ---------------------------------------------------------------------------------

    def _vector_table(self, db: Any, dims: int) -> str:
        name = f"kb_vec_{int(dims)}"
        if dims not in self._vector_tables:
            db.execute(
                f"CREATE VIRTUAL TABLE IF NOT EXISTS {name} USING vec0("
                f"embedding float[{int(dims)}] distance_metric=cosine, base_id text partition key)"
            )
            self._vector_tables.add(dims)
        return name

    def _dims_of(self, db: Any, base_id: str) -> list[int]:
        rows = db.execute("SELECT DISTINCT dims FROM kb_chunks WHERE base_id = ?", (base_id,))
        return [int(row[0]) for row in rows]

    def claim(self, base_id: str, document_id: str, generation: int) -> None:
        db = self._connect()
        with db:
            db.execute(
                "INSERT INTO kb_documents (document_id, base_id, generation) VALUES (?, ?, ?) "
                "ON CONFLICT (document_id) DO UPDATE SET generation = excluded.generation "
                "WHERE kb_documents.generation <= excluded.generation",
                (document_id, base_id, int(generation)),
            )
            row = db.execute(
                "SELECT generation FROM kb_documents WHERE document_id = ?", (document_id,)
            ).fetchone()
        if row is None or int(row[0]) != int(generation):
            raise Superseded(f"document {document_id}: a newer ingestion has claimed it")

    def add_chunks(
        self,
        base_id: str,
        document_id: str,
        chunks: Sequence[NewChunk],
        generation: int | None = None,
    ) -> int:
        if not chunks:
            return 0
        dims = int(chunks[0].vector.shape[-1])
        db = self._connect()
        with db:
            if generation is not None:
                # A write first: it takes the database's write lock, so no claim can come
                # between this check and the chunks below.
                claimed = db.execute(
                    "UPDATE kb_documents SET generation = generation "
                    "WHERE document_id = ? AND generation = ?",
                    (document_id, int(generation)),
                ).rowcount
                if not claimed:
                    raise Superseded(f"document {document_id}: generation {generation} is over")
            table = self._vector_table(db, dims)
            for chunk in chunks:
                old = db.execute(
                    "SELECT id, dims FROM kb_chunks WHERE document_id = ? AND position = ?",
                    (document_id, chunk.position),
                ).fetchone()
                if old is not None:
                    db.execute(f"DELETE FROM kb_vec_{int(old[1])} WHERE rowid = ?", (old[0],))
                    db.execute("DELETE FROM kb_chunks WHERE id = ?", (old[0],))
                cursor = db.execute(
                    "INSERT INTO kb_chunks (base_id, document_id, position, text, meta, "
                    "text_hash, dims, embedding) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (
                        base_id,
                        document_id,
                        chunk.position,
                        chunk.text,
                        json.dumps(dict(chunk.meta), ensure_ascii=False),
                        chunk.text_hash,
                        dims,
                        as_float32_bytes(chunk.vector),
                    ),
                )
                db.execute(
                    f"INSERT INTO {table} (rowid, embedding, base_id) VALUES (?, ?, ?)",
                    (cursor.lastrowid, as_float32_bytes(chunk.vector), base_id),
                )
        return len(chunks)

    def chunk_hashes(self, base_id: str, document_id: str) -> dict[int, str]:
        rows = self._connect().execute(
            "SELECT position, text_hash FROM kb_chunks WHERE base_id = ? AND document_id = ?",
            (base_id, document_id),
        )
        return {int(position): str(digest) for position, digest in rows}

    def _delete_where(
        self, where: str, params: tuple[Any, ...], base_id: str, claims: bool = False
    ) -> int:
        db = self._connect()
        with db:
            if claims:  # first: an ingestion writing meanwhile finds its claim gone
                db.execute(f"DELETE FROM kb_documents WHERE {where}", params)
            for dims in self._dims_of(db, base_id):
                table = self._vector_table(db, dims)
                db.execute(
                    f"DELETE FROM {table} WHERE rowid IN (SELECT id FROM kb_chunks WHERE {where})",
                    params,
                )
            return int(db.execute(f"DELETE FROM kb_chunks WHERE {where}", params).rowcount)

    def delete_document(self, base_id: str, document_id: str) -> int:
        return self._delete_where(
            "base_id = ? AND document_id = ?", (base_id, document_id), base_id, claims=True
        )

    def delete_positions_from(self, base_id: str, document_id: str, position: int) -> int:
        return self._delete_where(
            "base_id = ? AND document_id = ? AND position >= ?",
            (base_id, document_id, position),
            base_id,
        )

    def delete_base(self, base_id: str) -> int:
        return self._delete_where("base_id = ?", (base_id,), base_id, claims=True)

    # -- reading ---------------------------------------------------------------------------------

    def count(self, base_id: str, document_id: str | None = None) -> int:
        sql, params = "SELECT count(*) FROM kb_chunks WHERE base_id = ?", [base_id]
        if document_id is not None:
            sql += " AND document_id = ?"
            params.append(document_id)
        return int(self._connect().execute(sql, params).fetchone()[0])

    def leftovers(self, base_id: str) -> dict[str, int]:
        db = self._connect()
        found = {"chunks": self.count(base_id)}
        # The base's rows in the full-text index, plus any index row whose chunk is gone.
        found["fulltext"] = int(
            db.execute(
                "SELECT count(*) FROM kb_fts_docsize WHERE id IN "
                "(SELECT id FROM kb_chunks WHERE base_id = ?) "
                "OR id NOT IN (SELECT id FROM kb_chunks)",
                (base_id,),
            ).fetchone()[0]
        )
        tables = db.execute(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name GLOB 'kb_vec_[0-9]*' "
            "AND name NOT GLOB 'kb_vec_*_*'"
        ).fetchall()
        found["vectors"] = sum(
            int(
                db.execute(f"SELECT count(*) FROM {name} WHERE base_id = ?", (base_id,)).fetchone()[
                    0
                ]
            )
            for (name,) in tables
        )
        claims = db.execute("SELECT count(*) FROM kb_documents WHERE base_id = ?", (base_id,))
        found["claims"] = int(claims.fetchone()[0])
        return found

    def _chunks(self, rows: Iterable[Any]) -> list[StoredChunk]:
        return [
            StoredChunk(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), json.loads(r[5]))
            for r in rows
        ]

    def list_chunks(
        self, base_id: str, document_id: str, offset: int = 0, limit: int = 50
    ) -> list[StoredChunk]:
        rows = self._connect().execute(
            "SELECT id, base_id, document_id, position, text, meta FROM kb_chunks "
            "WHERE base_id = ? AND document_id = ? ORDER BY position LIMIT ? OFFSET ?",
            (base_id, document_id, limit, offset),
        )
        return self._chunks(rows)

    def fetch(self, base_id: str, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._connect().execute(
            "SELECT id, base_id, document_id, position, text, meta FROM kb_chunks "
            f"WHERE base_id = ? AND id IN ({marks})",
            (base_id, *ids),
        )
        return {chunk.id: chunk for chunk in self._chunks(rows)}

    def _filter_sql(self, filters: Filters | None, alias: str) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for key, values in check_filters(filters):
            marks = ",".join("?" * len(values))
            if key == "document_id":
                clauses.append(f"{alias}.document_id IN ({marks})")
            else:
                clauses.append(f"json_extract({alias}.meta, ?) IN ({marks})")
                params.append(f'$."{key}"')
            params.extend(values)
        return "".join(f" AND {clause}" for clause in clauses), params

    def lexical(
        self, base_id: str, query: str, limit: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        terms = query_terms(query)
        if not terms:
            return []
        match = " OR ".join('"' + term.replace('"', '""') + '"' for term in terms)
        where, params = self._filter_sql(filters, "c")
        rows = self._connect().execute(
            "SELECT c.id, -bm25(kb_fts) AS score "
            "FROM kb_fts JOIN kb_chunks c ON c.id = kb_fts.rowid "
            f"WHERE kb_fts MATCH ? AND c.base_id = ?{where} ORDER BY score DESC LIMIT ?",
            (match, base_id, *params, limit),
        )
        return [(int(i), float(score)) for i, score in rows]

    def nearest(
        self, base_id: str, vector: Vectors, limit: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        db = self._connect()
        dims = self._dims_of(db, base_id)
        if not dims:
            return []
        table = self._vector_table(db, dims[0])
        blob = as_float32_bytes(vector)
        if filters:
            # Filters on metadata: an exact scan of the matching chunks (vec0's KNN can filter
            # only on its own columns), which is what a filter narrows to anyway.
            where, params = self._filter_sql(filters, "c")
            rows = db.execute(
                f"SELECT v.rowid, vec_distance_cosine(v.embedding, ?) AS d FROM {table} v "
                f"JOIN kb_chunks c ON c.id = v.rowid WHERE v.base_id = ?{where} "
                "ORDER BY d LIMIT ?",
                (blob, base_id, *params, limit),
            )
        else:
            rows = db.execute(
                f"SELECT rowid, distance FROM {table} WHERE embedding MATCH ? AND k = ? "
                "AND base_id = ? ORDER BY distance",
                (blob, limit, base_id),
            )
        return [(int(i), 1.0 - float(distance)) for i, distance in rows]

    def similarities(
        self, base_id: str, vector: Vectors, chunk_ids: Iterable[int]
    ) -> dict[int, float]:
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        marks = ",".join("?" * len(ids))
        rows = self._connect().execute(
            f"SELECT id, embedding FROM kb_chunks WHERE base_id = ? AND id IN ({marks}) "
            "AND embedding IS NOT NULL",
            (base_id, *ids),
        )
        query = np.asarray(vector, dtype=np.float32).reshape(-1)
        # Both are unit vectors: the dot product is the cosine similarity.
        return {int(i): float(np.frombuffer(blob, dtype=np.float32) @ query) for i, blob in rows}
