"""What changed between two versions of a graph: nodes added, removed and changed, and edges.

:func:`diff_graphs` compares two graph JSONs (``{"nodes": [...], "edges": [...]}``, see
:mod:`runtime.graph`); it is pure and takes graphs as stored, drafts with issues included.

Nodes are matched by id (a node without a string id is left out; of two with one id the first
counts). A node in both graphs is

* **changed** when :func:`runtime.reuse.node_fingerprint` differs (its type or its settings): the
  one rule for "this node is unchanged" that time travel's reuse follows too. Its ``settings``
  list every leaf that differs, as ``{"path", "change", "before", "after"}``;
* **moved or renamed** when only its label or its position differs (nothing a run depends on);
* otherwise unchanged, and only counted.

Settings paths start at the node: ``type``, ``config.prompt``, ``config.retry.max_attempts``,
``config.routes[1].when``; a key that is not a plain name (letters, digits, ``_``, ``-``) is
written ``config["a.b"]``. Objects are compared key by key; lists of the same length item by
item; lists of different lengths (and values of different kinds) as whole values, at their own
path. ``change`` is ``added`` or ``removed`` when the key is in one graph only (``before`` or
``after`` is then null), else ``changed``. Values compare as JSON does in the fingerprint
(``1`` and ``1.0`` and ``true`` are all different), so a changed node always has at least one
setting listed, and an unchanged one none. A missing or empty config counts as ``{}``, as in
the fingerprint.

Edges are matched by what they connect, not by id (the canvas may give an edge a new id):
source, target, kind and handles, with the defaults filled in (``flow``, ``out``, ``in``). An
edge that appears twice in one graph and once in the other counts as one added or removed.
Each listed edge carries its id in the graph it is in.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterator, Mapping
from typing import Any

from runtime.graph import DEFAULT_SOURCE_HANDLE, DEFAULT_TARGET_HANDLE
from runtime.reuse import node_fingerprint, same_value

_PLAIN_KEY = re.compile(r"^[A-Za-z0-9_\-]+$")
_ABSENT: Any = object()

EdgeKey = tuple[str, str, str, str, str]


def diff_graphs(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """What changed from graph ``before`` to graph ``after`` (see the module's documentation)::

        {"nodes": {"added": [node], "removed": [node], "changed": [change],
                   "moved_or_renamed": [change], "unchanged": int},
         "edges": {"added": [edge], "removed": [edge]}}

    node: ``{"id", "type", "label"}``; change: a node (as it is in ``after``) with
    ``label_before``, ``renamed``, ``moved`` and ``settings`` (empty when only moved or
    renamed); edge: ``{"id", "source", "target", "kind", "source_handle", "target_handle"}``.
    """
    old = _nodes_by_id(before)
    new = _nodes_by_id(after)
    added = [_summary(node) for node_id, node in new.items() if node_id not in old]
    removed = [_summary(node) for node_id, node in old.items() if node_id not in new]
    changed: list[dict[str, Any]] = []
    cosmetic: list[dict[str, Any]] = []
    unchanged = 0
    for node_id, node in new.items():
        if node_id not in old:
            continue
        was = old[node_id]
        renamed = _label(was) != _label(node)
        moved = not same_value(_position(was), _position(node))
        if node_fingerprint(was) != node_fingerprint(node):
            changed.append(_change(was, node, renamed, moved, settings_diff(was, node)))
        elif renamed or moved:
            cosmetic.append(_change(was, node, renamed, moved, []))
        else:
            unchanged += 1
    edges_added, edges_removed = _edge_changes(_edges(before), _edges(after))
    return {
        "nodes": {
            "added": added,
            "removed": removed,
            "changed": changed,
            "moved_or_renamed": cosmetic,
            "unchanged": unchanged,
        },
        "edges": {"added": edges_added, "removed": edges_removed},
    }


def settings_diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[dict[str, Any]]:
    """Every leaf of a node's type and config that differs between two versions of it."""
    return [
        *_leaves(before.get("type"), after.get("type"), "type"),
        *_leaves(_config(before), _config(after), "config"),
    ]


# -- nodes -----------------------------------------------------------------------------------------


def _nodes_by_id(graph: Mapping[str, Any]) -> dict[str, Mapping[str, Any]]:
    found: dict[str, Mapping[str, Any]] = {}
    nodes = graph.get("nodes")
    for node in nodes if isinstance(nodes, list) else []:
        if isinstance(node, Mapping) and isinstance(node.get("id"), str):
            found.setdefault(node["id"], node)
    return found


def _config(node: Mapping[str, Any]) -> Any:
    return node.get("config") or {}  # as node_fingerprint reads it


def _label(node: Mapping[str, Any]) -> str:
    label = node.get("label")
    return label if isinstance(label, str) else ""


def _position(node: Mapping[str, Any]) -> Any:
    position = node.get("position")
    if not isinstance(position, Mapping):
        return position
    return {axis: _number(position.get(axis, 0)) for axis in ("x", "y")}


def _number(value: Any) -> Any:
    # 250 and 250.0 are the same place (unlike settings, where the fingerprint tells them apart)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return value


def _summary(node: Mapping[str, Any]) -> dict[str, Any]:
    type_ = node.get("type")
    return {
        "id": node["id"],
        "type": type_ if isinstance(type_, str) else "",
        "label": _label(node),
    }


def _change(
    was: Mapping[str, Any],
    node: Mapping[str, Any],
    renamed: bool,
    moved: bool,
    settings: list[dict[str, Any]],
) -> dict[str, Any]:
    return {
        **_summary(node),
        "label_before": _label(was),
        "renamed": renamed,
        "moved": moved,
        "settings": settings,
    }


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if _PLAIN_KEY.match(key) else f'{path}["{_escaped(key)}"]'


def _escaped(key: str) -> str:
    return key.replace("\\", "\\\\").replace('"', '\\"')


def _leaves(before: Any, after: Any, path: str) -> Iterator[dict[str, Any]]:
    if before is _ABSENT or after is _ABSENT:
        yield {
            "path": path,
            "change": "added" if before is _ABSENT else "removed",
            "before": None if before is _ABSENT else before,
            "after": None if after is _ABSENT else after,
        }
    elif isinstance(before, Mapping) and isinstance(after, Mapping):
        keys = [*before, *(key for key in after if key not in before)]
        for key in keys:
            yield from _leaves(
                before.get(key, _ABSENT), after.get(key, _ABSENT), _join(path, str(key))
            )
    elif isinstance(before, list) and isinstance(after, list) and len(before) == len(after):
        for index, (left, right) in enumerate(zip(before, after, strict=True)):
            yield from _leaves(left, right, f"{path}[{index}]")
    elif not same_value(before, after):
        yield {"path": path, "change": "changed", "before": before, "after": after}


# -- edges -----------------------------------------------------------------------------------------


def _edges(graph: Mapping[str, Any]) -> list[tuple[EdgeKey, dict[str, Any]]]:
    found = []
    edges = graph.get("edges")
    for edge in edges if isinstance(edges, list) else []:
        if not isinstance(edge, Mapping):
            continue
        source, target = edge.get("source"), edge.get("target")
        if not isinstance(source, str) or not isinstance(target, str):
            continue
        kind = edge.get("kind") or "flow"
        source_handle = edge.get("source_handle") or DEFAULT_SOURCE_HANDLE
        target_handle = edge.get("target_handle") or DEFAULT_TARGET_HANDLE
        key: EdgeKey = (source, target, str(kind), str(source_handle), str(target_handle))
        edge_id = edge.get("id")
        found.append(
            (
                key,
                {
                    "id": edge_id if isinstance(edge_id, str) else "",
                    "source": source,
                    "target": target,
                    "kind": key[2],
                    "source_handle": key[3],
                    "target_handle": key[4],
                },
            )
        )
    return found


def _edge_changes(
    before: list[tuple[EdgeKey, dict[str, Any]]], after: list[tuple[EdgeKey, dict[str, Any]]]
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    def only_in(
        these: list[tuple[EdgeKey, dict[str, Any]]], others: list[tuple[EdgeKey, dict[str, Any]]]
    ) -> list[dict[str, Any]]:
        spare = Counter(key for key, _ in others)
        listed = []
        for key, edge in these:
            if spare[key] > 0:
                spare[key] -= 1
            else:
                listed.append(edge)
        return listed

    return only_in(after, before), only_in(before, after)
