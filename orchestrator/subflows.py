"""Which version a run's sub-flows run: fixed when the run starts, like the run's own version.

A ``subflow`` step runs its flow as steps of the run (``transitions.start_flow``); the version of
that workflow is the one its callers got when the run started (its published version, else its
latest saved: ``Workflow.trigger_version``), found by following the run's
graph and the graphs of the sub-flows it names (as deep as sub-flows may nest). A workflow first
named deeper than that, or made after the run started, is pinned when a step first runs it.
"""

from __future__ import annotations

import uuid
from typing import Any

from editor.models import Workflow, WorkflowVersion
from editor.models.workflows import trigger_version_id
from orchestrator.plans import compiled
from orchestrator.unit_of_work import RunTransaction
from runtime.errors import GraphValidationError
from runtime.flows import MAX_DEPTH, FlowNotFound
from runtime.plan import Plan


def named_workflows(plan: Plan) -> set[str]:
    """The workflow ids the plan's subflow nodes name."""
    found = set()
    for planned in plan.nodes.values():
        if planned.type.type == "subflow":
            ref = str(getattr(planned.config, "workflow", "")).strip()
            if ref:
                found.add(ref)
    return found


def subflow_versions(workspace_id: Any, plan: Plan) -> dict[str, int]:
    """{workflow id: version id} for every sub-flow the run may reach: the version its callers
    get (published, else the latest saved)."""
    pins: dict[str, int] = {}
    wanted = named_workflows(plan)
    for _ in range(MAX_DEPTH):
        ids = [ref for ref in wanted - pins.keys() if _is_uuid(ref)]
        if not ids:
            break
        rows = (
            Workflow.objects.filter(workspace_id=workspace_id, pk__in=ids)
            .annotate(called_version=trigger_version_id())
            .filter(called_version__isnull=False)
            .values_list("pk", "called_version")
        )
        found = {str(pk): version_id for pk, version_id in rows}
        pins.update(found)
        wanted = set()
        for version in WorkflowVersion.objects.filter(pk__in=found.values()):
            try:
                wanted |= named_workflows(compiled(version).plan)
            except GraphValidationError:
                continue  # refused, naming its problems, when a step runs it
    return pins


def pinned_version(txn: RunTransaction, ref: str) -> WorkflowVersion:
    """The version the run runs of workflow ``ref``: pinned when the run started, or now (and
    kept for the rest of the run). GraphValidationError when it cannot run."""
    run = txn.run
    version_id = (run.flow_versions or {}).get(ref)
    if version_id is None:
        version_id = (
            Workflow.objects.filter(pk=ref if _is_uuid(ref) else None, workspace=run.workspace_id)
            .annotate(called_version=trigger_version_id())
            .values_list("called_version", flat=True)
            .first()
        )
        if version_id is None:
            raise FlowNotFound(f"this workspace has no workflow {ref!r} with a saved version")
        run.flow_versions = {**(run.flow_versions or {}), ref: version_id}
        txn.touch("flow_versions")
    version = WorkflowVersion.objects.get(pk=version_id)
    compiled(version)  # raises GraphValidationError for a version that cannot run
    return version


def _is_uuid(value: str) -> bool:
    try:
        uuid.UUID(value)
    except ValueError:
        return False
    return True
