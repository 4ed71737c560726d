"""What a step may call on: LLM providers by model-id prefix, model prices, credentials, and the
workflows a sub-flow may run (and what runs them).

A model id is ``<provider>/<vendor model>``: ``local/echo``, ``openai/gpt-4o-mini``,
``anthropic/claude-haiku-4-5``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime.budget import Budget
from runtime.errors import NodeConfigError
from runtime.events import EventSink
from runtime.flows import FlowLoader, NoFlows
from runtime.knowledge.service import KnowledgeService
from runtime.model_tiers import DEFAULT_POLICY, RoutingPolicy
from runtime.providers.base import Provider
from runtime.providers.from_credential import LLM_KINDS, CredentialProviders
from runtime.providers.local import LocalProvider
from runtime.records import RunResult
from runtime.secrets import Secret, SecretNotFound, SecretStore, StaticSecrets
from runtime.tools.specs import StaticToolDefinitions, ToolDefinitions, stdio_servers_from_env
from runtime.usage import DEFAULT_PRICES, ModelPrice

DEFAULT_MODEL = "local/echo"


@dataclass(frozen=True, slots=True)
class Resolved:
    """What one model call goes to: the provider, the vendor's model name, our full model id,
    and the credential whose key the provider sends (None: the environment's, or no key)."""

    provider: Provider
    vendor_model: str
    model: str
    secret: Secret | None = None


class Subflow(Protocol):
    """A workflow compiled to run to its end inside one step."""

    @property
    def node_types(self) -> Mapping[str, str]:
        """Node id → node type, for the checks a subflow step makes before it runs the flow."""
        ...

    async def run(
        self,
        run_input: Any,
        *,
        services: Services,
        sink: EventSink,
        run_id: str,
        budget: Budget | None,
    ) -> RunResult: ...


class SubflowsAsSteps:
    """``Services.subflows`` where sub-flows run as steps of the run (the server): a subflow
    step hands its flow to the orchestrator (:class:`~runtime.nodes.base.RunFlow`) instead of
    running it inside itself, so no worker is held while it runs or waits for a person."""

    as_steps = True

    def compile(self, graph: Any) -> Subflow:
        raise NodeConfigError("sub-flows run as steps here; they are not compiled in a step")


class SubflowRunner(Protocol):
    """How a subflow step runs another workflow. The executor that runs the step provides it
    (``Services.subflows``), so node types need not import an executor."""

    def compile(self, graph: Any) -> Subflow:
        """The flow ready to run; GraphValidationError when the graph cannot run."""
        ...


@dataclass
class Services:
    providers: dict[str, Provider] = field(default_factory=lambda: {"local": LocalProvider()})
    prices: Mapping[str, ModelPrice] = field(default_factory=lambda: dict(DEFAULT_PRICES))
    default_model: str = DEFAULT_MODEL
    # Which model each tier (fast, strong) means; None: runtime.model_tiers.DEFAULT_POLICY.
    routing: RoutingPolicy | None = None
    # Credentials nodes may name in their settings (the app: the workspace's store).
    secrets: SecretStore = field(default_factory=StaticSecrets)
    # Providers made from credentials' keys. dataclasses.replace() hands the same cache to every
    # copy (the app makes one per step), so their connection pools outlive a step.
    credential_providers: CredentialProviders = field(default_factory=CredentialProviders)
    # The workflows a subflow node may run (the app: the run's workspace; the CLI: sibling files).
    flows: FlowLoader = field(default_factory=NoFlows)
    # What runs those workflows; set by the executor that runs the step (None: none can run).
    subflows: SubflowRunner | None = None
    # Knowledge bases a retrieve node or the knowledge_search tool may search (the app: the
    # run's workspace's; None: none).
    knowledge: KnowledgeService | None = None
    # What runs a workflow nested inside a step (a workflow called as a tool) where sub-flows
    # otherwise run as steps of the run (the server); None: ``subflows``, when it can.
    inline_flows: SubflowRunner | None = None
    # The MCP servers and HTTP tools a worker's tool references name (the app: the workspace's,
    # with the operator's stdio servers; the command line: the operator's).
    tool_definitions: ToolDefinitions = field(default_factory=StaticToolDefinitions)

    def resolve(self, model: str | None) -> tuple[Provider, str, str]:
        """(provider, vendor model name, full model id) for a model id."""
        found = self.resolve_call(model)
        return found.provider, found.vendor_model, found.model

    def resolve_call(self, model: str | None, credential: str | None = None) -> Resolved:
        """Where a call to ``model`` goes, with whose key.

        ``credential`` (a node's setting) names the credential whose key and base URL to use; it
        must be of the model's provider (``openai`` or ``anthropic``; ``local`` needs none).
        Without one, the workspace's credential of the provider's kind is used when it has
        exactly one, else the provider configured from the environment.
        """
        full = model or self.default_model
        prefix, sep, vendor_model = full.partition("/")
        if not sep or not vendor_model:
            raise NodeConfigError(f"model {full!r} must look like 'provider/model'")
        secret = self._credential_for(prefix, full, credential)
        if secret is not None:
            provider = self.credential_providers.get(secret)
            return Resolved(provider, vendor_model, full, secret)
        env_provider = self.providers.get(prefix)
        if env_provider is None:
            several = len(self.secrets.names_of_kind(prefix)) if prefix in LLM_KINDS else 0
            if several > 1:
                raise NodeConfigError(
                    f"the workspace has {several} {prefix} credentials: name one in the node's "
                    "credential setting"
                )
            known = ", ".join(sorted(self.providers)) or "none"
            raise NodeConfigError(f"no provider {prefix!r} is configured (configured: {known})")
        return Resolved(env_provider, vendor_model, full)

    def _credential_for(self, prefix: str, model: str, name: str | None) -> Secret | None:
        if name:
            secret = self.secrets.get(name)  # SecretNotFound: a NodeConfigError naming it
            if secret.kind not in LLM_KINDS:
                raise SecretNotFound(
                    f"credential {name!r} is an {secret.kind} credential; a model needs an "
                    f"{' or '.join(sorted(LLM_KINDS))} key"
                )
            if prefix not in LLM_KINDS and prefix in self.providers:
                return None  # e.g. local/echo: no key to send
            if secret.kind != prefix:
                raise SecretNotFound(
                    f"credential {name!r} is an {secret.kind} key, but model {model!r} needs "
                    f"an {prefix} credential"
                )
            return secret
        if prefix not in LLM_KINDS:
            return None
        candidates = self.secrets.names_of_kind(prefix)
        # Two keys of one vendor and no name: which one is meant is a choice for the node, so the
        # environment's key (if any) is used rather than a guess.
        return self.secrets.get(candidates[0]) if len(candidates) == 1 else None

    def price(self, model: str) -> ModelPrice | None:
        return self.prices.get(model)

    @classmethod
    def from_env(cls) -> Services:
        """Local always; OpenAI-compatible when OPENAI_API_KEY or OPENAI_BASE_URL is set;
        Anthropic when ANTHROPIC_API_KEY or ANTHROPIC_BASE_URL is set."""
        import os

        services = cls()
        # The operator's stdio MCP servers (MCP_STDIO_SERVERS): a bad value stops the start-up.
        services.tool_definitions = StaticToolDefinitions(stdio_servers_from_env().values())
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


def routing_policy(services: Services) -> RoutingPolicy:
    """The deployment's policy (``Services.routing``) or the default one."""
    policy = getattr(services, "routing", None)
    return policy if isinstance(policy, RoutingPolicy) else DEFAULT_POLICY
