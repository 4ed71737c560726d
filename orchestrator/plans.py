"""Compiled plans of workflow versions, cached per process (a version never changes)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

from runtime.plan import Plan
from runtime.sandbox import referenced_nodes
from runtime.validation import compile_graph


@dataclass(frozen=True, eq=False)
class CompiledVersion:
    plan: Plan
    reads: dict[str, frozenset[str]]  # node id -> nodes its templates and expressions read


def _reads_of(plan: Plan, node_id: str) -> frozenset[str]:
    planned = plan.nodes[node_id]
    found: set[str] = set()
    for source in planned.type.templates(planned.config).values():
        found |= referenced_nodes(source)
    for source in planned.type.expressions(planned.config).values():
        found |= referenced_nodes(source, expression=True)
    return frozenset(found)


@lru_cache(maxsize=256)
def _compiled(version_id: Any, graph_json: str) -> CompiledVersion:
    plan = compile_graph(json.loads(graph_json))
    return CompiledVersion(plan, {node_id: _reads_of(plan, node_id) for node_id in plan.nodes})


def compiled(version: Any) -> CompiledVersion:
    """The compiled WorkflowVersion; raises GraphValidationError for an invalid graph."""
    # Keyed by the graph text too, so a test database that reuses ids never gets a stale plan.
    return _compiled(version.pk, json.dumps(version.graph, sort_keys=True))
