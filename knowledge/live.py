"""Document progress pushed to the pages that show a knowledge base, as it happens.

Every socket open on a base's page (``/ws/knowledge/<base>/``, served by
:mod:`orchestrator.knowledge_socket`, which checks membership) is in the base's channel-layer
group; the worker ingesting a document sends each progress write it makes (parse → chunk →
embed → index, chunks embedded of all, the final status or error) to that group::

    {"type": "document.progress", "document": {"id": "...", "status": "embedding", ...}}

and a document added or removed by someone else tells the page to read the list again::

    {"type": "documents.changed"}

The row in the database stays the truth: a push is written after the row, and a page whose
socket is down reads the rows instead (it polls while the socket is not open). So a push that
cannot be sent is logged and dropped, never raised into the ingestion.
"""

from __future__ import annotations

import logging
from typing import Any

from asgiref.sync import async_to_sync
from channels.layers import get_channel_layer
from django.db import transaction

log = logging.getLogger(__name__)

DOCUMENT_PROGRESS = "document.progress"
DOCUMENTS_CHANGED = "documents.changed"


def base_group(base_id: object) -> str:
    """The channel-layer group of the sockets watching one knowledge base."""
    return f"knowledge.{base_id}"


async def push(base_id: object, document_id: object, fields: dict[str, Any]) -> None:
    """Send a document's new state (the fields just written to its row) to the base's pages."""
    await _send(
        base_id, {"type": DOCUMENT_PROGRESS, "document": {"id": str(document_id), **fields}}
    )


def push_now(base_id: object, document_id: object, fields: dict[str, Any]) -> None:
    """:func:`push` from synchronous code (no event loop running in this thread)."""
    async_to_sync(push)(base_id, document_id, fields)


def changed_after_commit(base_id: object) -> None:
    """Once the transaction commits, tell the base's pages that its list of documents changed."""
    message = {"type": DOCUMENTS_CHANGED}
    transaction.on_commit(lambda: async_to_sync(_send)(base_id, message))


async def _send(base_id: object, message: dict[str, Any]) -> None:
    layer = get_channel_layer()
    if layer is None:
        return
    try:
        await layer.group_send(base_group(base_id), message)
    except Exception:  # the pages poll the rows while their socket is down; the row is the truth
        log.warning("could not push knowledge progress to %s", base_group(base_id), exc_info=True)
