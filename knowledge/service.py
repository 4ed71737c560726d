"""Searching a workspace's knowledge bases: the one function the API, the retrieve node and the
knowledge_search tool all go through (:func:`search_base`), and the KnowledgeService a run's
steps get (:class:`WorkspaceKnowledge`)."""

from __future__ import annotations

import asyncio
from typing import Any

from django.db import connection

from knowledge.credentials import embedding_secrets
from knowledge.models import KnowledgeBase
from knowledge.stores import store
from runtime.knowledge.embedders import embedder_for
from runtime.knowledge.search import Hit, SearchRequest, search
from runtime.knowledge.service import BaseInfo, cited, find_base


def info_of(base: KnowledgeBase) -> BaseInfo:
    return BaseInfo(str(base.pk), base.name, base.embedding_model, base.description)


def embedder_of(base: KnowledgeBase) -> Any:
    credential = base.embedding_credential or None
    return embedder_for(
        base.embedding_model, credential, embedding_secrets(base.workspace_id, credential)
    )


async def search_base(base: KnowledgeBase, request: SearchRequest, embedder: Any) -> list[Hit]:
    return await search(
        store(), embedder if request.mode != "lexical" else None, str(base.pk), request
    )


class WorkspaceKnowledge:
    """runtime.knowledge.service.KnowledgeService over one workspace's bases. Nothing is read
    when it is made (it is made for every step); the ORM runs on threads of its own, which
    close their connections, as the node runs on the worker's event loop."""

    def __init__(self, workspace_id: Any) -> None:
        self.workspace_id = workspace_id

    def __repr__(self) -> str:
        return f"WorkspaceKnowledge(workspace={self.workspace_id})"

    def _rows(self) -> list[KnowledgeBase]:
        try:
            return list(KnowledgeBase.objects.filter(workspace_id=self.workspace_id))
        finally:
            connection.close()

    async def bases(self) -> list[BaseInfo]:
        return [info_of(base) for base in await asyncio.to_thread(self._rows)]

    def _embedder(self, base: KnowledgeBase) -> Any:
        try:
            return embedder_of(base)
        finally:
            connection.close()

    async def search(self, base: str, request: SearchRequest) -> list[dict[str, Any]]:
        rows = await asyncio.to_thread(self._rows)
        info = find_base([info_of(row) for row in rows], base)
        row = next(row for row in rows if str(row.pk) == info.id)
        embedder = (
            None if request.mode == "lexical" else await asyncio.to_thread(self._embedder, row)
        )
        hits = await search_base(row, request, embedder)
        return [cited(hit, info) for hit in hits]
