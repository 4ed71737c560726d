"""The one registry of node types: it validates graphs, runs steps and feeds the canvas palette."""

from __future__ import annotations

from typing import Any

from runtime.nodes.base import NodeType


class NodeRegistry:
    def __init__(self, types: list[NodeType[Any]] | None = None) -> None:
        self._types: dict[str, NodeType[Any]] = {}
        for node_type in types or []:
            self.register(node_type)

    def register(self, node_type: NodeType[Any]) -> NodeType[Any]:
        if node_type.type in self._types:
            raise ValueError(f"node type {node_type.type!r} is already registered")
        self._types[node_type.type] = node_type
        return node_type

    def unregister(self, type_name: str) -> None:
        """Take a type out again (a test that added its own types to the default registry)."""
        self._types.pop(type_name, None)

    def get(self, type_name: str) -> NodeType[Any] | None:
        return self._types.get(type_name)

    def __contains__(self, type_name: object) -> bool:
        return type_name in self._types

    def names(self) -> list[str]:
        return sorted(self._types)

    def copy(self) -> NodeRegistry:
        return NodeRegistry(list(self._types.values()))

    def catalogue(self) -> list[dict[str, Any]]:
        """Every type's label, category, handles and settings JSON Schema (sorted: stable diffs)."""
        order = {"io": 0, "ai": 1, "logic": 2, "human": 3}
        entries = [node_type.describe() for node_type in self._types.values()]
        return sorted(entries, key=lambda e: (order.get(e["category"], 9), e["type"]))


def build_default_registry() -> NodeRegistry:
    from runtime.nodes.approval import ApprovalNode
    from runtime.nodes.classifier import ClassifierNode
    from runtime.nodes.conversation import ConversationNode
    from runtime.nodes.http_request import HTTPRequestNode
    from runtime.nodes.io import InputNode, OutputNode
    from runtime.nodes.iteration import LoopNode, MapNode
    from runtime.nodes.manager import ManagerNode
    from runtime.nodes.retrieve import RetrieveNode
    from runtime.nodes.router import RouterNode
    from runtime.nodes.subflow import SubflowNode
    from runtime.nodes.transform import TransformNode
    from runtime.nodes.worker import WorkerNode

    return NodeRegistry(
        [
            InputNode(),
            OutputNode(),
            TransformNode(),
            WorkerNode(),
            ManagerNode(),
            ClassifierNode(),
            RouterNode(),
            ApprovalNode(),
            HTTPRequestNode(),
            ConversationNode(),
            SubflowNode(),
            MapNode(),
            LoopNode(),
            RetrieveNode(),
        ]
    )


default_registry = build_default_registry()
