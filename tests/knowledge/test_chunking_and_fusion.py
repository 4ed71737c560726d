"""Chunks: bounded, overlapping, deterministic, with their source; fusion by reciprocal rank."""

from __future__ import annotations

import itertools

import pytest

from runtime.knowledge.chunking import ChunkSettings, chunk_sections
from runtime.knowledge.fusion import reciprocal_rank_fusion
from runtime.knowledge.parsing import Section

SENTENCES = " ".join(f"Sentence {i} is about topic {i % 7}." for i in range(200))


def test_chunks_stay_within_size_and_cover_the_text() -> None:
    settings = ChunkSettings(size=300, overlap=60)
    chunks = chunk_sections([Section(SENTENCES)], settings)
    assert all(len(c.text) <= settings.size for c in chunks)
    assert [c.position for c in chunks] == list(range(len(chunks)))
    for i in range(200):  # every sentence is whole in some chunk
        assert any(f"Sentence {i} is about topic {i % 7}." in c.text for c in chunks)


def test_neighbouring_chunks_overlap() -> None:
    chunks = chunk_sections([Section(SENTENCES)], ChunkSettings(size=300, overlap=60))
    for before, after in itertools.pairwise(chunks):
        assert after.text[:20] in before.text


def test_chunking_is_deterministic() -> None:
    sections = [Section(SENTENCES, {"page": 1}), Section("Closing words.", {"page": 2})]
    settings = ChunkSettings(size=400, overlap=50)
    assert chunk_sections(sections, settings) == chunk_sections(sections, settings)


def test_small_sections_share_a_chunk_and_say_their_span() -> None:
    rows = [Section(f"name: r{i}\nvalue: {i}", {"row": i}) for i in range(2, 42)]
    chunks = chunk_sections(rows, ChunkSettings(size=200, overlap=0))
    assert len(chunks) < len(rows)
    first = chunks[0]
    assert first.meta["row"] == 2
    assert first.meta["row_end"] > 2
    assert f"name: r{first.meta['row_end']}" in first.text


def test_a_long_word_is_cut_anyway() -> None:
    chunks = chunk_sections([Section("x" * 1000)], ChunkSettings(size=300, overlap=0))
    assert "".join(c.text for c in chunks) == "x" * 1000


@pytest.mark.parametrize("size,overlap", [(50, 0), (9000, 0), (300, 200), (300, -1)])
def test_settings_out_of_range_are_refused(size: int, overlap: int) -> None:
    with pytest.raises(ValueError):
        ChunkSettings(size=size, overlap=overlap)


def test_fusion_sums_reciprocal_ranks() -> None:
    fused = reciprocal_rank_fusion({"lexical": ["a", "b", "c"], "vector": ["c", "a", "d"]}, k=60)
    scores = {item.key: item.score for item in fused}
    assert scores["a"] == pytest.approx(1 / 61 + 1 / 62)
    assert scores["c"] == pytest.approx(1 / 63 + 1 / 61)
    assert scores["d"] == pytest.approx(1 / 63)
    assert [item.key for item in fused][:2] == ["a", "c"]
    assert fused[0].ranks == {"lexical": 1, "vector": 2}


def test_fusion_lifts_what_both_rankings_agree_on() -> None:
    # Second in both beats first in one only.
    fused = reciprocal_rank_fusion({"lexical": ["x", "both"], "vector": ["y", "both"]})
    assert fused[0].key == "both"
