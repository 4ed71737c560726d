"""runtime.model_reach: which of a graph's models nothing here can call, from the server's
providers and tiers and the workspace's credentials (names → kinds)."""

from __future__ import annotations

from typing import Any

from runtime.model_reach import unreachable_models, why_unreachable
from runtime.model_tiers import RoutingPolicy

LOCAL_ONLY = frozenset({"local"})
DEFAULT = RoutingPolicy()


def worker(node_id: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": "worker", "label": node_id.title(), "config": config}


def found(graph: dict[str, Any], **kwargs: Any) -> list[tuple[str | None, str | None]]:
    options: dict[str, Any] = {"providers": LOCAL_ONLY, "routing": DEFAULT, "credentials": {}}
    options.update(kwargs)
    return [(i.node_id, i.field) for i in unreachable_models(graph, **options)]


def test_a_vendor_model_without_a_key_or_credential_is_named_with_what_to_do() -> None:
    graph = {"nodes": [worker("writer", model="openai/gpt-4o-mini"), worker("ok")], "edges": []}
    issues = unreachable_models(graph, providers=LOCAL_ONLY, routing=DEFAULT, credentials={})
    assert [(i.code, i.node_id, i.field) for i in issues] == [
        ("model_unavailable", "writer", "config.model")
    ]
    assert issues[0].message.startswith("Writer uses openai/gpt-4o-mini, but nothing here")
    assert "Settings → Credentials" in issues[0].message


def test_a_server_key_or_one_workspace_credential_serves_it() -> None:
    graph = {"nodes": [worker("writer", model="openai/gpt-4o-mini")], "edges": []}
    assert found(graph, providers=frozenset({"local", "openai"})) == []
    assert found(graph, credentials={"mine": "openai"}) == []
    # two of that vendor and none named: the node must say which
    assert found(graph, credentials={"a": "openai", "b": "openai"}) == [("writer", "config.model")]
    named = {"nodes": [worker("writer", model="openai/gpt-4o-mini", credential="b")], "edges": []}
    assert found(named, credentials={"a": "openai", "b": "openai"}) == []
    # a credential of another vendor does not serve it
    assert found(named, credentials={"b": "anthropic"}) == [("writer", "config.model")]


def test_tiers_and_fallbacks_are_checked_as_what_they_resolve_to() -> None:
    tiered = RoutingPolicy(tiers={"fast": "anthropic/claude-haiku-4-5", "strong": "local/echo"})
    graph = {
        "nodes": [worker("w", model="fast", fallback_models=["strong", "openai/gpt-4o"])],
        "edges": [],
    }
    assert found(graph, routing=tiered) == [
        ("w", "config.model"),
        ("w", "config.fallback_models[1]"),
    ]
    assert why_unreachable("strong", providers=LOCAL_ONLY, routing=tiered, credentials={}) is None
