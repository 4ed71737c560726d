"""The example flows that ship in ``examples/*.json``: listed for the app and imported as new
workflows.

An example file is a graph with an optional top-level ``"meta": {"title", "description"}``; the
engine and ``check_graph_shape`` read only ``nodes`` and ``edges``, so the file stays runnable as
it is (``python -m runtime run examples/research.json``). The workflow made from an example gets
the title and description as its name and description, and the graph without ``meta``.

Names are file stems matching :data:`NAME_PATTERN` (a lower-case slug): a name is never joined to
a path before it has matched, so nothing outside the examples directory can be read.
"""

from __future__ import annotations

import json
import logging
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from django.conf import settings
from django.db import transaction

from editor import operations
from editor.audit import record
from editor.errors import GraphRefused, NotFound
from editor.models import Workflow, Workspace

log = logging.getLogger(__name__)

NAME_PATTERN = re.compile(r"^[a-z0-9]+(?:-[a-z0-9]+)*$")
MAX_NAME_LENGTH = 64
MAX_FILE_BYTES = 1_000_000  # the shipped examples are a few kB; anything near this is a mistake


@dataclass(frozen=True)
class Example:
    name: str
    title: str
    description: str
    graph: dict[str, Any]  # nodes and edges only

    @property
    def node_count(self) -> int:
        return len(self.graph["nodes"])


def examples_dir() -> Path:
    """``settings.EXAMPLES_DIR``, by default ``examples/`` beside the code."""
    return Path(getattr(settings, "EXAMPLES_DIR", Path(settings.BASE_DIR) / "examples"))


def is_example_name(name: str) -> bool:
    return len(name) <= MAX_NAME_LENGTH and NAME_PATTERN.fullmatch(name) is not None


def _inside(directory: Path, path: Path) -> bool:
    """Whether ``path`` is a regular file directly in ``directory`` (a symlink pointing out of
    it is not)."""
    try:
        return path.resolve().parent == directory.resolve() and path.is_file()
    except OSError:
        return False


def _title_of(name: str) -> str:
    return name.replace("-", " ").capitalize()


def _load(name: str, path: Path) -> Example:
    """Read one example file; ValueError when it is not one."""
    if path.stat().st_size > MAX_FILE_BYTES:
        raise ValueError(f"larger than {MAX_FILE_BYTES} bytes")
    raw = json.loads(path.read_text(encoding="utf-8"))
    if not isinstance(raw, dict):
        raise ValueError("not a JSON object")
    graph = {"nodes": raw.get("nodes"), "edges": raw.get("edges", [])}
    operations.check_graph_shape(graph)  # raises GraphRefused
    meta = raw.get("meta") if isinstance(raw.get("meta"), dict) else {}
    title = meta.get("title") if isinstance(meta.get("title"), str) else ""
    description = meta.get("description") if isinstance(meta.get("description"), str) else ""
    return Example(
        name=name,
        title=(title.strip() or _title_of(name))[:200],
        description=description.strip(),
        graph=graph,
    )


def _read(name: str, path: Path) -> Example | None:
    try:
        return _load(name, path)
    except (OSError, ValueError, GraphRefused) as exc:
        # A broken file is a deployment mistake: say so in the log, keep the others listed.
        log.warning("example %s (%s) is skipped: %s", name, path, exc)
        return None


def list_examples() -> list[Example]:
    """Every readable example, by name."""
    directory = examples_dir()
    if not directory.is_dir():
        return []
    found = []
    # By name, not file name: "research-with-tools.json" sorts before "research.json".
    for path in sorted(directory.glob("*.json"), key=lambda path: path.stem):
        if not is_example_name(path.stem) or not _inside(directory, path):
            continue
        example = _read(path.stem, path)
        if example is not None:
            found.append(example)
    return found


def get_example(name: str) -> Example:
    """The example called ``name``; NotFound for anything else, malformed names included."""
    missing = NotFound(f"there is no example named {name[:MAX_NAME_LENGTH]!r}")
    if not is_example_name(name):
        raise missing
    directory = examples_dir()
    # Joined only now that the pattern has ruled out separators and dots.
    path = directory / f"{name}.json"
    if not _inside(directory, path):
        raise missing
    example = _read(name, path)
    if example is None:
        raise missing
    return example


@transaction.atomic
def import_example(
    *,
    user: Any,
    name: str,
    workspace: Workspace | None = None,
    workflow_name: str | None = None,
    via: str = "session",
) -> Workflow:
    """A new workflow (version 1) holding the example's graph, in ``workspace`` or the user's
    own. A ``subflow`` node or a ``workflow:<example>`` tool that names another example gets a
    copy of that example imported beside it, and is pointed at the copy.

    Each workflow made is recorded as ``workflow.imported``: the one asked for first, then the
    sub-flow copies, which name it as ``subflow_of`` (they are made before it, so the entries
    are written once all exist)."""
    copies: list[tuple[str, Workflow]] = []
    workflow = _import(
        user=user, name=name, workspace=workspace, workflow_name=workflow_name, copies_made=copies
    )
    _record_import(workflow, user, via, example=name)
    for example_name, copy in copies:
        _record_import(copy, user, via, example=example_name, subflow_of=str(workflow.id))
    return workflow


def _record_import(workflow: Workflow, user: Any, via: str, **detail: str) -> None:
    record(
        "workflow.imported",
        actor=user,
        workspace=workflow.workspace,
        target=workflow,
        via=via,
        detail=detail,
    )


def _import(
    *,
    user: Any,
    name: str,
    workspace: Workspace | None,
    workflow_name: str | None = None,
    importing: frozenset[str] = frozenset(),
    copies_made: list[tuple[str, Workflow]],
) -> Workflow:
    example = get_example(name)
    graph = _with_subflows(
        example,
        user=user,
        workspace=workspace,
        importing=importing | {name},
        copies_made=copies_made,
    )
    return operations.add_workflow(
        user=user,
        workspace=workspace,
        name=workflow_name or example.title,
        description=example.description,
        graph=graph,
        note=f"From the example “{example.name}”"[:200],
    )


def _with_subflows(
    example: Example,
    *,
    user: Any,
    workspace: Workspace | None,
    importing: frozenset[str],
    copies_made: list[tuple[str, Workflow]],
) -> dict[str, Any]:
    """The example's graph, its references to other examples pointed at imported copies: a
    sub-flow's ``workflow`` and a tool ``workflow:<example>`` in a node's ``tools``.

    In the files a sub-flow or workflow tool names its example by file name (so ``python -m
    runtime run`` finds it beside the file); in the app both name a workflow id of the same
    workspace. One copy per example, however many nodes name it, and whichever way; an example
    that names one being imported (a cycle) is left as it is and fails with a clear error when
    run (a tool call answers it as an error result).
    """
    copies: dict[str, str] = {}

    def copied(ref: str) -> str | None:
        """The id of ``ref``'s imported copy, importing it the first time; None if it is not
        an example (a workflow id already, or a name nothing answers to)."""
        if ref in importing or not is_example_name(ref):
            return None
        if ref not in copies:
            try:
                copy = _import(
                    user=user,
                    name=ref,
                    workspace=workspace,
                    importing=importing,
                    copies_made=copies_made,
                )
            except NotFound:
                return None
            copies[ref] = str(copy.id)
            copies_made.append((ref, copy))
        return copies[ref]

    nodes = []
    for node in example.graph["nodes"]:
        config = node.get("config") if isinstance(node, dict) else None
        if isinstance(config, dict):
            changed = dict(config)
            ref = config.get("workflow")
            if node.get("type") == "subflow" and isinstance(ref, str):
                changed["workflow"] = copied(ref) or ref
            if isinstance(config.get("tools"), list):
                changed["tools"] = [_tool_ref(tool, copied) for tool in config["tools"]]
            if changed != config:
                node = {**node, "config": changed}
        nodes.append(node)
    return {**example.graph, "nodes": nodes}


WORKFLOW_TOOL = "workflow:"


def _tool_ref(tool: Any, copied: Callable[[str], str | None]) -> Any:
    """A worker's tool reference, ``workflow:<example>`` pointed at the example's copy."""
    if isinstance(tool, str) and tool.startswith(WORKFLOW_TOOL):
        found = copied(tool[len(WORKFLOW_TOOL) :])
        if found is not None:
            return WORKFLOW_TOOL + found
    return tool
