"""Reciprocal rank fusion (Cormack, Clarke & Büttcher, 2009): one ranking from several.

A result's fused score is the sum over rankings of ``1 / (k + rank)`` (ranks from 1). It needs no
calibration between BM25 scores and cosine distances, which live on unrelated scales, and a
result near the top of either ranking stays near the top of the fused one. ``k = 60`` is the
paper's constant.
"""

from __future__ import annotations

from collections.abc import Hashable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

K = 60
Key = TypeVar("Key", bound=Hashable)


@dataclass(slots=True)
class Fused(Generic[Key]):
    key: Key
    score: float
    ranks: dict[str, int] = field(default_factory=dict)  # ranking name → rank (1-based)


def reciprocal_rank_fusion(
    rankings: Mapping[str, Sequence[Key]], k: int = K, weights: Mapping[str, float] | None = None
) -> list[Fused[Key]]:
    """The fused ranking, best first; ties keep the order of first appearance."""
    fused: dict[Key, Fused[Key]] = {}
    for name, ranking in rankings.items():
        weight = 1.0 if weights is None else weights.get(name, 1.0)
        for rank, key in enumerate(ranking, 1):
            entry = fused.get(key)
            if entry is None:
                entry = fused[key] = Fused(key, 0.0)
            if name in entry.ranks:
                continue  # a key listed twice in one ranking counts at its best rank
            entry.ranks[name] = rank
            entry.score += weight / (k + rank)
    return sorted(fused.values(), key=lambda item: -item.score)
