"""Providers made from a workspace credential's key, kept per key so connections are reused.

A credential of kind ``openai`` or ``anthropic`` holds an API key and may hold a ``base_url``;
the provider it makes sends that key. One provider per (kind, base URL, key) lives in a
:class:`CredentialProviders` cache: steps that use the same credential share its connection pool,
and a replaced key simply makes a new entry (the old one ages out).
"""

from __future__ import annotations

import hashlib
import threading
from collections import OrderedDict

from runtime.providers.base import Provider
from runtime.secrets import Secret

LLM_KINDS = frozenset({"openai", "anthropic"})
# Enough for every key a worker process sees in practice; past it the least recently used
# provider is dropped.
MAX_PROVIDERS = 32


def provider_for(secret: Secret) -> Provider:
    """A new provider that calls the credential's vendor with its key (and base URL, if set)."""
    base_url = secret.config.get("base_url") or None
    if secret.kind == "openai":
        from runtime.providers.openai_compat import OpenAICompatibleProvider

        return OpenAICompatibleProvider(name="openai", base_url=base_url, api_key=secret.value)
    if secret.kind == "anthropic":
        from runtime.providers.anthropic import AnthropicProvider

        return AnthropicProvider(name="anthropic", base_url=base_url, api_key=secret.value)
    raise ValueError(f"a {secret.kind} credential makes no model provider")


class CredentialProviders:
    """One provider per credential key, least recently used dropped first."""

    def __init__(self, limit: int = MAX_PROVIDERS) -> None:
        self.limit = limit
        self._providers: OrderedDict[tuple[str, str, str], Provider] = OrderedDict()
        # Celery threads and the worker's event loop thread may both ask.
        self._lock = threading.Lock()

    def __len__(self) -> int:
        return len(self._providers)

    def __repr__(self) -> str:
        return f"CredentialProviders({len(self)} cached)"  # never the keys

    def get(self, secret: Secret) -> Provider:
        # A digest, not the key, in the cache key: nothing here should print a secret.
        digest = hashlib.sha256(secret.value.encode()).hexdigest()
        key = (secret.kind, str(secret.config.get("base_url") or ""), digest)
        with self._lock:
            provider = self._providers.get(key)
            if provider is not None:
                self._providers.move_to_end(key)
                return provider
            provider = provider_for(secret)
            self._providers[key] = provider
            if len(self._providers) > self.limit:
                # Dropped, not closed: a step may still be mid-call on it; its pool goes with
                # the last reference.
                self._providers.popitem(last=False)
        return provider

    async def aclose(self) -> None:
        """Close every cached provider's connections (at shutdown, and in tests)."""
        with self._lock:
            providers = list(self._providers.values())
            self._providers.clear()
        for provider in providers:
            aclose = getattr(provider, "aclose", None)
            if aclose is not None:
                await aclose()
