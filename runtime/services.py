"""What a step may call on: LLM providers by model-id prefix, and model prices.

A model id is ``<provider>/<vendor model>``: ``local/echo``, ``openai/gpt-4o-mini``,
``anthropic/claude-haiku-4-5``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from runtime.errors import NodeConfigError
from runtime.providers.base import Provider
from runtime.providers.local import LocalProvider
from runtime.routing import RoutingPolicy
from runtime.secrets import SecretStore, StaticSecrets
from runtime.usage import DEFAULT_PRICES, ModelPrice

DEFAULT_MODEL = "local/echo"


@dataclass
class Services:
    providers: dict[str, Provider] = field(default_factory=lambda: {"local": LocalProvider()})
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    default_model: str = DEFAULT_MODEL
    # Which model each tier (fast, strong) means; None: runtime.routing.DEFAULT_POLICY.
    routing: RoutingPolicy | None = None
    # Credentials nodes may name in their settings (the app: the workspace's store).
    secrets: SecretStore = field(default_factory=StaticSecrets)

    def resolve(self, model: str | None) -> tuple[Provider, str, str]:
        """(provider, vendor model name, full model id) for a model id."""
        full = model or self.default_model
        prefix, sep, vendor_model = full.partition("/")
        if not sep or not vendor_model:
            raise NodeConfigError(f"model {full!r} must look like 'provider/model'")
        provider = self.providers.get(prefix)
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            raise NodeConfigError(f"no provider {prefix!r} is configured (configured: {known})")
        return provider, vendor_model, full

    def price(self, model: str) -> ModelPrice | None:
        return self.prices.get(model)

    @classmethod
    def from_env(cls) -> Services:
        """Local always; OpenAI-compatible when OPENAI_API_KEY or OPENAI_BASE_URL is set;
        Anthropic when ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL is set."""
        import os

        services = cls()
        if os.environ.get("OPENAI_API_KEY") or os.environ.get("OPENAI_BASE_URL"):
            from runtime.providers.openai_compat import OpenAICompatibleProvider

            services.providers["openai"] = OpenAICompatibleProvider.from_env()
        if os.environ.get("ANTHROPIC_API_KEY") or os.environ.get("ANTHROPIC_BASE_URL"):
            from runtime.providers.anthropic import AnthropicProvider

            services.providers["anthropic"] = AnthropicProvider.from_env()
        # MODEL_FAST / MODEL_STRONG: what the tiers mean here, e.g. openai/gpt-4.1-mini and
        # anthropic/claude-sonnet-4-5. Unset tiers stay on the offline local model.
        fast, strong = os.environ.get("MODEL_FAST"), os.environ.get("MODEL_STRONG")
        if fast or strong:
            default = RoutingPolicy()
            services.routing = RoutingPolicy(
                tiers={
                    "fast": fast or default.tiers["fast"],
                    "strong": strong or default.tiers["strong"],
                }
            )
        return services
