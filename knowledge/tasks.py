"""Celery tasks of knowledge bases: ids in, the work done by :mod:`knowledge.ingestion`."""

from __future__ import annotations

from celery import shared_task

from knowledge import ingestion


@shared_task(name="knowledge.tasks.ingest_document", acks_late=True, ignore_result=True)
def ingest_document(document_id: str, generation: int | None = None) -> str:
    # Idempotent: a document already ingested (or deleted, or queued again since: a newer
    # generation) is skipped, and one left mid-way by a dead worker resumes without embedding
    # its stored chunks again.
    return ingestion.ingest_document(document_id, generation)
