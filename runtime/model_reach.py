"""Which of a graph's models nothing here can call: a node set to ``openai/gpt-4o-mini`` on a
server without an OpenAI key, in a workspace without an OpenAI credential, looked fine until the
run failed with "no provider 'openai' is configured".

:func:`unreachable_models` says so per node before the run, from what the server is configured
with (its providers and tiers) and the names and kinds of the workspace's credentials. It never
calls a model; a credential's Test does that.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from runtime.graph import Issue
from runtime.model_tiers import RoutingPolicy
from runtime.nodes.registry import NodeRegistry, default_registry

# The node settings that name models a step calls.
MODEL_SETTINGS = ("model", "fallback_models")
# Credential kinds that hold a model vendor's key (runtime.providers.from_credential.LLM_KINDS).
LLM_KINDS = frozenset({"openai", "anthropic"})


def unreachable_models(
    graph: Any,
    *,
    providers: frozenset[str],
    routing: RoutingPolicy,
    credentials: Mapping[str, str],
    registry: NodeRegistry = default_registry,
) -> list[Issue]:
    """An issue ``model_unavailable`` per node and model setting nothing here can serve.

    ``providers``: the prefixes the server can call without a workspace key (``local`` always;
    ``openai`` with OPENAI_API_KEY or OPENAI_BASE_URL…). ``credentials``: the workspace's
    credential names → kinds. Nodes the validator refuses anyway are left to it."""
    issues: list[Issue] = []
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    for node in nodes if isinstance(nodes, list) else []:
        if not isinstance(node, dict) or not isinstance(node.get("config", {}), dict):
            continue
        node_type = registry.get(str(node.get("type")))
        if node_type is None or "model" not in node_type.config_model.model_fields:
            continue
        config = node.get("config") or {}
        named = config.get("credential") or None
        label = node.get("label") or node.get("id")
        for setting in MODEL_SETTINGS:
            field = node_type.config_model.model_fields.get(setting)
            if field is None:
                continue
            value = config.get(setting, field.default)
            models = value if isinstance(value, list) else [value]
            for index, model in enumerate(models):
                if not isinstance(model, str) or not model:
                    continue
                full = routing.tiers.get(model, model)
                prefix, sep, _ = full.partition("/")
                if not sep:
                    continue  # not a model id: the validator says so
                problem = _why_not(prefix, full, named, providers, credentials)
                if problem is None:
                    continue
                where = f"config.{setting}" + (f"[{index}]" if isinstance(value, list) else "")
                shown = model if model == full else f"{model} ({full})"
                issues.append(
                    Issue(
                        "model_unavailable",
                        f"{label} uses {shown}, {problem}",
                        node_id=str(node.get("id")),
                        field=where,
                    )
                )
    return issues


def why_unreachable(
    model: str,
    *,
    providers: frozenset[str],
    routing: RoutingPolicy,
    credentials: Mapping[str, str],
) -> str | None:
    """Why nothing here can call ``model`` (a model id or a tier) without naming a credential,
    or None when something can (the model picker lists these last, saying why)."""
    full = routing.tiers.get(model, model)
    prefix, sep, _ = full.partition("/")
    if not sep:
        return None
    return _why_not(prefix, full, None, providers, credentials)


def _why_not(
    prefix: str,
    model: str,
    named: str | None,
    providers: frozenset[str],
    credentials: Mapping[str, str],
) -> str | None:
    """Why ``model`` cannot be called here, or None when it can."""
    if named is not None:
        kind = credentials.get(named)
        if kind is None:
            return f"but the workspace has no credential named {named!r}"
        if kind == prefix or (prefix not in LLM_KINDS and prefix in providers):
            return None
        return f"but credential {named!r} is an {kind} key, not an {prefix} one"
    if prefix in providers:
        return None
    own = [name for name, kind in credentials.items() if kind == prefix]
    if len(own) == 1:
        return None
    if len(own) > 1:
        return (
            f"and the workspace has {len(own)} {prefix} credentials "
            f"({', '.join(sorted(own))}): name one in the node's Credential setting"
        )
    if prefix in LLM_KINDS:
        return (
            f"but nothing here can call {prefix}: the server has no {prefix} key and the "
            f"workspace no {prefix} credential. Add one under Settings → Credentials, or pick "
            "another model"
        )
    return f"but no provider {prefix!r} is configured on this server: pick another model"


__all__ = ["unreachable_models", "why_unreachable"]
