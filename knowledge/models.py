"""Knowledge bases and their documents. The chunks, their full-text index and their vectors live
in the knowledge store (``knowledge.stores``), keyed by these ids; deleting a row deletes them
(``knowledge.signals``), however the row goes (the API, the admin, a workspace's cascade)."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from editor.models import Workspace
from runtime.knowledge.chunking import DEFAULT_OVERLAP, DEFAULT_SIZE
from runtime.knowledge.embedders import DEFAULT_EMBEDDING_MODEL


class KnowledgeBase(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(
        Workspace, on_delete=models.CASCADE, related_name="knowledge_bases"
    )
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True, default="", max_length=2000)
    # The model every chunk of the base is embedded with, and so the size of its vectors (known
    # once the first document is embedded); changing the model re-indexes the base.
    embedding_model = models.CharField(max_length=200, default=DEFAULT_EMBEDDING_MODEL)
    embedding_credential = models.CharField(max_length=64, blank=True, default="")
    dimensions = models.PositiveIntegerField(null=True, blank=True)
    chunk_size = models.PositiveIntegerField(default=DEFAULT_SIZE)
    chunk_overlap = models.PositiveIntegerField(default=DEFAULT_OVERLAP)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "name"], name="one_knowledge_base_per_name"
            )
        ]

    def __str__(self) -> str:
        return self.name


class DocumentStatus(models.TextChoices):
    QUEUED = "queued"
    PARSING = "parsing"
    CHUNKING = "chunking"
    EMBEDDING = "embedding"
    INDEXING = "indexing"
    READY = "ready"
    FAILED = "failed"


ACTIVE_STATUSES = (
    DocumentStatus.QUEUED,
    DocumentStatus.PARSING,
    DocumentStatus.CHUNKING,
    DocumentStatus.EMBEDDING,
    DocumentStatus.INDEXING,
)


class Document(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    base = models.ForeignKey(KnowledgeBase, on_delete=models.CASCADE, related_name="documents")
    name = models.CharField(max_length=255)
    content_type = models.CharField(max_length=100, blank=True, default="")
    size = models.PositiveBigIntegerField()
    sha256 = models.CharField(max_length=64)
    encoding = models.CharField(max_length=40, blank=True, default="")
    metadata = models.JSONField(default=dict, blank=True)
    kind = models.CharField(max_length=20, blank=True, default="")
    title = models.CharField(max_length=500, blank=True, default="")
    status = models.CharField(
        max_length=20, choices=DocumentStatus.choices, default=DocumentStatus.QUEUED
    )
    chunks_done = models.PositiveIntegerField(default=0)
    chunks_total = models.PositiveIntegerField(default=0)
    characters = models.PositiveBigIntegerField(default=0)
    error_code = models.CharField(max_length=40, blank=True, default="")
    error_message = models.TextField(blank=True, default="")
    error_retryable = models.BooleanField(default=False)
    attempts = models.PositiveIntegerField(default=0)
    # Which ingestion of the document is the current one: a retry or a re-index makes a new one,
    # and the store refuses chunks of any other (an older ingestion still running stops).
    generation = models.PositiveIntegerField(default=1)
    uploaded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at", "id"]
        indexes = [models.Index(fields=["base", "status"], name="knowledge_doc_base_status")]

    def __str__(self) -> str:
        return self.name


class DocumentFile(models.Model):
    """The uploaded bytes, kept apart so lists of documents never load them; the workers read
    them from the database, so no shared file system is needed between web and workers."""

    document = models.OneToOneField(
        Document, on_delete=models.CASCADE, primary_key=True, related_name="file"
    )
    data = models.BinaryField()
