"""A validated graph compiled into the indexes the scheduler and executors read."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from runtime.graph import Edge, Node, node_fingerprint
from runtime.nodes.base import NodeConfig, NodeType
from runtime.retry import NO_RETRY, RetryPolicy
from runtime.sandbox import referenced_nodes


@dataclass(frozen=True, slots=True)
class PlannedNode:
    node: Node
    type: NodeType[Any]
    config: NodeConfig
    order: int  # position in a deterministic topological order: ties are broken by it
    # Read once here, not per step: pydantic attribute misses are slow on the hot path.
    retry: RetryPolicy = field(default_factory=lambda: NO_RETRY)
    timeout: float | None = None
    fingerprint: str = ""  # graph.node_fingerprint: what a recorded step's settings must equal


@dataclass(frozen=True)
class Plan:
    nodes: dict[str, PlannedNode]
    edges: tuple[Edge, ...]
    incoming: dict[str, tuple[Edge, ...]]  # flow edges into each node
    outgoing: dict[str, tuple[Edge, ...]]  # flow edges out of each node
    delegates: dict[str, tuple[str, ...]]  # node -> nodes it may delegate to
    roots: tuple[str, ...]  # nodes that start the run: no incoming flow edge, not delegate-only
    delegate_only: frozenset[str]  # nodes that run only when delegated to
    output_nodes: tuple[str, ...]

    def node(self, node_id: str) -> PlannedNode:
        return self.nodes[node_id]

    def by_order(self, node_ids: set[str] | list[str]) -> list[str]:
        return sorted(node_ids, key=lambda node_id: self.nodes[node_id].order)

    def handles_errors(self, node_id: str) -> bool:
        """Whether this node's failure goes along an ``error`` edge instead of failing the run."""
        return any(edge.branch == "error" for edge in self.outgoing.get(node_id, ()))

    def upstream_of(self, node_id: str) -> list[str]:
        return [edge.source for edge in self.incoming.get(node_id, ())]


def build_plan(nodes: list[PlannedNode], edges: list[Edge], topological: list[str]) -> Plan:
    order = {node_id: index for index, node_id in enumerate(topological)}
    # retry and timeout were left at their defaults here, so no node ever retried or timed out.
    by_id = {
        p.node.id: PlannedNode(
            p.node,
            p.type,
            p.config,
            order[p.node.id],
            _policy(p.type, p.config),
            getattr(p.config, "timeout", None),
            node_fingerprint(p.node),
        )
        for p in nodes
    }
    incoming: dict[str, list[Edge]] = {node_id: [] for node_id in by_id}
    outgoing: dict[str, list[Edge]] = {node_id: [] for node_id in by_id}
    delegates: dict[str, list[str]] = {node_id: [] for node_id in by_id}
    delegated_to: set[str] = set()
    for edge in edges:
        if edge.kind == "delegate":
            delegates[edge.source].append(edge.target)
            delegated_to.add(edge.target)
        else:
            incoming[edge.target].append(edge)
            outgoing[edge.source].append(edge)
    delegate_only = frozenset(n for n in delegated_to if not incoming[n])
    roots = tuple(n for n in topological if not incoming[n] and n not in delegate_only)
    outputs = tuple(n for n in topological if by_id[n].type.type == "output")
    return Plan(
        nodes=by_id,
        edges=tuple(edges),
        incoming={k: tuple(v) for k, v in incoming.items()},
        outgoing={k: tuple(v) for k, v in outgoing.items()},
        delegates={k: tuple(sorted(v, key=order.__getitem__)) for k, v in delegates.items()},
        roots=roots,
        delegate_only=delegate_only,
        output_nodes=outputs,
    )


def describe_delegates(plan: Plan, node_id: str) -> tuple[dict[str, Any], ...]:
    """``StepContext.delegate_info`` for a step of ``node_id``: one summary per delegate."""
    summaries = []
    for delegate_id in plan.delegates.get(node_id, ()):
        planned = plan.nodes[delegate_id]
        summaries.append(planned.type.delegate_summary(planned.node, planned.config))
    return tuple(summaries)


def _policy(node_type: NodeType[Any], config: NodeConfig) -> RetryPolicy:
    policy = node_type.retry_policy(config)
    return policy if isinstance(policy, RetryPolicy) else NO_RETRY


def template_reads(planned: PlannedNode) -> frozenset[str]:
    """The nodes whose output a node's templates and expressions read (``nodes.<id>``)."""
    found: set[str] = set()
    for source in planned.type.templates(planned.config).values():
        found |= referenced_nodes(source)
    for source in planned.type.expressions(planned.config).values():
        found |= referenced_nodes(source, expression=True)
    return frozenset(found)
