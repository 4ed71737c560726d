"""The one interface of a knowledge store, and what goes in and comes out of it.

A store keeps chunks (text, position in their document, metadata), a full-text index over them
and their vectors, partitioned by knowledge base. Two real backends implement it:
:mod:`runtime.knowledge.sqlite_store` (sqlite-vec + FTS5, the embedded default) and
:mod:`runtime.knowledge.pg_store` (pgvector with an HNSW index + ``tsvector``);
:func:`runtime.knowledge.backends.open_store` picks one by URL. Ranking, fusion and
explanation live above it, in :mod:`runtime.knowledge.search`, so both backends answer the
same question the same way.

Vectors are kept in one table per dimension count, as both pgvector's HNSW index and
sqlite-vec's ``vec0`` need a fixed size; a base's model, and so its size, is fixed when its
first chunk is stored.

Writes are idempotent by ``(document, position)``: storing a chunk that is already there
replaces it, so an ingestion that is retried never duplicates one. Ingestions of one document
are told apart by a generation number (a re-index or a retry makes a new one): an ingestion
claims the document before it reads what is stored, and from then on the store refuses,
in the same transaction as the write, chunks of any other generation (``Superseded``). So an
older ingestion still running when a re-index starts cannot put back chunks the re-index
removed, nor overwrite the new ones. Calls are synchronous
(both drivers are); async callers run them on a thread.
"""

from __future__ import annotations

import abc
import hashlib
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from runtime.knowledge.embedders import Vectors

# Metadata keys a filter may name: plain names, so they can be spelled into a JSON path safely.
FILTER_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]{0,63}$")
MAX_FILTER_VALUES = 100
FilterValue = str | int | float | bool
Filters = Mapping[str, FilterValue | Sequence[FilterValue]]


@dataclass(frozen=True, slots=True)
class NewChunk:
    position: int
    text: str
    meta: Mapping[str, Any]
    vector: Vectors  # one row

    @property
    def text_hash(self) -> str:
        return text_hash(self.text)


@dataclass(frozen=True, slots=True)
class StoredChunk:
    id: int
    base_id: str
    document_id: str
    position: int
    text: str
    meta: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "document_id": self.document_id,
            "position": self.position,
            "text": self.text,
            "meta": self.meta,
        }


def text_hash(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()[:32]


def check_filters(filters: Filters | None) -> list[tuple[str, list[FilterValue]]]:
    """Filters as (key, accepted values): ``{"kind": "pdf", "team": ["a", "b"]}``. A key is a
    chunk's metadata key, or ``document_id``; a value matches exactly, a list means any of."""
    checked: list[tuple[str, list[FilterValue]]] = []
    for key, value in (filters or {}).items():
        if not isinstance(key, str) or not FILTER_KEY.match(key):
            raise ValueError(f"filter key {key!r}: use letters, digits, _ . - (at most 64)")
        values: list[Any] = list(value) if isinstance(value, list | tuple) else [value]
        if not values or len(values) > MAX_FILTER_VALUES:
            raise ValueError(f"filter {key!r}: give 1 to {MAX_FILTER_VALUES} values")
        for item in values:
            if not isinstance(item, str | int | float | bool):
                raise ValueError(f"filter {key!r}: values are strings, numbers or booleans")
        checked.append((key, values))
    return checked


def as_float32_bytes(vector: Vectors) -> bytes:
    return np.ascontiguousarray(vector, dtype=np.float32).reshape(-1).tobytes()


class KnowledgeStore(abc.ABC):
    """Chunks, their full-text index and their vectors, per knowledge base."""

    backend: str  # "sqlite-vec" or "pgvector"

    @abc.abstractmethod
    def add_chunks(
        self,
        base_id: str,
        document_id: str,
        chunks: Sequence[NewChunk],
        generation: int | None = None,
    ) -> int:
        """Store (or replace) the chunks at their positions, in one transaction; how many.
        With a ``generation``, only if that is the document's claimed one (else
        :class:`~runtime.knowledge.errors.Superseded`, nothing stored)."""

    @abc.abstractmethod
    def claim(self, base_id: str, document_id: str, generation: int) -> None:
        """Make ``generation`` the document's ingestion: writes of any other are refused from
        now on. :class:`~runtime.knowledge.errors.Superseded` if a newer one has claimed it."""

    @abc.abstractmethod
    def chunk_hashes(self, base_id: str, document_id: str) -> dict[int, str]:
        """Position → text hash of the document's stored chunks (what a resumed ingestion
        need not embed again)."""

    @abc.abstractmethod
    def delete_document(self, base_id: str, document_id: str) -> int:
        """Remove the document's chunks, index entries and vectors; how many chunks."""

    @abc.abstractmethod
    def delete_positions_from(self, base_id: str, document_id: str, position: int) -> int:
        """Remove the document's chunks at ``position`` and after (a shorter re-chunking)."""

    @abc.abstractmethod
    def delete_base(self, base_id: str) -> int:
        """Remove everything of the base; how many chunks."""

    @abc.abstractmethod
    def count(self, base_id: str, document_id: str | None = None) -> int: ...

    @abc.abstractmethod
    def leftovers(self, base_id: str) -> dict[str, int]:
        """Rows of the base in each of the store's tables (chunks, full-text, vectors, claims):
        what a deletion must bring to zero."""

    @abc.abstractmethod
    def list_chunks(
        self, base_id: str, document_id: str, offset: int = 0, limit: int = 50
    ) -> list[StoredChunk]: ...

    @abc.abstractmethod
    def fetch(self, base_id: str, chunk_ids: Iterable[int]) -> dict[int, StoredChunk]: ...

    @abc.abstractmethod
    def lexical(
        self, base_id: str, query: str, limit: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, relevance: higher is better) by full-text match, best first."""

    @abc.abstractmethod
    def nearest(
        self, base_id: str, vector: Vectors, limit: int, filters: Filters | None = None
    ) -> list[tuple[int, float]]:
        """(chunk id, cosine similarity) of the nearest vectors, best first."""

    @abc.abstractmethod
    def similarities(
        self, base_id: str, vector: Vectors, chunk_ids: Iterable[int]
    ) -> dict[int, float]:
        """Cosine similarity of the query to each of these chunks (explains lexical hits)."""

    def close(self) -> None:  # noqa: B027 - a store without resources needs no close
        """Release connections."""


def query_terms(query: str, limit: int = 32) -> list[str]:
    """The words of a query, for an OR-match in a full-text index (no operators get through)."""
    seen: list[str] = []
    for word in re.findall(r"\w+", query.lower()):
        if word not in seen:
            seen.append(word)
    return seen[:limit]
