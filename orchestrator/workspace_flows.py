"""The FlowLoader a run's steps get: the workflows of the run's workspace, at the version their
callers get (the published one, else the latest saved; read when the step runs, not pinned when
the run started, unlike a subflow step's: orchestrator.subflows).

Nothing is read when the loader is made (it is made for every step); a subflow step reads its
workflow when it runs. The node runs on the worker's event loop, where the ORM may not be used,
so the query runs on a thread of its own, which closes its connection when done.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass
from typing import Any

from django.db import connection

from editor.models import Workflow, WorkflowVersion
from editor.models.workflows import trigger_version_id
from runtime.flows import Flow, FlowLoader, FlowNotFound, within

# The run's own workflow, as the first link of a sub-flow chain (cycles back to it are refused).
ROOT_NAME = "this workflow"


@dataclass(frozen=True)
class SavedFlow(Flow):
    """A workflow as loaded: the version whose graph this is (a workflow tool call records it,
    as a subflow step does the version it runs)."""

    version_id: int = 0
    number: int = 0


class WorkspaceFlows:
    """runtime.flows.FlowLoader over one workspace's workflows, by id."""

    def __init__(self, workspace_id: Any) -> None:
        self.workspace_id = workspace_id

    def __repr__(self) -> str:
        return f"WorkspaceFlows(workspace={self.workspace_id})"

    async def load(self, ref: str) -> Flow:
        return await asyncio.to_thread(self._load, ref)

    def _load(self, ref: str) -> Flow:
        try:
            workflow_id = uuid.UUID(ref)
        except ValueError:
            raise FlowNotFound(f"{ref!r} is not a workflow id") from None
        try:
            # Another workspace's workflow answers exactly like one that does not exist.
            # The version its callers get: published, else the latest saved.
            row = (
                Workflow.objects.filter(pk=workflow_id, workspace_id=self.workspace_id)
                .annotate(called_version=trigger_version_id())
                .values_list("name", "called_version")
                .first()
            )
            version = (
                WorkflowVersion.objects.filter(pk=row[1]).values_list("graph", "number").first()
                if row is not None and row[1] is not None
                else None
            )
        finally:
            connection.close()
        if row is None:
            raise FlowNotFound(f"this workspace has no workflow {ref!r}")
        name, version_id = row
        if version is None:
            raise FlowNotFound(f"workflow {name!r} has no saved version")
        graph, number = version
        return SavedFlow(str(workflow_id), name, graph, version_id, number)


def workspace_flows(run: Any) -> FlowLoader:
    """The loader for the steps of ``run``: its workspace's workflows, with the run's own
    workflow as the root of any chain of sub-flows."""
    return within(WorkspaceFlows(run.workspace_id), str(run.workflow_id), ROOT_NAME)
