"""A credential's Test: does its key reach a server that answers the model, and what can it do?

:func:`check_endpoint` makes the provider a credential makes (through the outbound guard, as
every run's call goes), asks it a few tiny questions and answers a :class:`EndpointCheck` a
person can read: for an OpenAI-compatible server, its structured output, streamed usage and
tools (:meth:`OpenAICompatibleProvider.probe`, learned in a memory of its own so that the answer
is what the server does now, not what a process remembered); for Anthropic, one short answer.
A failure is one of :data:`PROBLEMS` with a sentence naming it and what to do, never a traceback
and never the key (providers redact it from every message).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from runtime.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StepError,
)
from runtime.outbound import OutboundRefused, ResponseTooLarge
from runtime.providers.base import ChatRequest
from runtime.providers.capabilities import (
    Capabilities,
    CapabilityMemory,
    CapabilityRefused,
    CatalogueEntry,
    missing_usage_warning,
)
from runtime.providers.common import HTTPProvider, http_status
from runtime.providers.from_credential import provider_for
from runtime.providers.openai_compat import OpenAICompatibleProvider
from runtime.secrets import Secret

Problem = Literal[
    "unreachable",  # no connection: nothing listens there, DNS, TLS
    "outbound_refused",  # the outbound guard refused the address (OUTBOUND_ALLOWLIST)
    "invalid_base_url",
    "auth",  # 401/403: the key is wrong, revoked or lacks access
    "model_unknown",  # the server does not serve the model
    "not_found",  # 404 naming no model: the base URL points at the wrong place
    "capability_refused",  # a mode the catalogue pins is refused (the message names the fix)
    "rate_limited",  # 429: over a rate limit or out of quota
    "timeout",
    "server_error",  # 5xx
    "bad_request",  # another 4xx
    "bad_answer",  # an answer that is not the protocol
]
PROBLEMS: tuple[str, ...] = get_args(Problem)
# What servers say of a model they do not serve (OpenAI and vLLM "does not exist", Ollama "not
# found, try pulling it first", LiteLLM "Invalid model name", OpenRouter "not a valid model ID").
_UNKNOWN_MODEL_WORDS = (
    "not found",
    "does not exist",
    "unknown model",
    "invalid model",
    "not a valid model",
    "no such model",
    "model_not_found",
)

# Each call of a test; a tiny model on a busy CPU answers a few tokens well within it.
DEFAULT_TIMEOUT = 30.0


@dataclass(frozen=True)
class EndpointCheck:
    """What a credential's Test found: ``ok`` with the server's capabilities, or a problem."""

    ok: bool
    provider: str  # the credential's kind: openai, anthropic
    model: str  # the catalogue id asked for, e.g. openai/gpt-4o-mini
    server: str  # the host only: a base URL may carry credentials in its userinfo
    message: str
    problem: Problem | None = None
    capabilities: Capabilities | None = None
    capability: str | None = None  # the capability a capability_refused problem names
    warnings: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "ok": self.ok,
            "provider": self.provider,
            "model": self.model,
            "server": self.server,
            "message": self.message,
            "problem": self.problem,
            "capability": self.capability,
            "capabilities": self.capabilities.to_dict() if self.capabilities else None,
            "warnings": list(self.warnings),
        }


async def check_endpoint(
    secret: Secret,
    model: str,
    entry: CatalogueEntry | None = None,
    *,
    timeout: float = DEFAULT_TIMEOUT,
) -> EndpointCheck:
    """Test ``secret``'s endpoint with ``model`` (``<kind>/<the server's model name>``), with
    the catalogue ``entry``'s capability settings when it has one."""
    vendor_model = model.partition("/")[2]
    provider = provider_for(secret)
    assert isinstance(provider, HTTPProvider)
    if isinstance(provider, OpenAICompatibleProvider):
        provider.memory = CapabilityMemory()  # this test's findings, not the process's
    server = provider.host
    try:
        if isinstance(provider, OpenAICompatibleProvider):
            return await _probe(provider, secret.kind, model, vendor_model, entry, timeout)
        await provider.complete(
            ChatRequest(
                model=vendor_model,
                messages=[{"role": "user", "content": "Answer ok."}],
                max_tokens=4,
                timeout=timeout,
            )
        )
        return EndpointCheck(
            ok=True,
            provider=secret.kind,
            model=model,
            server=server,
            message=f"The key works: {server} answered with {model}.",
        )
    except StepError as error:
        return _failed(error, secret.kind, model, server)
    finally:
        await provider.aclose()


async def _probe(
    provider: OpenAICompatibleProvider,
    kind: str,
    model: str,
    vendor_model: str,
    entry: CatalogueEntry | None,
    timeout: float,
) -> EndpointCheck:
    settings = ChatRequest(
        model=vendor_model,
        messages=[],
        structured_output=entry.structured_output if entry else None,
        stream_usage=entry.stream_usage if entry else None,
        tools_mode=entry.tools if entry else None,
    )
    warnings: list[str] = []
    found = await provider.probe(vendor_model, settings, timeout=timeout, warnings=warnings)
    server = provider.host
    learned = provider.memory.get(provider.base_url, vendor_model)
    if (
        found.stream_usage_source == "catalogue"
        and found.stream_usage == "reported"
        and learned is not None
        and learned.stream_usage == "counted"
    ):
        warnings.append(missing_usage_warning(server, vendor_model))
    return EndpointCheck(
        ok=True,
        provider=kind,
        model=model,
        server=server,
        message=f"The key works: {server} answered with {model}.",
        capabilities=found,
        warnings=warnings,
    )


def _failed(error: StepError, kind: str, model: str, server: str) -> EndpointCheck:
    problem, advice = _explain(error, model, server)
    return EndpointCheck(
        ok=False,
        provider=kind,
        model=model,
        server=server,
        message=f"{advice} ({error})" if advice else str(error),
        problem=problem,
        capability=error.capability if isinstance(error, CapabilityRefused) else None,
    )


def _explain(error: StepError, model: str, server: str) -> tuple[Problem, str]:
    """The problem an error stands for, and what a person should do about it ("" when the
    error's own message says it all)."""
    status = http_status(error)
    said = str(error).lower()
    if isinstance(error, CapabilityRefused):
        return "capability_refused", ""
    if isinstance(error, OutboundRefused):
        return "outbound_refused", (
            f"The server's outbound guard does not let requests reach {server}; the operator can "
            "admit it in OUTBOUND_ALLOWLIST"
        )
    if isinstance(error, ProviderAuthError):
        return "auth", f"{server} refused the key: check the credential's value"
    if (
        status in (400, 404)
        and "model" in said
        and any(word in said for word in _UNKNOWN_MODEL_WORDS)
    ):
        return "model_unknown", (
            f"{server} does not serve the model {model.partition('/')[2]!r}: check the name "
            "after the provider in the model id"
        )
    if status == 404:
        return "not_found", (
            f"{server} has no chat completions where the base URL points: check the "
            "credential's base_url (OpenAI-compatible servers usually want it to end in /v1)"
        )
    if isinstance(error, RateLimitError):
        return "rate_limited", f"{server} says the key is over a rate limit or out of quota"
    if isinstance(error, ProviderTimeoutError):
        return "timeout", f"{server} did not answer in time"
    if isinstance(error, ProviderUnavailableError):
        if status is None:
            return "unreachable", (
                f"Could not reach {server}: is the server running, and is the credential's "
                "base_url right?"
            )
        return "server_error", f"{server} failed to answer (HTTP {status})"
    if isinstance(error, ProviderBadRequestError):
        if status is None:
            return "invalid_base_url", "The credential's base_url is not a usable URL"
        return "bad_request", f"{server} refused the request (HTTP {status})"
    if isinstance(error, ResponseTooLarge | ProviderResponseError):
        return "bad_answer", f"{server} answered, but not in the protocol its kind speaks"
    return "bad_answer", ""
