"""What a step may ask of knowledge bases (``Services.knowledge``): search one by name or id.

The server implements it over the run's workspace (``knowledge.service``); :class:`StoreKnowledge`
implements it over a store and a fixed set of bases (the engine alone, tests). Either way a step
gets the same answer: the chunks, best first, each with its source (base, document, position,
page or row where known) and why it ranked, ready to be cited.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Protocol

from runtime.knowledge.embedders import Embedder, embedder_for
from runtime.knowledge.errors import KnowledgeBaseNotFound
from runtime.knowledge.search import Hit, SearchRequest, search
from runtime.knowledge.store import KnowledgeStore


@dataclass(frozen=True, slots=True)
class BaseInfo:
    id: str
    name: str
    embedding_model: str
    description: str = ""


class KnowledgeService(Protocol):
    async def bases(self) -> list[BaseInfo]:
        """The knowledge bases a step may search."""
        ...

    async def search(self, base: str, request: SearchRequest) -> list[dict[str, Any]]:
        """:func:`cited` hits for the base named (or with this id); KnowledgeBaseNotFound."""
        ...


def find_base(bases: list[BaseInfo], ref: str) -> BaseInfo:
    wanted = ref.strip()
    for info in bases:
        if info.id == wanted:
            return info
    named = [info for info in bases if info.name.casefold() == wanted.casefold()]
    if len(named) == 1:
        return named[0]
    have = ", ".join(sorted(info.name for info in bases)) or "none"
    if named:
        raise KnowledgeBaseNotFound(f"{len(named)} knowledge bases are named {ref!r}: use its id")
    raise KnowledgeBaseNotFound(f"there is no knowledge base {ref!r} (there are: {have})")


def cited(hit: Hit, base: BaseInfo) -> dict[str, Any]:
    """A hit as a step's output gives it: text, score and a source that links back to it."""
    meta = hit.chunk.meta
    source: dict[str, Any] = {
        "base_id": base.id,
        "base": base.name,
        "document_id": hit.chunk.document_id,
        "document": meta.get("document", ""),
        "chunk_id": hit.chunk.id,
        "position": hit.chunk.position,
    }
    for key in ("page", "page_end", "row", "row_end", "item", "heading", "title"):
        if key in meta:
            source[key] = meta[key]
    found = hit.as_dict()
    return {
        "rank": hit.rank,
        "text": hit.chunk.text,
        "score": found["score"],
        "similarity": found["similarity"],
        "why": found["why"],
        "source": source,
        "meta": meta,
    }


class StoreKnowledge:
    """KnowledgeService over a store and bases given up front."""

    def __init__(
        self,
        store: KnowledgeStore,
        bases: list[BaseInfo],
        embedders: Mapping[str, Embedder] | None = None,
    ) -> None:
        self.store = store
        self._bases = bases
        self._embedders = dict(embedders or {})

    async def bases(self) -> list[BaseInfo]:
        return list(self._bases)

    async def search(self, base: str, request: SearchRequest) -> list[dict[str, Any]]:
        info = find_base(self._bases, base)
        embedder = self._embedders.get(info.embedding_model) or embedder_for(info.embedding_model)
        hits = await search(self.store, embedder, info.id, request)
        return [cited(hit, info) for hit in hits]
