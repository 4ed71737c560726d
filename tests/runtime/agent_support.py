"""Shared by the agent tests (manager, classifier, worker tools, routing): Services wired to the
loopback vendor server through the real OpenAI-compatible provider, and readers for what the
vendor received."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

import httpx

from runtime.events import ListSink
from runtime.model_tiers import RoutingPolicy
from runtime.providers.local import LocalProvider
from runtime.providers.openai_compat import OpenAICompatibleProvider
from runtime.services import Services
from runtime.usage import ModelPrice
from tests.support.vendor_server import RecordedRequest

KEY = "sk-test-agents"


def vendor(name: str, base_url: str, client: httpx.AsyncClient) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        name=name, base_url=base_url, api_key=KEY, client=client, timeout=5.0
    )


def services_for(
    client: httpx.AsyncClient,
    urls: Mapping[str, str],
    *,
    tiers: Mapping[str, str] | None = None,
    prices: Mapping[str, ModelPrice] | None = None,
) -> Services:
    """Local, plus one OpenAI-compatible provider per name → base URL; a routing policy with
    ``tiers`` (set as the ``routing`` attribute the engine reads from Services)."""
    services = Services(
        providers={
            "local": LocalProvider(),
            **{name: vendor(name, url, client) for name, url in urls.items()},
        }
    )
    if prices is not None:
        services.prices = dict(prices)
    if tiers is not None:
        services.routing = RoutingPolicy(tiers=dict(tiers))  # type: ignore[attr-defined]
    return services


def agent(node_id: str, instructions: str = "{{ upstream }}", **config: Any) -> dict[str, Any]:
    """A worker node; unlike ``graphs.worker`` the model may be set too (default local/echo)."""
    settings = {"model": "local/echo", "instructions": instructions, **config}
    return {"id": node_id, "type": "worker", "config": settings}


def messages_of(request: RecordedRequest) -> list[dict[str, Any]]:
    body = request.body if isinstance(request.body, dict) else {}
    return list(body.get("messages") or [])


def last_user(request: RecordedRequest) -> str:
    users = [m for m in messages_of(request) if m.get("role") == "user"]
    return str(users[-1].get("content", "")) if users else ""


def system_of(request: RecordedRequest) -> str:
    return next(
        (str(m.get("content")) for m in messages_of(request) if m.get("role") == "system"), ""
    )


def model_of(request: RecordedRequest) -> str:
    return str(request.body["model"])


def body_text(request: RecordedRequest) -> str:
    return json.dumps(request.body, sort_keys=True)


def events_of(sink: ListSink, type_: str, step: str | None = None) -> list[Any]:
    return [e for e in sink.events if e.type == type_ and (step is None or e.step == step)]
