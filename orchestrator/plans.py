"""Compiled plans of workflow versions, cached per process (a version never changes)."""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass
from typing import Any

from runtime.plan import Plan, template_reads
from runtime.validation import compile_graph


@dataclass(frozen=True, eq=False)
class CompiledVersion:
    plan: Plan
    reads: dict[str, frozenset[str]]  # node id -> nodes its templates and expressions read


_CACHE: OrderedDict[tuple[Any, Any], CompiledVersion] = OrderedDict()
_CACHE_SIZE = 256


def compiled(version: Any) -> CompiledVersion:
    """The compiled WorkflowVersion; raises GraphValidationError for an invalid graph.

    Versions never change, so a plan is compiled once per process. The key is the id and the
    creation time: a test database that hands out an id again gives a new time, and nothing on
    the hot path has to serialise the whole graph to build a key.
    """
    key = (version.pk, version.created_at)
    found = _CACHE.get(key)
    if found is None:
        plan = compile_graph(version.graph)
        reads = {node_id: template_reads(planned) for node_id, planned in plan.nodes.items()}
        found = CompiledVersion(plan, reads)
        _CACHE[key] = found
        if len(_CACHE) > _CACHE_SIZE:
            _CACHE.popitem(last=False)
    else:
        _CACHE.move_to_end(key)
    return found
