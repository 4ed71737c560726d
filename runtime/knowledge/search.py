"""Search a knowledge base: lexical, vector, or both fused (the default), with the ranks that
explain each result.

Hybrid takes the best ``candidates`` of each side (full-text relevance; cosine similarity of the
query's embedding), fuses them by reciprocal rank (:mod:`runtime.knowledge.fusion`) and returns
the ``top_k`` best. Every result says where it stood in each ranking and its similarity to the
query, also when only the words found it, so the search box can show why it ranked.

``score_threshold`` is a minimum cosine similarity (0–1): a chunk less similar than that is not
returned, whichever side found it. Lexical search makes no embedding, so it takes no threshold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.knowledge.embedders import Embedder
from runtime.knowledge.fusion import K, reciprocal_rank_fusion
from runtime.knowledge.store import Filters, KnowledgeStore, StoredChunk, check_filters

Mode = Literal["hybrid", "lexical", "vector"]
MODES: tuple[Mode, ...] = ("hybrid", "lexical", "vector")
MAX_TOP_K = 50
DEFAULT_CANDIDATES = 40
MAX_QUERY_CHARS = 2000


@dataclass(frozen=True, slots=True)
class SearchRequest:
    query: str
    top_k: int = 5
    mode: Mode = "hybrid"
    filters: Mapping[str, Any] = field(default_factory=dict)
    score_threshold: float | None = None
    candidates: int = DEFAULT_CANDIDATES

    def __post_init__(self) -> None:
        if not self.query.strip():
            raise ValueError("the query is empty")
        if len(self.query) > MAX_QUERY_CHARS:
            raise ValueError(f"the query is longer than {MAX_QUERY_CHARS} characters")
        if not 1 <= self.top_k <= MAX_TOP_K:
            raise ValueError(f"top_k must be 1–{MAX_TOP_K}")
        if self.mode not in MODES:
            raise ValueError(f"mode must be one of {', '.join(MODES)}")
        if self.score_threshold is not None:
            if not 0 <= self.score_threshold <= 1:
                raise ValueError("score_threshold is a cosine similarity, 0–1")
            if self.mode == "lexical":
                raise ValueError("score_threshold needs vector or hybrid search (lexical has none)")
        check_filters(self.filters)


@dataclass(frozen=True, slots=True)
class Hit:
    chunk: StoredChunk
    score: float  # what the results are ordered by: fused (hybrid), similarity or relevance
    similarity: float | None = None  # cosine similarity to the query (not in lexical mode)
    lexical_rank: int | None = None  # 1-based place in the full-text ranking, if found there
    lexical_score: float | None = None
    vector_rank: int | None = None
    rank: int = 0

    def explain(self) -> str:
        parts = []
        if self.lexical_rank is not None:
            parts.append(f"words #{self.lexical_rank} ({self.lexical_score:.3g})")
        else:
            parts.append("words: no match")
        if self.vector_rank is not None:
            parts.append(f"meaning #{self.vector_rank}")
        if self.similarity is not None:
            parts.append(f"similarity {self.similarity:.3f}")
        return ", ".join(parts)

    def as_dict(self) -> dict[str, Any]:
        return {
            **self.chunk.as_dict(),
            "rank": self.rank,
            "score": round(self.score, 6),
            "similarity": None if self.similarity is None else round(self.similarity, 6),
            "lexical_rank": self.lexical_rank,
            "lexical_score": None if self.lexical_score is None else round(self.lexical_score, 6),
            "vector_rank": self.vector_rank,
            "why": self.explain(),
        }


async def search(
    store: KnowledgeStore,
    embedder: Embedder | None,
    base_id: str,
    request: SearchRequest,
    *,
    run: Any = None,
) -> list[Hit]:
    """The best chunks for the query. ``run`` runs a store call off the event loop
    (default: ``asyncio.to_thread``)."""
    import asyncio

    call = run or asyncio.to_thread
    filters: Filters = request.filters
    wide = max(request.candidates, request.top_k)

    async def by_words() -> list[tuple[int, float]]:
        if request.mode == "vector":
            return []
        return list(await call(store.lexical, base_id, request.query, wide, filters))

    async def by_meaning() -> tuple[Any, list[tuple[int, float]]]:
        if request.mode == "lexical":
            return None, []
        if embedder is None:
            raise ValueError(f"{request.mode} search needs the base's embedding model")
        vector = await embedder.embed_query(request.query)
        return vector, list(await call(store.nearest, base_id, vector, wide, filters))

    # The full-text query runs while the query is embedded and its neighbours found: a hybrid
    # search waits for the slower of the two, not for both one after the other.
    lexical, (vector, nearest) = await asyncio.gather(by_words(), by_meaning())

    lexical_at = {chunk_id: (rank, score) for rank, (chunk_id, score) in enumerate(lexical, 1)}
    vector_at = {chunk_id: rank for rank, (chunk_id, _) in enumerate(nearest, 1)}
    similarity = {chunk_id: value for chunk_id, value in nearest}
    if request.mode == "hybrid":
        ranked = [
            (item.key, item.score)
            for item in reciprocal_rank_fusion(
                {"lexical": [i for i, _ in lexical], "vector": [i for i, _ in nearest]}, k=K
            )
        ]
        if request.score_threshold is None:
            # Only the results are explained: the similarity of a words-only candidate below
            # them was read (up to 40 vectors) and never shown.
            ranked = ranked[: request.top_k]
        missing = [chunk_id for chunk_id, _ in ranked if chunk_id not in similarity]
        if missing and vector is not None:
            similarity.update(await call(store.similarities, base_id, vector, missing))
    elif request.mode == "vector":
        ranked = list(nearest)
    else:
        ranked = list(lexical)
    if request.score_threshold is not None:
        floor = request.score_threshold
        ranked = [(i, s) for i, s in ranked if similarity.get(i, -1.0) >= floor]
    ranked = ranked[: request.top_k]
    chunks = await call(store.fetch, base_id, [chunk_id for chunk_id, _ in ranked])
    hits: list[Hit] = []
    for chunk_id, score in ranked:
        chunk = chunks.get(chunk_id)
        if chunk is None:  # deleted between the ranking and now
            continue
        lexical_rank, lexical_score = lexical_at.get(chunk_id, (None, None))
        hits.append(
            Hit(
                chunk=chunk,
                score=score,
                similarity=similarity.get(chunk_id),
                lexical_rank=lexical_rank,
                lexical_score=lexical_score,
                vector_rank=vector_at.get(chunk_id),
                rank=len(hits) + 1,
            )
        )
    return hits
