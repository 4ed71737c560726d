"""Where a ``subflow`` node finds the flow it runs: a :class:`FlowLoader` on ``Services.flows``.

The engine knows no database, so it asks a loader: the app's loader reads the current version of
a workflow of the run's workspace (``orchestrator/workspace_flows.py``), the command line reads
sibling JSON files (:class:`DirectoryFlows`), tests hand graphs over (:class:`StaticFlows`).

A sub-flow runs inside a step, so flows nest. :class:`Lineage` wraps a loader with the flows that
are running around a step (outermost first); :func:`enter` refuses a flow that is already among
them (A calls B calls A would never end) and a chain deeper than :data:`MAX_DEPTH`.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

from runtime.errors import NodeConfigError

MAX_DEPTH = 5  # sub-flows inside sub-flows, at most this many levels below the run's own flow


@dataclass(frozen=True)
class Flow:
    ref: str  # canonical: one flow always has the same ref (cycles are found by comparing them)
    name: str  # what error messages call it
    graph: Any  # graph JSON, validated when the sub-flow step compiles it


class FlowNotFound(NodeConfigError):
    """A subflow node names a flow its loader does not know."""

    code = "unknown_workflow"


class FlowCycleError(NodeConfigError):
    code = "subflow_cycle"


class FlowDepthError(NodeConfigError):
    code = "subflow_too_deep"


class FlowLoader(Protocol):
    async def load(self, ref: str) -> Flow:
        """The flow ``ref`` names (a workflow id, a file's name); FlowNotFound when unknown."""
        ...


class NoFlows:
    """The default: nothing to load (a bare Services has no workflows around it)."""

    async def load(self, ref: str) -> Flow:
        raise FlowNotFound(f"no workflow {ref!r}: sub-flows are not available here")


def _title(graph: Any, default: str) -> str:
    meta = graph.get("meta") if isinstance(graph, dict) else None
    title = meta.get("title") if isinstance(meta, dict) else None
    return title if isinstance(title, str) and title.strip() else default


class StaticFlows:
    """Graphs given up front, by ref (tests, embedding)."""

    def __init__(self, graphs: Mapping[str, Any]) -> None:
        self._graphs = dict(graphs)

    async def load(self, ref: str) -> Flow:
        if ref not in self._graphs:
            known = ", ".join(sorted(self._graphs)) or "none"
            raise FlowNotFound(f"no workflow {ref!r} (known: {known})")
        graph = self._graphs[ref]
        return Flow(ref, _title(graph, ref), graph)


# A file name in the directory: no separators, so a flow cannot read files elsewhere.
_FILE_REF = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")


class DirectoryFlows:
    """The command line's loader: ``"fact-check"`` or ``"fact-check.json"`` is the JSON file of
    that name beside the flow being run (the same names the shipped examples use)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def ref_of(self, path: Path) -> str:
        return path.stem

    async def load(self, ref: str) -> Flow:
        name = ref.removesuffix(".json")
        if not _FILE_REF.fullmatch(name) or ".." in name:
            raise FlowNotFound(f"{ref!r} is not the name of a JSON file beside the flow")
        path = self.directory / f"{name}.json"
        try:
            graph = json.loads(path.read_text(encoding="utf-8"))
        except FileNotFoundError:
            raise FlowNotFound(f"no workflow {ref!r}: {path} does not exist") from None
        except (OSError, ValueError) as exc:
            raise FlowNotFound(f"workflow {ref!r} cannot be read from {path}: {exc}") from None
        return Flow(name, _title(graph, name), graph)


@dataclass(frozen=True)
class Lineage:
    """A loader plus the flows running around the step, outermost first, as (ref, name)."""

    loader: FlowLoader
    path: tuple[tuple[str, str], ...] = ()
    has_root: bool = False  # whether path[0] is the run's own flow (not a sub-flow)

    async def load(self, ref: str) -> Flow:
        return await self.loader.load(ref)


def lineage(loader: FlowLoader) -> Lineage:
    return loader if isinstance(loader, Lineage) else Lineage(loader)


def within(loader: FlowLoader, ref: str, name: str) -> Lineage:
    """``loader`` for the steps of the flow ``ref``: the run's own flow is the first link, so a
    sub-flow that calls it back is a cycle from the start."""
    outer = lineage(loader)
    return Lineage(outer.loader, ((ref, name), *outer.path), has_root=True)


def enter(loader: FlowLoader, flow: Flow) -> Lineage:
    """The loader for the steps of ``flow`` run as a sub-flow here, or the error why it may not
    run: it is already running around this step, or the chain would be too deep."""
    outer = lineage(loader)
    # The loaded flow names itself best (the run's own flow may be known by its id alone).
    names = [flow.name if ref == flow.ref else name for ref, name in outer.path]
    if any(ref == flow.ref for ref, _ in outer.path):
        chain = " → ".join([*names, flow.name])
        raise FlowCycleError(f"sub-flows call each other in a cycle: {chain}")
    # The run's own flow, when known, is the first link but not a sub-flow.
    depth = len(outer.path) - int(outer.has_root) + 1
    if depth > MAX_DEPTH:
        chain = " → ".join([*names, flow.name])
        raise FlowDepthError(f"sub-flows nest more than {MAX_DEPTH} deep: {chain}")
    return Lineage(outer.loader, (*outer.path, (flow.ref, flow.name)), outer.has_root)


__all__ = [
    "MAX_DEPTH",
    "DirectoryFlows",
    "Flow",
    "FlowCycleError",
    "FlowDepthError",
    "FlowLoader",
    "FlowNotFound",
    "Lineage",
    "NoFlows",
    "StaticFlows",
    "enter",
    "lineage",
    "within",
]
