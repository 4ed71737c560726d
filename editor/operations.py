"""Business operations on workspaces and workflows, one transaction each.

Views call these and hold no logic of their own. Callers pass objects they have already scoped to
the user (``editor.access``); the operations do not check membership again. Each operation that
changes something writes its audit entry (``editor.audit``) in its own transaction, as ``user``
coming in ``via`` "session", "token", "webhook" or "command".

Saving never refuses a graph for being wrong: the canvas saves drafts, so a graph with issues is
stored with those issues. What is refused (:class:`GraphRefused`, 400) is input no canvas could
produce: not ``{"nodes": [...], "edges": [...]}``-shaped, over the size limits, nested absurdly
deep, or holding NUL characters (which PostgreSQL cannot store in JSON).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from editor.audit import record
from editor.errors import GraphRefused, NotFound, VersionConflict
from editor.models import Membership, Role, Workflow, WorkflowVersion, Workspace
from runtime.graph import MAX_EDGES, MAX_NODES
from runtime.validation import graph_warnings, validate_graph

EMPTY_GRAPH: dict[str, Any] = {"nodes": [], "edges": []}
MAX_GRAPH_DEPTH = 32  # far more than any node config needs
EXPORT_FORMAT = "flowbuilder.workflow"
EXPORT_FORMAT_VERSION = 1


# -- graphs ----------------------------------------------------------------------------------------


def check_graph_shape(graph: Any) -> None:
    """Raise GraphRefused for input that is not a graph at all; issues inside one are fine."""
    if not isinstance(graph, dict):
        raise GraphRefused("a graph is a JSON object with 'nodes' and 'edges' lists")
    nodes, edges = graph.get("nodes"), graph.get("edges", [])
    if not isinstance(nodes, list):
        raise GraphRefused("'nodes' must be a list")
    if not isinstance(edges, list):
        raise GraphRefused("'edges' must be a list")
    if len(nodes) > MAX_NODES:
        raise GraphRefused(f"a graph may have at most {MAX_NODES} nodes", code="too_many_nodes")
    if len(edges) > MAX_EDGES:
        raise GraphRefused(f"a graph may have at most {MAX_EDGES} edges", code="too_many_edges")
    for kind, items in (("nodes", nodes), ("edges", edges)):
        for index, item in enumerate(items):
            if not isinstance(item, dict):
                raise GraphRefused(f"{kind}[{index}] must be a JSON object")
    # Iterative, so a hostile document cannot exhaust the stack here either.
    stack: list[tuple[Any, int]] = [(graph, 0)]
    while stack:
        value, depth = stack.pop()
        if depth > MAX_GRAPH_DEPTH:
            raise GraphRefused(f"the graph is nested more than {MAX_GRAPH_DEPTH} levels deep")
        if isinstance(value, dict):
            for key, item in value.items():
                if "\x00" in key:
                    raise GraphRefused("the graph contains a NUL character")
                stack.append((item, depth + 1))
        elif isinstance(value, list):
            stack.extend((item, depth + 1) for item in value)
        elif isinstance(value, str) and "\x00" in value:
            raise GraphRefused("the graph contains a NUL character")


def graph_warnings_of(graph: Any) -> list[dict[str, Any]]:
    """What would run but is likely not meant, as JSON (never blocks a save or a run)."""
    return [issue.to_dict() for issue in graph_warnings(graph)]


def graph_issues(graph: Any) -> list[dict[str, Any]]:
    """Every validation issue of a graph, as JSON (Issue.to_dict())."""
    return [issue.to_dict() for issue in validate_graph(graph)]


# -- workspaces ------------------------------------------------------------------------------------


@transaction.atomic
def ensure_personal_workspace(user: Any) -> Workspace:
    """The user's own workspace (one they own), created on first need."""
    owned = (
        Membership.objects.filter(user=user, role=Role.OWNER)
        .select_related("workspace")
        .order_by("id")
        .first()
    )
    if owned is not None:
        return owned.workspace
    username = user.get_username()
    base = slugify(username)[:80] or "workspace"
    slug, suffix = base, 1
    while Workspace.objects.filter(slug=slug).exists():
        suffix += 1
        slug = f"{base}-{suffix}"
    workspace = Workspace.objects.create(name=f"{username}'s workspace"[:100], slug=slug)
    Membership.objects.create(user=user, workspace=workspace, role=Role.OWNER)
    return workspace


def default_workspace(user: Any) -> Workspace:
    """Where a workflow goes when the client names no workspace: the user's own."""
    return ensure_personal_workspace(user)


# -- workflows -------------------------------------------------------------------------------------


def _add_version(workflow: Workflow, graph: Any, user: Any, note: str) -> WorkflowVersion:
    """Append a version; the caller holds the workflow's row lock (or just created it)."""
    last = workflow.versions.order_by("-number").values_list("number", flat=True).first() or 0
    version = WorkflowVersion.objects.create(
        workflow=workflow,
        number=last + 1,
        graph=graph,
        issues=graph_issues(graph),
        note=note,
        created_by=user,
    )
    workflow.current_version = version
    workflow.save(update_fields=["current_version", "updated_at"])
    return version


def _locked(workflow: Workflow) -> Workflow:
    # Serialises saves of one workflow, so version numbers never collide (SQLite ignores this and
    # relies on its IMMEDIATE transactions, which take the write lock at BEGIN).
    return (
        Workflow.objects.select_for_update(of=("self",))
        .select_related("current_version")
        .get(pk=workflow.pk)
    )


def _record(action: str, workflow: Workflow, user: Any, via: str, **detail: Any) -> None:
    record(
        action, actor=user, workspace=workflow.workspace, target=workflow, via=via, detail=detail
    )


def _renamed(old: str, new: str) -> dict[str, str]:
    return {"old_name": old, "name": new} if old != new else {}


@transaction.atomic
def add_workflow(
    *,
    user: Any,
    name: str,
    workspace: Workspace | None = None,
    description: str = "",
    graph: Any = None,
    note: str = "",
) -> Workflow:
    """A new workflow with its first version, and no audit entry.

    The step that creating, importing and importing an example share; each of those records its
    own action (``workflow.created`` or ``workflow.imported``) around it. Not for views.
    """
    graph = EMPTY_GRAPH if graph is None else graph
    check_graph_shape(graph)
    workflow = Workflow.objects.create(
        workspace=workspace or default_workspace(user),
        name=name,
        description=description,
        created_by=user,
    )
    _add_version(workflow, graph, user, note or "Created")
    return workflow


@transaction.atomic
def create_workflow(
    *,
    user: Any,
    name: str,
    workspace: Workspace | None = None,
    description: str = "",
    graph: Any = None,
    note: str = "",
    via: str = "session",
) -> Workflow:
    workflow = add_workflow(
        user=user, name=name, workspace=workspace, description=description, graph=graph, note=note
    )
    _record("workflow.created", workflow, user, via)
    return workflow


@transaction.atomic
def save_workflow(
    workflow: Workflow,
    *,
    user: Any,
    graph: Any,
    note: str = "",
    base_version: int | None = None,
    name: str | None = None,
    description: str | None = None,
    via: str = "session",
) -> Workflow:
    """Save a graph as a new version (and rename, if asked, in the same transaction).

    ``base_version``, when given, is the version the client edited: if someone saved since, the
    save is refused with 409 rather than silently dropping their changes.
    """
    check_graph_shape(graph)
    workflow = _locked(workflow)
    current = workflow.current_version.number if workflow.current_version else 0
    if base_version is not None and base_version != current:
        raise VersionConflict(
            f"version {current} was saved after version {base_version}, which this edit started "
            "from; reload the workflow and apply the change again",
            fields={"base_version": [f"the current version is {current}"]},
        )
    old_name = workflow.name
    _apply_names(workflow, name, description)
    version = _add_version(workflow, graph, user, note)
    _record(
        "workflow.saved",
        workflow,
        user,
        via,
        version=version.number,
        **_renamed(old_name, workflow.name),
    )
    return workflow


def _apply_names(workflow: Workflow, name: str | None, description: str | None) -> None:
    changed = []
    if name is not None and name != workflow.name:
        workflow.name = name
        changed.append("name")
    if description is not None and description != workflow.description:
        workflow.description = description
        changed.append("description")
    if changed:
        workflow.save(update_fields=[*changed, "updated_at"])


@transaction.atomic
def rename_workflow(
    workflow: Workflow,
    *,
    user: Any,
    name: str | None = None,
    description: str | None = None,
    via: str = "session",
) -> Workflow:
    """Rename or re-describe; recorded even when nothing changed, since the user asked for it."""
    workflow = _locked(workflow)
    old_name = workflow.name
    _apply_names(workflow, name, description)
    _record("workflow.renamed", workflow, user, via, **_renamed(old_name, workflow.name))
    return workflow


@transaction.atomic
def restore_version(
    workflow: Workflow, *, user: Any, number: int, via: str = "session"
) -> Workflow:
    """Make a new version with an old version's graph; history is never rewritten."""
    workflow = _locked(workflow)
    old = workflow.versions.filter(number=number).first()
    if old is None:
        raise NotFound(f"this workflow has no version {number}")
    version = _add_version(workflow, old.graph, user, f"Restored from version {number}")
    _record("workflow.saved", workflow, user, via, version=version.number, restored_from=number)
    return workflow


@transaction.atomic
def duplicate_workflow(
    workflow: Workflow, *, user: Any, name: str | None = None, via: str = "session"
) -> Workflow:
    source = workflow.current_version
    graph = source.graph if source else EMPTY_GRAPH
    copy = Workflow.objects.create(
        workspace=workflow.workspace,
        name=name or f"{workflow.name} (copy)"[:200],
        description=workflow.description,
        created_by=user,
    )
    where = f" version {source.number}" if source else ""
    _add_version(copy, graph, user, f"Copied from “{workflow.name}”{where}"[:200])
    _record("workflow.duplicated", copy, user, via, source=str(workflow.pk))
    return copy


@transaction.atomic
def delete_workflow(workflow: Workflow, *, user: Any, via: str = "session") -> None:
    # Recorded first: afterwards the row is gone, and the entry keeps its id and name.
    _record("workflow.deleted", workflow, user, via)
    # Raises ProtectedError if the run side protects its runs (the API answers 409); the entry
    # then rolls back with the rest.
    workflow.delete()


def export_workflow(workflow: Workflow) -> dict[str, Any]:
    """The file a user downloads; ``import_workflow`` takes it back."""
    version = workflow.current_version
    return {
        "format": EXPORT_FORMAT,
        "format_version": EXPORT_FORMAT_VERSION,
        "name": workflow.name,
        "description": workflow.description,
        "version": version.number if version else None,
        "graph": version.graph if version else EMPTY_GRAPH,
    }


@transaction.atomic
def import_workflow(
    *,
    user: Any,
    graph: Any,
    name: str,
    description: str = "",
    workspace: Workspace | None = None,
    via: str = "session",
) -> Workflow:
    target = workspace or default_workspace(user)
    workflow = add_workflow(
        user=user,
        workspace=target,
        name=free_name(target, name),
        description=description,
        graph=graph,
        note="Imported",
    )
    _record("workflow.imported", workflow, user, via)
    return workflow


def free_name(workspace: Workspace, name: str) -> str:
    """``name``, or ``name (2)``, ``name (3)``… when the workspace already has a workflow of that
    name: importing the same file twice gave two workflows nobody could tell apart."""
    taken = set(
        Workflow.objects.filter(workspace=workspace, name__startswith=name).values_list(
            "name", flat=True
        )
    )
    if name not in taken:
        return name
    number = 2
    while True:
        suffix = f" ({number})"
        candidate = name[: 200 - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        number += 1
