"""What runs next, as pure functions of the plan and the outcomes so far.

An *outcome* is recorded for every node that is done: the branch (handle) it left by — ``out``
for most nodes, a route name for a router, ``error`` for a failure routed along an error edge —
or :data:`SKIPPED`. The in-process executor and the Celery orchestrator both drive a run with
these functions, so a flow behaves the same wherever it runs.

Join rule: a node becomes ready once every incoming flow edge is decided and at least one of
them is *live* (its source left by the edge's branch). When every incoming edge is dead the node
is skipped, and the skip propagates. This runs diamonds after both sides finish, and lets a
router's branches meet again at one node (Airflow calls this ``none_failed_min_one_success``).
"""

from __future__ import annotations

from collections import ChainMap
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from runtime.graph import Edge
from runtime.plan import Plan

SKIPPED = "\x00skipped"  # an outcome no handle name can equal

EdgeState = Literal["live", "dead", "pending"]
Readiness = Literal["ready", "skip", "wait"]


@dataclass(frozen=True, slots=True)
class Advance:
    ready: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)


def edge_state(edge: Edge, outcomes: Mapping[str, str]) -> EdgeState:
    outcome = outcomes.get(edge.source)
    if outcome is None:
        return "pending"
    return "live" if outcome == edge.branch else "dead"


def readiness(plan: Plan, node_id: str, outcomes: Mapping[str, str]) -> Readiness:
    any_live = False
    for edge in plan.incoming[node_id]:
        state = edge_state(edge, outcomes)
        if state == "pending":
            return "wait"
        any_live = any_live or state == "live"
    return "ready" if any_live else "skip"


class JoinCounts:
    """Per node, how many of its incoming edges are still undecided and how many are live, for
    a driver that sees every outcome from the start (the in-process executor): a node is judged
    once, when its last edge is decided, instead of re-reading all its incoming edges each time
    one of them is decided (a join of width n would cost n² edge reads)."""

    __slots__ = ("_live", "_plan", "_undecided")

    def __init__(self, plan: Plan) -> None:
        self._plan = plan
        self._undecided: dict[str, int] = {}
        self._live: dict[str, int] = {}

    def decide(self, edge: Edge, outcome: str) -> Readiness:
        """``edge``'s source has its outcome: what that makes of its target."""
        target = edge.target
        left = self._undecided.get(target)
        if left is None:
            left = len(self._plan.incoming[target])
        self._undecided[target] = left = left - 1
        if outcome == edge.branch:
            self._live[target] = self._live.get(target, 0) + 1
        if left > 0:
            return "wait"
        return "ready" if self._live.get(target) else "skip"


def initial_ready(plan: Plan) -> list[str]:
    return list(plan.roots)


def advance(
    plan: Plan, outcomes: Mapping[str, str], finished: str, counts: JoinCounts | None = None
) -> Advance:
    """Nodes made ready, and nodes skipped, by ``finished`` having its outcome in ``outcomes``.

    Skips cascade: a skipped node's successors are examined in turn. ``outcomes`` is not
    changed; the caller records the skipped nodes' outcomes as :data:`SKIPPED`. ``counts``: kept
    by a caller that calls this once for every node that gets an outcome, from the run's start.
    """
    # Nodes skipped by this cascade: their outcome (SKIPPED) is looked up here before
    # ``outcomes``, which is not changed.
    skips: dict[str, str] = {}
    ready: set[str] = set()
    skipped: list[str] = []
    frontier = [finished]
    outgoing = plan.outgoing
    while frontier:
        source = frontier.pop()
        outcome = skips.get(source) or outcomes[source]
        for edge in outgoing[source]:
            target = edge.target
            if counts is not None:
                state = counts.decide(edge, outcome)  # every edge is counted once
                if target in outcomes or target in skips or target in ready:
                    continue
            elif target in outcomes or target in skips or target in ready:
                continue
            else:
                known: Mapping[str, str] = (
                    ChainMap(skips, outcomes)  # type: ignore[arg-type]
                    if skips
                    else outcomes
                )
                state = readiness(plan, target, known)
            if state == "ready":
                ready.add(target)
            elif state == "skip":
                skips[target] = SKIPPED
                skipped.append(target)
                frontier.append(target)
    if len(ready) < 2 and len(skipped) < 2:
        return Advance(list(ready), skipped)  # positional: no dict of keywords per call
    return Advance(plan.by_order(ready), plan.by_order(skipped))


def is_complete(plan: Plan, outcomes: Mapping[str, str]) -> bool:
    """Every node the flow schedules (all but delegate-only ones) has an outcome."""
    return all(node_id in outcomes or node_id in plan.delegate_only for node_id in plan.nodes)


def live_sources(plan: Plan, node_id: str, outcomes: Mapping[str, str]) -> list[str]:
    """The upstream nodes whose output a node receives: sources of its live incoming edges,
    each once, in edge order."""
    live = [edge.source for edge in plan.incoming[node_id] if edge_state(edge, outcomes) == "live"]
    return list(dict.fromkeys(live))


def input_from(sources: list[str], outputs: Mapping[str, Any]) -> Any:
    """What a node receives from its live sources: the one source's output, or a dict of them
    keyed by node id (None without any)."""
    if not sources:
        return None
    if len(sources) == 1:
        return outputs.get(sources[0])
    return {source: outputs.get(source) for source in sources}


def step_input(
    plan: Plan, node_id: str, outputs: Mapping[str, Any], outcomes: Mapping[str, str]
) -> Any:
    """What a node receives: its one live upstream's output, or a dict of them keyed by node id."""
    incoming = plan.incoming[node_id]
    if len(incoming) == 1:  # most nodes: no list of sources to build per step
        edge = incoming[0]
        return outputs.get(edge.source) if outcomes.get(edge.source) == edge.branch else None
    return input_from(live_sources(plan, node_id, outcomes), outputs)


def run_output(plan: Plan, outputs: Mapping[str, Any], outcomes: Mapping[str, str]) -> Any:
    """One output node gives its value; several give an object of those that ran, by node id."""
    if len(plan.output_nodes) == 1:
        return outputs.get(plan.output_nodes[0])
    return {
        node_id: outputs.get(node_id)
        for node_id in plan.output_nodes
        if outcomes.get(node_id, SKIPPED) != SKIPPED
    }
