"""Small builders for graph JSON, shared by the runtime tests.

Every builder returns plain JSON-shaped dicts, exactly what the canvas and the API send, so the
tests exercise the same path as real input.
"""

from __future__ import annotations

import json
from itertools import pairwise
from pathlib import Path
from typing import Any

from runtime.nodes.registry import NodeRegistry, default_registry
from runtime.plan import Plan
from runtime.validation import compile_graph

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO / "examples"


def node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "config": config}


def input_node(node_id: str = "in", **config: Any) -> dict[str, Any]:
    return node(node_id, "input", **config)


def output_node(node_id: str = "out", value: str | None = None) -> dict[str, Any]:
    return node(node_id, "output", **({"value": value} if value is not None else {}))


def transform(node_id: str, template: str, **config: Any) -> dict[str, Any]:
    return node(node_id, "transform", template=template, **config)


def worker(node_id: str, instructions: str = "{{ upstream }}", **config: Any) -> dict[str, Any]:
    return node(node_id, "worker", model="local/echo", instructions=instructions, **config)


def router(
    node_id: str, routes: list[tuple[str, str]], default: str | None = "default"
) -> dict[str, Any]:
    return node(
        node_id,
        "router",
        routes=[{"name": name, "when": when} for name, when in routes],
        default=default,
    )


def edge(
    edge_id: str,
    source: str,
    target: str,
    handle: str | None = None,
    *,
    kind: str | None = None,
    target_handle: str | None = None,
) -> dict[str, Any]:
    data: dict[str, Any] = {"id": edge_id, "source": source, "target": target}
    if handle is not None:
        data["source_handle"] = handle
    if kind is not None:
        data["kind"] = kind
    if target_handle is not None:
        data["target_handle"] = target_handle
    return data


def graph(nodes: list[dict[str, Any]], edges: list[dict[str, Any]] | None = None) -> dict:
    return {"nodes": nodes, "edges": edges or []}


def wire(*links: tuple[str, str] | tuple[str, str, str]) -> list[dict[str, Any]]:
    """Edges e1, e2 … for (source, target[, source_handle]) pairs."""
    return [edge(f"e{i}", *link) for i, link in enumerate(links, 1)]


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """The nodes connected one after the other, in the order given."""
    ids = [n["id"] for n in nodes]
    return graph(list(nodes), wire(*pairwise(ids)))


def load_example(name: str = "research") -> dict[str, Any]:
    return json.loads((EXAMPLES / f"{name}.json").read_text(encoding="utf-8"))


def compiled(raw: dict[str, Any], registry: NodeRegistry = default_registry) -> Plan:
    return compile_graph(raw, registry)
