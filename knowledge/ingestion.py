"""Ingesting one document on a worker: take it, run the engine's pipeline, record how it went.

Progress goes onto the document's row as it happens (stage, chunks embedded of all), at most a
few writes a second, and each write is pushed to the base's pages (:mod:`knowledge.live`). A
retryable failure (the embedding endpoint down or rate limited) leaves the document ``failed``
with ``error_retryable`` set, and a retry resumes where it stopped. Every progress write is
conditional on the row still being there: a document deleted while it is ingested stops at its
next report and removes what it had stored.
"""

from __future__ import annotations

import asyncio
import time
from typing import Any

from django.conf import settings
from django.db import close_old_connections, connection, transaction
from django.db.models import F
from django.utils import timezone

from knowledge import live
from knowledge.credentials import embedding_secrets
from knowledge.models import ACTIVE_STATUSES, Document, DocumentFile, DocumentStatus, KnowledgeBase
from knowledge.stores import store
from runtime.errors import StepError
from runtime.knowledge.chunking import ChunkSettings
from runtime.knowledge.embedders import embedder_for
from runtime.knowledge.errors import Superseded
from runtime.knowledge.ingest import EMBED_RETRY, Progress, Source, ingest
from runtime.retry import RetryPolicy

# Seconds between two progress writes of one document (stage changes are always written).
PROGRESS_EVERY = 0.3


class DocumentGone(Exception):
    """The document was deleted while it was being ingested."""


def ingest_document(document_id: str, generation: int | None = None) -> str:
    """Ingest the document (if it is still waiting or was left mid-way, and ``generation`` is
    still its current one; None: whichever is); its final status."""
    if generation is None:
        generation = (
            Document.objects.filter(pk=document_id).values_list("generation", flat=True).first()
        )
        if generation is None:
            return "skipped"
    updated = Document.objects.filter(
        pk=document_id, generation=generation, status__in=ACTIVE_STATUSES
    ).update(status=DocumentStatus.PARSING, attempts=F("attempts") + 1, updated_at=timezone.now())
    if not updated:
        return "skipped"
    document = Document.objects.select_related("base").get(pk=document_id)
    base = document.base
    data = bytes(DocumentFile.objects.values_list("data", flat=True).get(document_id=document_id))
    source = Source(
        base_id=str(base.pk),
        document_id=str(document.pk),
        name=document.name,
        data=data,
        content_type=document.content_type or None,
        encoding=document.encoding or None,
        meta=document.metadata,
    )
    reporter = _Reporter(str(base.pk), document_id, generation)
    try:
        credential = base.embedding_credential or None
        secrets = embedding_secrets(base.workspace_id, credential)
        embedder = embedder_for(base.embedding_model, credential, secrets)
        done = asyncio.run(
            ingest(
                source,
                store(),
                embedder,
                ChunkSettings(base.chunk_size, base.chunk_overlap),
                reporter.report,
                dimensions=base.dimensions,
                retry=embed_retry(),
                generation=generation,
            )
        )
    except DocumentGone:
        store().delete_document(str(base.pk), document_id)
        return "deleted"
    except Superseded:  # a re-index or a retry took the document over: it says how it went
        return "superseded"
    except StepError as exc:
        _finish(
            document_id,
            str(base.pk),
            generation,
            status=DocumentStatus.FAILED,
            error_code=exc.code,
            error_message=str(exc)[:2000],
            error_retryable=exc.retryable,
        )
        return DocumentStatus.FAILED
    finally:
        close_old_connections()
    if done.dimensions is not None:
        KnowledgeBase.objects.filter(pk=base.pk, dimensions__isnull=True).update(
            dimensions=done.dimensions
        )
    _finish(
        document_id,
        str(base.pk),
        generation,
        status=DocumentStatus.READY,
        kind=done.kind,
        title=done.title[:500],
        chunks_done=done.chunks,
        chunks_total=done.chunks,
        characters=done.characters,
        error_code="",
        error_message="",
        error_retryable=False,
    )
    return DocumentStatus.READY


def embed_retry() -> RetryPolicy:
    """How often a batch is tried when its embedding fails with a transient error (settings)."""
    return EMBED_RETRY.model_copy(
        update={
            "max_attempts": max(1, int(settings.KNOWLEDGE_EMBED_ATTEMPTS)),
            "initial_delay": max(0.0, float(settings.KNOWLEDGE_EMBED_RETRY_SECONDS)),
        }
    )


def _finish(document_id: str, base_id: str, generation: int, **fields: Any) -> None:
    updated = Document.objects.filter(pk=document_id, generation=generation).update(
        finished_at=timezone.now(), updated_at=timezone.now(), **fields
    )
    if not updated:
        if not Document.objects.filter(pk=document_id).exists():
            # Deleted as it finished: what it stored goes too.
            store().delete_document(base_id, document_id)
        return  # else superseded as it finished: the newer ingestion says how it went
    live.push_now(base_id, document_id, {key: _plain(value) for key, value in fields.items()})


def _plain(value: Any) -> Any:
    # A status is a str subclass (TextChoices); the channel layer's encoding wants plain values.
    return str(value) if isinstance(value, str) else value


class _Reporter:
    def __init__(self, base_id: str, document_id: str, generation: int) -> None:
        self.base_id = base_id
        self.document_id = document_id
        self.generation = generation
        self.stage = ""
        self.last = 0.0
        self.retrying = ""  # the note on the row: why a batch waits to be tried again

    async def report(self, progress: Progress) -> None:
        now = time.monotonic()
        same_stage = progress.stage == self.stage and progress.done != progress.total
        if same_stage and progress.retrying == self.retrying and now - self.last < PROGRESS_EVERY:
            return
        self.stage, self.last = progress.stage, now
        fields: dict[str, Any] = {
            "status": progress.stage,
            "chunks_done": progress.done,
            "chunks_total": progress.total,
        }
        if progress.retrying != self.retrying:
            # Shown where a failed document's error is, while the document waits; cleared by
            # the next report once the batch went through.
            fields["error_message"] = progress.retrying
            self.retrying = progress.retrying
        await asyncio.to_thread(self._write, fields)
        # After the row: a page that reads the rows on (re)connecting never goes backwards.
        await live.push(self.base_id, self.document_id, fields)

    def _write(self, fields: dict[str, Any]) -> None:
        try:
            updated = Document.objects.filter(
                pk=self.document_id, generation=self.generation, status__in=ACTIVE_STATUSES
            ).update(**fields, updated_at=timezone.now())
            gone = not updated and not Document.objects.filter(pk=self.document_id).exists()
        finally:
            connection.close()  # this thread's own connection
        if gone:
            raise DocumentGone(self.document_id)
        if not updated:
            raise Superseded(f"document {self.document_id}: a newer ingestion took it over")


def queue(documents: list[tuple[str, int]]) -> None:
    """Send the documents (id, generation) to the workers once the transaction that made them
    commits."""
    from knowledge.tasks import ingest_document as task

    for document_id, generation in documents:
        transaction.on_commit(lambda d=document_id, g=generation: task.delay(str(d), g))
