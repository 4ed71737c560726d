"""The graph format: the contract between canvas, API, engine and tests.

A graph is JSON ``{"nodes": [...], "edges": [...]}`` (see README, "Graph format"). These models
describe one node and one edge; :mod:`runtime.validation` checks a whole graph and reports every
issue at once, and :mod:`runtime.plan` compiles a valid graph into the indexes the scheduler uses.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

MAX_NODES = 2_000
MAX_EDGES = 10_000
ID_PATTERN = r"^[A-Za-z0-9_][A-Za-z0-9_\-]{0,63}$"
DEFAULT_SOURCE_HANDLE = "out"
DEFAULT_TARGET_HANDLE = "in"
ERROR_HANDLE = "error"

EdgeKind = Literal["flow", "delegate"]


class Position(BaseModel):
    model_config = ConfigDict(extra="ignore")
    x: float = 0.0
    y: float = 0.0


class Node(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    type: str = Field(min_length=1, max_length=64)
    label: str = Field(default="", max_length=200)
    position: Position = Field(default_factory=Position)
    config: dict[str, Any] = Field(default_factory=dict)

    @property
    def title(self) -> str:
        return self.label or self.id


class Edge(BaseModel):
    model_config = ConfigDict(extra="ignore", frozen=True)

    id: str = Field(pattern=ID_PATTERN)
    source: str = Field(min_length=1)
    target: str = Field(min_length=1)
    kind: EdgeKind = "flow"
    source_handle: str | None = None
    target_handle: str | None = None

    @property
    def branch(self) -> str:
        """The source handle this edge leaves from ("out" unless named)."""
        return self.source_handle or DEFAULT_SOURCE_HANDLE


@dataclass(frozen=True, slots=True)
class Issue:
    """One validation problem, naming the node or edge at fault."""

    code: str
    message: str
    node_id: str | None = None
    edge_id: str | None = None
    field: str | None = None

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.node_id is not None:
            data["node_id"] = self.node_id
        if self.edge_id is not None:
            data["edge_id"] = self.edge_id
        if self.field is not None:
            data["field"] = self.field
        return data

    def __str__(self) -> str:
        where = (
            f"node {self.node_id!r}"
            if self.node_id
            else f"edge {self.edge_id!r}"
            if self.edge_id
            else "graph"
        )
        field = f" ({self.field})" if self.field else ""
        return f"{where}{field}: {self.message}"


def canonical_json(value: Any) -> str:
    """One text per JSON value whatever its key order: what "identical" means for settings and
    recorded data."""
    return json.dumps(value, sort_keys=True, separators=(",", ":"), default=str)


def node_fingerprint(node: Node | Mapping[str, Any]) -> str:
    """What must be identical for a node to count as unchanged: its type and its config (not its
    label or its place on the canvas)."""
    type_: Any
    if isinstance(node, Node):
        type_, config = node.type, node.config
    else:
        type_, config = node.get("type"), node.get("config") or {}
    return hashlib.sha256(canonical_json({"type": type_, "config": config}).encode()).hexdigest()


def json_kind(value: Any) -> str:
    """What a JSON value is, in words, for error messages ("an array", "a string", …)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int | float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "an array"
    if isinstance(value, dict):
        return "an object"
    return type(value).__name__
