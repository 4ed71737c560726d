"""A deleted base or document takes its chunks and vectors with it, whatever deleted the row.

After commit: a rolled-back deletion keeps its chunks. An ingestion still running for a
document deleted meanwhile finds its row gone at its next progress report and removes what it
wrote since (``knowledge.ingestion``), so nothing is left behind either way.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete

log = logging.getLogger(__name__)


def _base_deleted(sender: Any, instance: Any, **_: Any) -> None:
    base_id = str(instance.pk)
    transaction.on_commit(lambda: _forget(lambda s: s.delete_base(base_id)))


def _document_deleted(sender: Any, instance: Any, **_: Any) -> None:
    base_id, document_id = str(instance.base_id), str(instance.pk)
    transaction.on_commit(lambda: _forget(lambda s: s.delete_document(base_id, document_id)))


def _forget(delete: Any) -> None:
    from knowledge.stores import store

    delete(store())


def connect() -> None:
    from knowledge.models import Document, KnowledgeBase

    post_delete.connect(_base_deleted, sender=KnowledgeBase, dispatch_uid="knowledge.base_deleted")
    post_delete.connect(
        _document_deleted, sender=Document, dispatch_uid="knowledge.document_deleted"
    )
