"""Reuse inside a run transaction: whether a ready node of a run made from an earlier one takes a
recorded (or edited, or pinned) step instead of executing, and writing that step.

The rule itself is :func:`runtime.reuse.decide`, the one the in-process executor asks too; this
module only reads what it needs from the rows: the run's reuse settings, the source run's step of
that node, and which nodes the new run has executed so far.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from editor.models import WorkflowVersion
from orchestrator.models import Step
from orchestrator.plans import compiled
from orchestrator.unit_of_work import RunTransaction
from runtime.reuse import Recorded, ResumePoint, Reused, ReusePlan, decide, reused_event


def _settings(txn: RunTransaction, flow: Step | None) -> dict[str, Any] | None:
    """What the run may reuse in one flow: the run's own, or a sub-flow's (by its step's key;
    ``Run.reuse["flows"]``)."""
    settings = txn.run.reuse
    if not settings or flow is None:
        return settings or None
    found = (settings.get("flows") or {}).get(flow.key)
    return found or None


def plan_of(txn: RunTransaction, node_id: str, flow: Step | None = None) -> ReusePlan | None:
    """The reuse plan for a ready node of a flow, with the source run's recorded step of that
    node (if any)."""
    settings = _settings(txn, flow)
    if settings is None:
        return None
    source = txn.run.source_run_id
    key = node_id if flow is None else f"{flow.key}/{node_id}"
    recorded = recorded_step(source, key) if source is not None else None
    return ReusePlan(
        source_run=str(source) if source is not None else None,
        recorded={node_id: recorded} if recorded is not None else {},
        forced=frozenset(settings.get("forced") or ()),
        edited=settings.get("edited") or {},
        pinned=settings.get("pinned") or {},
    )


def resume_point(txn: RunTransaction, node_id: str) -> ResumePoint | None:
    """Where the step of ``node_id`` picks up, in a re-run from one of its delegated tasks."""
    found = (txn.run.reuse or {}).get("resume", {}).get(node_id)
    return ResumePoint.from_dict(found) if found else None


def source_plan(txn: RunTransaction) -> ReusePlan:
    """The run's reuse plan without any recorded step: what links to the source run."""
    source = txn.run.source_run_id
    return ReusePlan(source_run=str(source) if source is not None else None)


def note_executed(txn: RunTransaction, node_id: str) -> None:
    _executed(txn, None).add(node_id)


def recorded_step(source_run_id: Any, key: str) -> Recorded | None:
    """The source run's step ``key`` (of its own flow, or of a sub-flow), with the settings its
    node had in the version that ran it."""
    row = (
        Step.objects.filter(run_id=source_run_id, key=key)
        .select_related("run__version", "in_flow")
        .first()
    )
    if row is None or (row.parent_id is not None and row.parent_id != row.in_flow_id):
        return None  # no such step, or a delegated task (those are a resume point's)
    if row.in_flow is not None:
        version = WorkflowVersion.objects.get(pk=row.in_flow.flow["version"])
    else:
        version = row.run.version
    planned = compiled(version).plan.nodes.get(row.node_id)
    if planned is None:
        return None
    return recorded_from(row, planned.fingerprint, with_tasks=True)


def below(step: Step) -> Any:
    """Every step under ``step``, at any depth: its delegated tasks (``<key>.<node>.<n>``) and the
    steps of a flow it runs (``<key>/<node>``), and theirs."""
    under = Q(key__startswith=f"{step.key}.") | Q(key__startswith=f"{step.key}/")
    return Step.objects.filter(under, run_id=step.run_id)


def recorded_from(step: Step, fingerprint: str, *, with_tasks: bool = False) -> Recorded:
    """``with_tasks``: count what the step's delegated tasks spent too (what reusing the step
    saves); they are rows of their own, read by key. A reused step stands for what it cost
    where it ran."""
    spent = {"cost": step.cost, "tokens_in": step.tokens_in, "tokens_out": step.tokens_out}
    link = step.reused_from or {}
    if step.status == "reused":
        # It ran in an earlier run; its link carries what it (and its tasks) cost there.
        spent = {name: link.get(name, 0) for name in spent}
    elif with_tasks:
        tasks = below(step)
        sums = tasks.aggregate(
            cost=Sum("cost"), tokens_in=Sum("tokens_in"), tokens_out=Sum("tokens_out")
        )
        spent = {name: value + (sums[name] or 0) for name, value in spent.items()}
    return Recorded(
        step=step.key,
        fingerprint=fingerprint,
        status=step.status,
        input=step.input,
        output=step.output,
        branch=step.branch,
        cost=round(spent["cost"], 10),
        tokens_in=int(spent["tokens_in"]),
        tokens_out=int(spent["tokens_out"]),
    )


def _executed(txn: RunTransaction, flow: Step | None = None) -> set[str]:
    """Nodes of one flow this run has executed (queued, run or finished), not reused or skipped.

    Read once per transaction and kept current by :func:`decision`."""
    flow_id = flow.pk if flow is not None else None
    known = txn.executed.get(flow_id)
    if known is None:
        txn.flush()
        known = txn.executed[flow_id] = set(
            Step.objects.filter(run=txn.run, parent_id=flow_id)
            .exclude(status__in=("reused", "skipped"))
            .values_list("node_id", flat=True)
        )
    return known


def decision(
    txn: RunTransaction, node_id: str, step_input: Any, live: list[str], flow: Step | None = None
) -> tuple[ReusePlan, Reused] | None:
    """Whether the ready node ``node_id`` of a flow reuses a step; None: it executes (and is
    noted so)."""
    reuse = plan_of(txn, node_id, flow)
    if reuse is None:
        return None
    executed = _executed(txn, flow)
    version = txn.version_for(flow.pk if flow is not None else None)
    planned = version.plan.nodes[node_id]
    dependencies = [*live, *version.reads.get(node_id, ())]
    decided = decide(reuse, node_id, planned.fingerprint, step_input, dependencies, executed)
    if decided is None:
        executed.add(node_id)
        return None
    return reuse, decided


def apply(txn: RunTransaction, step: Step, decided: tuple[ReusePlan, Reused]) -> None:
    """Make ``step`` (new, status ``reused``) take the decided output, and count it."""
    reuse, choice = decided
    fingerprint = txn.version_for(step.in_flow_id).plan.nodes[step.node_id].fingerprint
    data = reused_event(reuse, choice, step.input, fingerprint)
    step.output = choice.output
    step.branch = choice.branch
    step.reused_from = reuse.link(choice)
    step.started_at = step.finished_at = timezone.now()
    run = txn.run
    run.reused_steps += 1
    run.reused_cost = round(run.reused_cost + data["saved_cost"], 10)
    txn.touch("reused_steps", "reused_cost")
    txn.emit("step.reused", step, data)
