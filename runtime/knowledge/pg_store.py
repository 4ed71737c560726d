"""The distributed store: PostgreSQL with pgvector (HNSW, cosine) and a ``tsvector`` index.

Tables: ``kb_documents`` (each document's claimed ingestion generation), ``kb_chunks`` (the
chunks, with a generated ``tsvector`` column under a GIN index
without a pending list, English stemming) and ``kb_vectors_<n>`` (one per vector size: chunk
id, base, ``vector(n)`` under an HNSW index; rows go with their chunk by ``ON DELETE CASCADE``).

A nearest-neighbour query filtered to one base (and metadata) runs with pgvector's iterative
index scan (``hnsw.iterative_scan = relaxed_order``), so a filter that the first candidates of
the index do not pass still yields ``limit`` results instead of fewer. Every base of one vector
size shares one HNSW index, so a small base beside a big one is a few percent of the index and
the filtered scan walks far to find its own vectors; a base with fewer than ``exact_below``
vectors is searched exactly instead (its rows by the base index, each one's distance computed),
which is both faster there and exact. The schema is made on
first use (``CREATE EXTENSION IF NOT EXISTS vector`` needs pgvector installed in the server;
a server without it is refused with that said).

Connections come from a small psycopg pool per store, opened lazily in the process that uses it
(so none is copied into a forked Celery worker).
"""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np
import psycopg
from psycopg import sql
from psycopg_pool import ConnectionPool, PoolTimeout

from runtime.knowledge.embedders import Vectors
from runtime.knowledge.errors import KnowledgeError, Superseded
from runtime.knowledge.store import (
    Filters,
    KnowledgeStore,
    NewChunk,
    StoredChunk,
    check_filters,
    query_terms,
)

POOL_SIZE = 4
# Seconds to wait for a connection when the store is first used.
CONNECT_TIMEOUT = 10.0
# HNSW search breadth: pgvector's default (40) loses recall past ~50k vectors; 100 keeps it
# high at a small cost (bench/knowledge.py measures both).
EF_SEARCH = 100
TEXT_SEARCH_CONFIG = "english"
# Up to this many distinct words, lexical search asks for the chunks with two of them first (66
# pairs, each an index scan); a longer query is one OR, as its pairs would cost more than they
# save.
MAX_PAIRED_LEXEMES = 12
# A base with fewer vectors than this is searched exactly rather than through the shared HNSW
# index (bench/knowledge.py latency measures both: a 10k base beside a 100k one, hybrid p50 52 ms
# exact against 102 ms by the index), and how long a base's size is taken as known.
EXACT_SCAN_BELOW = 15_000
SIZE_SECONDS = 30.0

_SCHEMA = f"""
CREATE TABLE IF NOT EXISTS kb_chunks (
    id bigserial PRIMARY KEY,
    base_id text NOT NULL,
    document_id text NOT NULL,
    position integer NOT NULL,
    text text NOT NULL,
    meta jsonb NOT NULL DEFAULT '{{}}',
    text_hash text NOT NULL,
    dims integer NOT NULL,
    tsv tsvector GENERATED ALWAYS AS (to_tsvector('{TEXT_SEARCH_CONFIG}', text)) STORED,
    UNIQUE (document_id, position)
);
CREATE INDEX IF NOT EXISTS kb_chunks_base ON kb_chunks (base_id, document_id);
CREATE INDEX IF NOT EXISTS kb_chunks_tsv ON kb_chunks USING gin (tsv) WITH (fastupdate = off);
CREATE TABLE IF NOT EXISTS kb_documents (
    document_id text PRIMARY KEY,
    base_id text NOT NULL,
    generation integer NOT NULL
);
CREATE INDEX IF NOT EXISTS kb_documents_base ON kb_documents (base_id);
"""


def _lexemes(conn: psycopg.Connection[Any], terms: list[str]) -> list[str]:
    """The words as the index has them (stemmed, stop words dropped), in query order, once."""
    rows = conn.execute(
        "SELECT lexeme FROM unnest(to_tsvector(%s::regconfig, %s)) ORDER BY positions[1]",
        (TEXT_SEARCH_CONFIG, " ".join(terms)),
    ).fetchall()
    return [str(row[0]) for row in rows]


def _quoted(lexeme: str) -> str:
    """A lexeme as a tsquery operand (taken as it is: not parsed or stemmed again)."""
    return "'" + lexeme.replace("\\", "\\\\").replace("'", "''") + "'"


def _vector_literal(vector: Vectors) -> str:
    row = np.asarray(vector, dtype=np.float32).reshape(-1)
    return "[" + ",".join(f"{value:.7g}" for value in row.tolist()) + "]"


class PostgresStore(KnowledgeStore):
    backend = "pgvector"

    def __init__(
        self, url: str, pool_size: int = POOL_SIZE, exact_below: int = EXACT_SCAN_BELOW
    ) -> None:
        self.url = url
        self.pool_size = pool_size
        self.exact_below = exact_below
        # (vector size, base) -> (when it was looked at, whether it is small)
        self._small: dict[tuple[int, str], tuple[float, bool]] = {}
        self._pool: ConnectionPool | None = None
        self._lock = threading.Lock()
        self._vector_tables: set[int] = set()
        self._ready = False

    def __repr__(self) -> str:
        return "PostgresStore(…)"  # the URL may hold a password

    def _connection(self) -> Any:
        with self._lock:
            if self._pool is None:
                self._pool = ConnectionPool(
                    self.url,
                    min_size=0,
                    max_size=self.pool_size,
                    kwargs={"autocommit": False, "application_name": "flowbuilder-knowledge"},
                    open=True,
                )
            if not self._ready:
                try:
                    with self._pool.connection(timeout=CONNECT_TIMEOUT) as conn:
                        self._migrate(conn)
                except (psycopg.OperationalError, PoolTimeout) as exc:
                    raise KnowledgeError(
                        f"the knowledge store's PostgreSQL cannot be reached: {exc}"
                    ) from None
                self._ready = True
        return self._pool.connection()

    def _migrate(self, conn: psycopg.Connection[Any]) -> None:
        try:
            # Two processes making the schema at once would race on CREATE ... IF NOT EXISTS.
            conn.execute("SELECT pg_advisory_xact_lock(727274)")
            conn.execute("CREATE EXTENSION IF NOT EXISTS vector")
        except psycopg.Error as exc:
            conn.rollback()
            raise KnowledgeError(
                "the knowledge store needs the pgvector extension in this PostgreSQL server "
                f"({type(exc).__name__}: {str(exc).strip().splitlines()[0]}); install pgvector, "
                "or point KNOWLEDGE_STORE_URL at an SQLite file (sqlite:///var/knowledge.sqlite3)"
            ) from None
        conn.execute(_SCHEMA)
        # The full-text index takes new entries straight into its tree: with GIN's default
        # pending list, every search also scanned up to 4 MB of unsorted recent entries (160
        # pages, ~9 ms a scan at 100k chunks) until a vacuum merged them. Ingestion's time is
        # the embedding's, so the slower insert does not show. An index made before is changed
        # and its pending list merged once.
        options = conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = 'kb_chunks_tsv'::regclass"
        ).fetchone()
        if options is None or "fastupdate=off" not in (options[0] or []):
            conn.execute("ALTER INDEX kb_chunks_tsv SET (fastupdate = off)")
            conn.execute("SELECT gin_clean_pending_list('kb_chunks_tsv'::regclass)")
        conn.commit()

    def close(self) -> None:
        with self._lock:
            if self._pool is not None:
                self._pool.close()
                self._pool = None

    def _vector_table(self, conn: psycopg.Connection[Any], dims: int) -> sql.Identifier:
        name = f"kb_vectors_{int(dims)}"
        if dims not in self._vector_tables:
            conn.execute("SELECT pg_advisory_xact_lock(727275)")
            conn.execute(
                sql.SQL(
                    "CREATE TABLE IF NOT EXISTS {t} ("
                    "chunk_id bigint PRIMARY KEY REFERENCES kb_chunks (id) ON DELETE CASCADE, "
                    "base_id text NOT NULL, embedding vector({d}) NOT NULL)"
                ).format(t=sql.Identifier(name), d=sql.Literal(int(dims)))
            )
            conn.execute(
                sql.SQL(
                    "CREATE INDEX IF NOT EXISTS {i} ON {t} USING hnsw (embedding vector_cosine_ops)"
                ).format(i=sql.Identifier(f"{name}_hnsw"), t=sql.Identifier(name))
            )
            conn.execute(
                sql.SQL("CREATE INDEX IF NOT EXISTS {i} ON {t} (base_id)").format(
                    i=sql.Identifier(f"{name}_base"), t=sql.Identifier(name)
                )
            )
            self._vector_tables.add(dims)
        return sql.Identifier(name)

    def _query_table(self, conn: psycopg.Connection[Any], vector: Vectors) -> sql.Identifier | None:
        """The vector table a query vector is compared in: the one of its size, if there is one.

        The size comes from the query itself, not from the base's chunks: ``SELECT DISTINCT
        dims`` over a base read every one of its rows (about 150 ms at 100k chunks, twice per
        hybrid search), and only vectors of the query's size can be compared with it anyway.
        """
        dims = int(np.asarray(vector).shape[-1])
        if dims not in self._vector_tables:
            found = conn.execute("SELECT to_regclass(%s)", (f"kb_vectors_{dims}",)).fetchone()
            if found is None or found[0] is None:
                return None  # nothing of this size was ever stored
            self._vector_tables.add(dims)
        return sql.Identifier(f"kb_vectors_{dims}")

    # -- writing ---------------------------------------------------------------------------------

    def claim(self, base_id: str, document_id: str, generation: int) -> None:
        with self._connection() as conn, conn.transaction():
            row = conn.execute(
                "INSERT INTO kb_documents (document_id, base_id, generation) VALUES (%s, %s, %s) "
                "ON CONFLICT (document_id) DO UPDATE SET generation = EXCLUDED.generation "
                "WHERE kb_documents.generation <= EXCLUDED.generation RETURNING generation",
                (document_id, base_id, int(generation)),
            ).fetchone()
        if row is None:
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
        with self._connection() as conn, conn.transaction():
            if generation is not None:
                # Locks the claim's row until this commits: a claim (a re-index) waits for these
                # chunks, and they wait for it, so none lands after it.
                claimed = conn.execute(
                    "SELECT 1 FROM kb_documents WHERE document_id = %s AND generation = %s "
                    "FOR UPDATE",
                    (document_id, int(generation)),
                ).fetchone()
                if claimed is None:
                    raise Superseded(f"document {document_id}: generation {generation} is over")
            table = self._vector_table(conn, dims)
            conn.execute(
                "DELETE FROM kb_chunks WHERE document_id = %s AND position = ANY(%s)",
                (document_id, [chunk.position for chunk in chunks]),
            )
            with conn.cursor() as cursor:
                cursor.executemany(
                    "INSERT INTO kb_chunks (base_id, document_id, position, text, meta, "
                    "text_hash, dims) VALUES (%s, %s, %s, %s, %s, %s, %s) RETURNING id",
                    [
                        (
                            base_id,
                            document_id,
                            chunk.position,
                            chunk.text,
                            json.dumps(dict(chunk.meta), ensure_ascii=False),
                            chunk.text_hash,
                            dims,
                        )
                        for chunk in chunks
                    ],
                    returning=True,
                )
                ids = []
                while True:
                    row = cursor.fetchone()
                    if row is not None:
                        ids.append(int(row[0]))
                    if not cursor.nextset():
                        break
                cursor.executemany(
                    sql.SQL(
                        "INSERT INTO {t} (chunk_id, base_id, embedding) VALUES (%s, %s, %s::vector)"
                    ).format(t=table),
                    [
                        (chunk_id, base_id, _vector_literal(chunk.vector))
                        for chunk_id, chunk in zip(ids, chunks, strict=True)
                    ],
                )
        return len(chunks)

    def chunk_hashes(self, base_id: str, document_id: str) -> dict[int, str]:
        with self._connection() as conn:
            rows = conn.execute(
                "SELECT position, text_hash FROM kb_chunks WHERE base_id = %s AND document_id = %s",
                (base_id, document_id),
            ).fetchall()
        return {int(position): str(digest) for position, digest in rows}

    def _delete(self, where: str, params: tuple[Any, ...], claims: bool = False) -> int:
        # Vectors go by ON DELETE CASCADE; the tsvector is a column of the chunk itself.
        with self._connection() as conn, conn.transaction():
            if claims:  # first: an ingestion writing meanwhile waits, then finds its claim gone
                conn.execute(f"DELETE FROM kb_documents WHERE {where}", params)
            cursor = conn.execute(f"DELETE FROM kb_chunks WHERE {where}", params)
            return int(cursor.rowcount)

    def delete_document(self, base_id: str, document_id: str) -> int:
        return self._delete(
            "base_id = %s AND document_id = %s", (base_id, document_id), claims=True
        )

    def delete_positions_from(self, base_id: str, document_id: str, position: int) -> int:
        return self._delete(
            "base_id = %s AND document_id = %s AND position >= %s",
            (base_id, document_id, position),
        )

    def delete_base(self, base_id: str) -> int:
        return self._delete("base_id = %s", (base_id,), claims=True)

    # -- reading ---------------------------------------------------------------------------------

    def count(self, base_id: str, document_id: str | None = None) -> int:
        query, params = "SELECT count(*) FROM kb_chunks WHERE base_id = %s", [base_id]
        if document_id is not None:
            query += " AND document_id = %s"
            params.append(document_id)
        with self._connection() as conn:
            row = conn.execute(query, params).fetchone()
        return int(row[0]) if row else 0

    def leftovers(self, base_id: str) -> dict[str, int]:
        with self._connection() as conn:
            chunks = conn.execute(
                "SELECT count(*), count(tsv) FROM kb_chunks WHERE base_id = %s", (base_id,)
            ).fetchone()
            tables = conn.execute(
                "SELECT tablename FROM pg_tables WHERE tablename ~ '^kb_vectors_[0-9]+$'"
            ).fetchall()
            vectors = 0
            for (name,) in tables:
                row = conn.execute(
                    sql.SQL("SELECT count(*) FROM {t} WHERE base_id = %s").format(
                        t=sql.Identifier(name)
                    ),
                    (base_id,),
                ).fetchone()
                vectors += int(row[0]) if row else 0
            claims = conn.execute(
                "SELECT count(*) FROM kb_documents WHERE base_id = %s", (base_id,)
            ).fetchone()
        assert chunks is not None and claims is not None
        return {
            "chunks": int(chunks[0]),
            "fulltext": int(chunks[1]),
            "vectors": vectors,
            "claims": int(claims[0]),
        }

    _COLUMNS = "id, base_id, document_id, position, text, meta"

    def _chunks(self, rows: Iterable[Any]) -> list[StoredChunk]:
        return [
            StoredChunk(int(r[0]), str(r[1]), str(r[2]), int(r[3]), str(r[4]), dict(r[5]))
            for r in rows
        ]

    def list_chunks(
        self, base_id: str, document_id: str, offset: int = 0, limit: int = 50
    ) -> list[StoredChunk]:
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {self._COLUMNS} FROM kb_chunks WHERE base_id = %s AND document_id = %s "
                "ORDER BY position LIMIT %s OFFSET %s",
                (base_id, document_id, limit, offset),
            ).fetchall()
        return self._chunks(rows)

    def fetch(self, base_id: str, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]:
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        with self._connection() as conn:
            rows = conn.execute(
                f"SELECT {self._COLUMNS} FROM kb_chunks WHERE base_id = %s AND id = ANY(%s)",
                (base_id, ids),
            ).fetchall()
        return {chunk.id: chunk for chunk in self._chunks(rows)}

    def _filter_sql(self, filters: Filters | None, alias: str) -> tuple[str, list[Any]]:
        clauses: list[str] = []
        params: list[Any] = []
        for key, values in check_filters(filters):
            if key == "document_id":
                clauses.append(f"{alias}.document_id = ANY(%s)")
                params.append([str(value) for value in values])
            else:
                # Containment of {"key": value} for any of the values: the jsonb's own equality,
                # so 3 matches 3 and "3" matches "3", as in SQLite's json_extract.
                alternatives = " OR ".join([f"{alias}.meta @> %s::jsonb"] * len(values))
                clauses.append(f"({alternatives})")
                params.extend(json.dumps({key: value}) for value in values)
        return "".join(f" AND {clause}" for clause in clauses), params

    def lexical(
        self, base_id: str, query: str, limit: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """By ``ts_rank`` of the OR of the query's words, read in two steps.

        ``ts_rank`` (no weights set, no normalisation) puts every chunk with two of the words
        above every chunk with one: one word, however often it occurs, adds at most its weight
        w; two words once each add 2w/1.64. So the best ``limit`` chunks are the best of those
        with two of the words, and only when they are fewer than ``limit`` do the ones with a
        single word follow. Asking for the pairs first reads and ranks tens of rows at 100k
        chunks where the OR matches thousands, and returns the same ranking.
        """
        terms = query_terms(query)
        if not terms:
            return []
        where, params = self._filter_sql(filters, "c")
        with self._connection() as conn:
            lexemes = _lexemes(conn, terms)
            if not lexemes:
                return []  # only stop words
            anything = " | ".join(_quoted(lexeme) for lexeme in lexemes)
            found: list[tuple[int, float]] = []
            if 2 <= len(lexemes) <= MAX_PAIRED_LEXEMES:
                # One `@@` per pair, so the plan ORs one index scan per pair (each intersects
                # two posting lists: ~1 ms for 15 pairs); a single tsquery of OR-ed pairs makes
                # GIN test every chunk with any of the words against all the pairs (~7 ms).
                two = [
                    f"{_quoted(a)} & {_quoted(b)}"
                    for i, a in enumerate(lexemes)
                    for b in lexemes[i + 1 :]
                ]
                found = self._ranked(conn, two, anything, base_id, where, params, limit)
            if len(found) < limit:
                seen = {chunk_id for chunk_id, _ in found}
                more = self._ranked(
                    conn, [anything], anything, base_id, where, params, limit + len(found)
                )
                found += [hit for hit in more if hit[0] not in seen][: limit - len(found)]
        return found

    def _ranked(
        self,
        conn: psycopg.Connection[Any],
        matching: list[str],
        ranking: str,
        base_id: str,
        where: str,
        params: list[Any],
        limit: int,
    ) -> list[tuple[int, float]]:
        """The chunks matching any of the ``matching`` tsqueries, by ``ts_rank`` of ``ranking``."""
        any_of = " OR ".join(["c.tsv @@ %s::tsquery"] * len(matching))
        rows = conn.execute(
            "SELECT c.id, ts_rank(c.tsv, %s::tsquery) AS score FROM kb_chunks c "
            f"WHERE ({any_of}) AND c.base_id = %s{where} "
            "ORDER BY score DESC, c.id LIMIT %s",
            (ranking, *matching, base_id, *params, limit),
        ).fetchall()
        return [(int(i), float(score)) for i, score in rows]

    def nearest(
        self, base_id: str, vector: Vectors, limit: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        with self._connection() as conn, conn.transaction():
            table = self._query_table(conn, vector)
            if table is None:
                return []
            where, params = self._filter_sql(filters, "c")
            join = " JOIN kb_chunks c ON c.id = v.chunk_id" if where else ""
            if self._is_small(conn, table, int(np.asarray(vector).shape[-1]), base_id):
                # Materialised with its distances: nothing outside can order by the index.
                exact = sql.SQL(
                    "WITH mine AS MATERIALIZED (SELECT v.chunk_id, v.embedding <=> %s::vector "
                    "AS distance FROM {t} v" + join + " WHERE v.base_id = %s" + where + ") "
                    "SELECT chunk_id, distance FROM mine ORDER BY distance, chunk_id LIMIT %s"
                ).format(t=table)
                rows = conn.execute(
                    exact, (_vector_literal(vector), base_id, *params, limit)
                ).fetchall()
                return [(int(i), 1.0 - float(distance)) for i, distance in rows]
            # Both settings in one round trip (no parameters: one simple query, two statements).
            conn.execute(
                sql.SQL(
                    "SET LOCAL hnsw.iterative_scan = relaxed_order; SET LOCAL hnsw.ef_search = {n}"
                ).format(n=sql.Literal(EF_SEARCH))
            )
            query = sql.SQL(
                "SELECT chunk_id, distance FROM (SELECT v.chunk_id, v.embedding <=> %s::vector "
                "AS distance FROM {t} v"
                + join
                + " WHERE v.base_id = %s"
                + where
                + " ORDER BY distance LIMIT %s) AS found ORDER BY distance"
            ).format(t=table)
            rows = conn.execute(
                query, (_vector_literal(vector), base_id, *params, limit)
            ).fetchall()
        return [(int(i), 1.0 - float(distance)) for i, distance in rows]

    def _is_small(
        self, conn: psycopg.Connection[Any], table: sql.Identifier, dims: int, base_id: str
    ) -> bool:
        """Whether the base has fewer than ``exact_below`` vectors of this size (counted at
        most that far, and remembered a while: a base that grows or shrinks meanwhile is still
        searched correctly, only by the other way)."""
        if self.exact_below <= 0:
            return False
        now = time.monotonic()
        known = self._small.get((dims, base_id))
        if known is not None and now - known[0] < SIZE_SECONDS:
            return known[1]
        row = conn.execute(
            sql.SQL(
                "SELECT count(*) FROM (SELECT 1 FROM {t} WHERE base_id = %s LIMIT %s) AS counted"
            ).format(t=table),
            (base_id, self.exact_below),
        ).fetchone()
        small = row is not None and int(row[0]) < self.exact_below
        if len(self._small) > 10_000:  # bases come and go: forget them all now and then
            self._small.clear()
        self._small[(dims, base_id)] = (now, small)
        return small

    def similarities(
        self, base_id: str, vector: Vectors, chunk_ids: Iterable[int]
    ) -> dict[int, float]:
        ids = [int(i) for i in chunk_ids]
        if not ids:
            return {}
        with self._connection() as conn, conn.transaction():
            table = self._query_table(conn, vector)
            if table is None:
                return {}
            rows = conn.execute(
                sql.SQL(
                    "SELECT chunk_id, embedding <=> %s::vector FROM {t} "
                    "WHERE base_id = %s AND chunk_id = ANY(%s)"
                ).format(t=table),
                (_vector_literal(vector), base_id, ids),
            ).fetchall()
        return {int(i): 1.0 - float(distance) for i, distance in rows}
