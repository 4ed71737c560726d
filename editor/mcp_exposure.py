"""Which workflows a workspace serves as tools of its MCP endpoint, and what each tool looks like.

A workflow is served when someone who may edit it turns ``mcp_exposed`` on (``PUT
/api/workspaces/<id>/mcp/workflows/<workflow id>/``, or the toggle on /settings/tools). Its tool
is named after the workflow (letters, digits, ``_`` and ``-``; a second workflow whose name gives
the same tool name gets ``_2``, in the order the workflows were made, so a name does not move
when another workflow is renamed after it), described by the workflow's description, and takes
its input node's fields as its input schema, the same parameters a worker sees when it calls the
workflow as a tool (runtime.tools.workflow_tool). The endpoint that serves them is
orchestrator.mcp_endpoint; this module is the one place both it and the API read the list from.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from editor.audit import record
from editor.models import Workflow
from runtime.tools.workflow_tool import parameters_of

# Where a workspace's endpoint answers (orchestrator.mcp_endpoint serves it, the API names it).
ENDPOINT_PATH = "/mcp/{workspace}/"

# MCP allows [A-Za-z0-9_.-] up to 128; the model vendors an MCP client hands the tools to allow
# [A-Za-z0-9_-] up to 64 (OpenAI's rule), so names keep to that.
TOOL_NAME_MAX = 64
_NOT_IN_NAME = re.compile(r"[^a-z0-9_-]+")


@dataclass(frozen=True, slots=True)
class ServedTool:
    name: str  # the tool's name on the endpoint
    workflow_id: str
    workflow_name: str
    description: str
    input_schema: dict[str, Any]
    exposed: bool
    problem: str | None  # why a call cannot start a run (no saved version, an invalid graph)


def tool_name_of(workflow_name: str) -> str:
    """The workflow's name as a tool name: lower case, other characters runs of ``_``."""
    cleaned = _NOT_IN_NAME.sub("_", workflow_name.lower()).strip("_-")
    return (cleaned or "workflow")[:TOOL_NAME_MAX]


def _unique(base: str, taken: set[str]) -> str:
    if base not in taken:
        return base
    n = 2
    while True:
        suffix = f"_{n}"
        candidate = base[: TOOL_NAME_MAX - len(suffix)] + suffix
        if candidate not in taken:
            return candidate
        n += 1


def _description(workflow: Workflow, graph: Any) -> str:
    text = (workflow.description or "").strip()
    if not text:
        meta = graph.get("meta") if isinstance(graph, dict) else None
        found = meta.get("description") if isinstance(meta, dict) else None
        text = found.strip() if isinstance(found, str) else ""
    return text or f"Runs the workflow {workflow.name!r} and answers with its output."


def _problem(workflow: Workflow) -> str | None:
    version = workflow.trigger_version
    if version is None:
        return "the workflow has no saved version to run"
    if not version.is_valid:
        return "the workflow's current version has problems; fix them and save"
    return None


def served_tools(workspace_id: Any, *, exposed_only: bool = True) -> list[ServedTool]:
    """The workspace's workflows as the endpoint's tools (every workflow when ``exposed_only``
    is off, each with the name it has or would have), oldest workflow first.

    Names are given over all workflows, exposed or not, so turning one on never renames
    another that is already served."""
    workflows = (
        Workflow.objects.filter(workspace_id=workspace_id)
        .select_related("current_version", "published_version")
        .order_by("created_at", "id")
    )
    taken: set[str] = set()
    tools = []
    for workflow in workflows:
        name = _unique(tool_name_of(workflow.name), taken)
        taken.add(name)
        if exposed_only and not workflow.mcp_exposed:
            continue
        # The tool's inputs are those of the version a call runs (the published one, if any).
        version = workflow.trigger_version
        graph = version.graph if version is not None else None
        tools.append(
            ServedTool(
                name=name,
                workflow_id=str(workflow.pk),
                workflow_name=workflow.name,
                description=_description(workflow, graph),
                input_schema=parameters_of(graph),
                exposed=workflow.mcp_exposed,
                problem=_problem(workflow),
            )
        )
    return tools


@transaction.atomic
def set_exposed(workflow: Workflow, exposed: bool, *, user: Any, via: str) -> Workflow:
    """Serve the workflow on its workspace's MCP endpoint, or stop; audited when it changes."""
    if workflow.mcp_exposed != exposed:
        # update(), not save(): the flag is not an edit of the workflow (updated_at stays).
        Workflow.objects.filter(pk=workflow.pk).update(mcp_exposed=exposed)
        workflow.mcp_exposed = exposed
        record(
            "workflow.mcp_exposed" if exposed else "workflow.mcp_hidden",
            actor=user,
            workspace=workflow.workspace,
            target=workflow,
            via=via,
            detail={"workflow": str(workflow.pk)},
        )
    return workflow
