"""What people do to knowledge bases, each one transaction with its audit entry: create, change
and delete bases, upload, retry and delete documents, re-index, search. Views only call these."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F

from editor.audit import record
from editor.errors import Conflict, OperationError
from editor.models import Workspace
from knowledge import ingestion, live
from knowledge.models import ACTIVE_STATUSES, Document, DocumentFile, DocumentStatus, KnowledgeBase
from knowledge.stores import store
from runtime.knowledge.chunking import ChunkSettings
from runtime.knowledge.embedders import DEFAULT_EMBEDDING_MODEL, embedder_for
from runtime.knowledge.parsing import KINDS, detect_kind


class TooLarge(OperationError):
    status = 413
    code = "document_too_large"


@dataclass(frozen=True)
class Upload:
    name: str
    data: bytes
    content_type: str = ""


def _checked_settings(model: str, size: int, overlap: int) -> None:
    try:
        ChunkSettings(size, overlap)
    except ValueError as exc:
        raise OperationError(str(exc), fields={"chunk_size": [str(exc)]}) from None
    try:
        embedder_for(model)
    except Exception as exc:  # an unknown model id: said before anything is stored
        raise OperationError(str(exc), fields={"embedding_model": [str(exc)]}) from None


def create_base(
    workspace: Workspace,
    *,
    user: Any,
    name: str,
    description: str = "",
    embedding_model: str = DEFAULT_EMBEDDING_MODEL,
    embedding_credential: str = "",
    chunk_size: int = 1000,
    chunk_overlap: int = 150,
    via: str = "session",
) -> KnowledgeBase:
    _checked_settings(embedding_model, chunk_size, chunk_overlap)
    try:
        with transaction.atomic():
            base = KnowledgeBase.objects.create(
                workspace=workspace,
                name=name,
                description=description,
                embedding_model=embedding_model,
                embedding_credential=embedding_credential,
                chunk_size=chunk_size,
                chunk_overlap=chunk_overlap,
                created_by=user,
            )
            record("knowledge.created", actor=user, workspace=workspace, target=base, via=via)
    except IntegrityError:
        raise Conflict(f"this workspace already has a knowledge base named {name!r}") from None
    return base


def change_base(
    base: KnowledgeBase, *, user: Any, via: str = "session", **changes: Any
) -> KnowledgeBase:
    """Rename or describe it; new chunking or a new model re-indexes every document."""
    model = changes.get("embedding_model", base.embedding_model)
    size = changes.get("chunk_size", base.chunk_size)
    overlap = changes.get("chunk_overlap", base.chunk_overlap)
    _checked_settings(model, size, overlap)
    reindex_needed = (
        model,
        size,
        overlap,
        changes.get("embedding_credential", base.embedding_credential),
    ) != (
        base.embedding_model,
        base.chunk_size,
        base.chunk_overlap,
        base.embedding_credential,
    )
    try:
        with transaction.atomic():
            for key, value in changes.items():
                setattr(base, key, value)
            base.save()
            record(
                "knowledge.changed",
                actor=user,
                workspace=base.workspace,
                target=base,
                via=via,
                detail={"fields": sorted(changes)},
            )
    except IntegrityError:
        raise Conflict(f"this workspace already has a knowledge base named {base.name!r}") from None
    if reindex_needed:
        reindex(base, user=user, via=via)
    return base


def delete_base(base: KnowledgeBase, *, user: Any, via: str = "session") -> None:
    with transaction.atomic():
        record("knowledge.deleted", actor=user, workspace=base.workspace, target=base, via=via)
        base.delete()  # chunks and vectors go after commit (knowledge.signals)


def upload(
    base: KnowledgeBase,
    files: list[Upload],
    *,
    user: Any,
    encoding: str = "",
    metadata: dict[str, Any] | None = None,
    via: str = "session",
) -> list[Document]:
    """Documents for the files, queued for ingestion; the whole upload is refused if a file is
    over the size limit or of a kind that cannot be read (nothing of it is kept)."""
    limit = int(settings.KNOWLEDGE_MAX_DOCUMENT_BYTES)
    if not files:
        raise OperationError("no files were sent (send them as multipart field 'files')")
    if len(files) > int(settings.KNOWLEDGE_MAX_FILES):
        raise OperationError(f"at most {settings.KNOWLEDGE_MAX_FILES} files per upload")
    for item in files:
        if len(item.data) > limit:
            raise TooLarge(
                f"{item.name} is {len(item.data):,} bytes; a document may be at most {limit:,}"
            )
        if detect_kind(item.name, item.content_type, item.data[:1024]) not in KINDS:
            raise OperationError(f"{item.name}: not a kind of document that can be read")
    with transaction.atomic():
        documents = []
        for item in files:
            document = Document.objects.create(
                base=base,
                name=item.name[:255],
                content_type=item.content_type[:100],
                size=len(item.data),
                sha256=hashlib.sha256(item.data).hexdigest(),
                encoding=encoding,
                metadata=dict(metadata or {}),
                uploaded_by=user,
            )
            DocumentFile.objects.create(document=document, data=item.data)
            documents.append(document)
        record(
            "knowledge.uploaded",
            actor=user,
            workspace=base.workspace,
            target=base,
            via=via,
            detail={"documents": [d.name for d in documents]},
        )
        ingestion.queue([(str(d.pk), d.generation) for d in documents])
        live.changed_after_commit(base.pk)
    return documents


def retry_document(document: Document, *, user: Any, via: str = "session") -> Document:
    """Ingest a failed document again; it resumes, keeping the chunks it had stored."""
    with transaction.atomic():
        # A new generation: an ingestion of the document still running stops (none should be,
        # but a worker that died mid-way may yet have its task delivered again).
        queued = (
            Document.objects.filter(pk=document.pk)
            .exclude(status__in=ACTIVE_STATUSES)
            .update(
                status=DocumentStatus.QUEUED,
                generation=F("generation") + 1,
                error_code="",
                error_message="",
                error_retryable=False,
            )
        )
        if not queued:
            document.refresh_from_db(fields=["status"])
            raise Conflict(f"{document.name} is being ingested ({document.status})")
        generation = Document.objects.values_list("generation", flat=True).get(pk=document.pk)
        record(
            "knowledge.retried",
            actor=user,
            workspace=document.base.workspace,
            target=document,
            via=via,
        )
        ingestion.queue([(str(document.pk), generation)])
        live.changed_after_commit(document.base_id)
    document.refresh_from_db()
    return document


def delete_document(document: Document, *, user: Any, via: str = "session") -> None:
    with transaction.atomic():
        record(
            "knowledge.document_deleted",
            actor=user,
            workspace=document.base.workspace,
            target=document,
            via=via,
        )
        live.changed_after_commit(document.base_id)
        document.delete()  # chunks and vectors go after commit (knowledge.signals)


def reindex(base: KnowledgeBase, *, user: Any, via: str = "session") -> int:
    """Every document parsed, chunked and embedded again with the base's current settings (its
    chunks are removed first: a new model may have vectors of another size); how many."""
    with transaction.atomic():
        locked = KnowledgeBase.objects.select_for_update().get(pk=base.pk)
        locked.dimensions = None
        locked.save(update_fields=["dimensions", "updated_at"])
        # A new generation of every document: an ingestion still running (of an upload, or of
        # a re-index before) stops at its next write, and the store refuses its chunks from the
        # moment their claims go with the chunks below (runtime.knowledge.store).
        Document.objects.filter(base=base).update(
            status=DocumentStatus.QUEUED,
            generation=F("generation") + 1,
            chunks_done=0,
            error_code="",
            error_message="",
            error_retryable=False,
        )
        queued = [
            (str(pk), generation)
            for pk, generation in Document.objects.filter(base=base).values_list("pk", "generation")
        ]
        record("knowledge.reindexed", actor=user, workspace=base.workspace, target=base, via=via)
        transaction.on_commit(lambda: store().delete_base(str(base.pk)))
        ingestion.queue(queued)
        live.changed_after_commit(base.pk)
    base.refresh_from_db()
    return len(queued)
