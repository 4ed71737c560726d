"""One document through parse → chunk → embed → index, reporting each stage, resumable.

Chunks are embedded and stored in batches, each batch in one transaction of the store, so an
embedding endpoint that fails halfway leaves the batches before it stored. Run again (a retry),
ingestion chunks the document the same way, keeps every stored chunk whose text is unchanged at
its position, and embeds only the rest: nothing is embedded twice and no chunk is duplicated.
Chunks at positions the new chunking no longer has (settings changed) are removed.

A batch whose embedding fails with a transient error (the endpoint rate limited, overloaded,
unreachable or slow) is tried again a few times with growing waits (``retry``, after the
vendor's Retry-After when it sends one) before the document fails: one 503 in a thousand
requests should not need a person to press Retry.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

from runtime.errors import StepError
from runtime.knowledge.chunking import ChunkSettings, chunk_sections
from runtime.knowledge.embedders import Embedder, Vectors
from runtime.knowledge.errors import DimensionMismatch
from runtime.knowledge.parsing import parse
from runtime.knowledge.store import KnowledgeStore, NewChunk, text_hash
from runtime.retry import RetryPolicy

BATCH = 32
# parse, chunk, embed, index: what a document's status says it is doing.
STAGES = ("parsing", "chunking", "embedding", "indexing")
# Four tries of a batch, 1 + 2 + 4 s apart: a restart of the endpoint or a short rate limit passes.
EMBED_RETRY = RetryPolicy(max_attempts=4, initial_delay=1.0, backoff=2.0, max_delay=30.0)


@dataclass(frozen=True, slots=True)
class Progress:
    stage: str
    done: int = 0  # chunks embedded and stored so far
    total: int = 0  # chunks of the document
    # While a batch waits to be tried again after a transient error: what failed and when the
    # next try comes ("… trying again in 2 s (try 2 of 4)"); empty otherwise.
    retrying: str = ""


@dataclass(frozen=True, slots=True)
class Ingested:
    kind: str
    title: str
    chunks: int
    embedded: int  # how many were embedded this time (the rest were kept from before)
    characters: int
    dimensions: int | None  # of the vectors embedded (None: nothing needed embedding)


@dataclass(frozen=True, slots=True)
class Source:
    base_id: str
    document_id: str
    name: str
    data: bytes
    content_type: str | None = None
    encoding: str | None = None
    meta: Mapping[str, Any] | None = None  # the document's own metadata, on every chunk


async def ingest(
    source: Source,
    store: KnowledgeStore,
    embedder: Embedder,
    settings: ChunkSettings,
    report: Callable[[Progress], Any] = lambda _p: None,
    batch: int = BATCH,
    dimensions: int | None = None,
    retry: RetryPolicy = EMBED_RETRY,
    generation: int | None = None,
) -> Ingested:
    """Ingest one document; a :class:`~runtime.knowledge.errors.DocumentError` when it cannot
    be read, the embedder's errors when embedding fails (what is stored stays stored),
    :class:`~runtime.knowledge.errors.DimensionMismatch` when its vectors are not of the
    base's size (``dimensions``; None: the base has none yet), and
    :class:`~runtime.knowledge.errors.Superseded` when a newer ``generation`` of the
    document's ingestion has claimed it (None: no claim, for a caller that runs one at a time).
    """
    await _report(report, Progress("parsing"))
    parsed = await asyncio.to_thread(
        parse, source.data, source.name, source.content_type, source.encoding
    )
    await _report(report, Progress("chunking"))
    chunks = chunk_sections(parsed.sections, settings)
    document_meta = {
        **dict(source.meta or {}),
        "document": source.name,
        "kind": parsed.kind,
        **({"title": parsed.title} if parsed.title else {}),
    }
    if generation is not None:
        # Before reading what is stored: from here on an older ingestion of the document still
        # running (a re-index started meanwhile) can store nothing more.
        await asyncio.to_thread(store.claim, source.base_id, source.document_id, generation)
    stored = await asyncio.to_thread(store.chunk_hashes, source.base_id, source.document_id)
    if any(position >= len(chunks) for position in stored):
        await asyncio.to_thread(
            store.delete_positions_from, source.base_id, source.document_id, len(chunks)
        )
    todo = [c for c in chunks if stored.get(c.position) != text_hash(c.text)]
    done = len(chunks) - len(todo)
    await _report(report, Progress("embedding", done, len(chunks)))

    async def waiting(note: str) -> None:
        await _report(report, Progress("embedding", done, len(chunks), retrying=note))

    for start in range(0, len(todo), batch):
        group = todo[start : start + batch]
        vectors = await _embedded(embedder, [chunk.text for chunk in group], retry, waiting)
        if dimensions is not None and vectors.shape[1] != dimensions:
            raise DimensionMismatch(
                f"{embedder.model} gave {vectors.shape[1]}-dimension vectors; this knowledge "
                f"base holds {dimensions}-dimension ones (re-index it to change its model)"
            )
        dimensions = int(vectors.shape[1])
        rows = [
            NewChunk(
                chunk.position, chunk.text, {**document_meta, **chunk.meta}, vectors[i : i + 1]
            )
            for i, chunk in enumerate(group)
        ]
        await asyncio.to_thread(
            store.add_chunks, source.base_id, source.document_id, rows, generation
        )
        done += len(group)
        await _report(report, Progress("embedding", done, len(chunks)))
    await _report(report, Progress("indexing", len(chunks), len(chunks)))
    return Ingested(
        parsed.kind, parsed.title, len(chunks), len(todo), parsed.characters, dimensions
    )


async def _embedded(
    embedder: Embedder,
    texts: list[str],
    retry: RetryPolicy,
    waiting: Callable[[str], Awaitable[None]],
) -> Vectors:
    """The texts' vectors, trying again after a transient error as ``retry`` says; ``waiting``
    is told what failed before each wait, so the document does not look stuck meanwhile."""
    attempt = 1
    while True:
        try:
            return await embedder.embed_passages(texts)
        except StepError as exc:
            delay = retry.next_delay(attempt, exc)
            if delay is None:
                if attempt > 1:  # the document's error says it was not for want of trying
                    exc.args = (f"{exc} (gave up after {attempt} tries)", *exc.args[1:])
                raise
            when = f"trying again in {_seconds(delay)} s"
            note = f"{exc}; {when} (try {attempt + 1} of {retry.max_attempts})"
        attempt += 1
        await waiting(note)
        await asyncio.sleep(delay)


def _seconds(delay: float) -> str:
    return f"{delay:.2g}" if delay < 10 else f"{delay:.0f}"


async def _report(report: Callable[[Progress], Any], progress: Progress) -> None:
    result = report(progress)
    if asyncio.iscoroutine(result):
        await result
