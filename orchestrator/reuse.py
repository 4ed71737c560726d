"""Reuse inside a run transaction: whether a ready node of a run made from an earlier one takes a
recorded (or edited, or pinned) step instead of executing, and writing that step.

The rule itself is :func:`runtime.reuse.decide`, the one the in-process executor asks too; this
module only reads what it needs from the rows: the run's reuse settings, the source run's step of
that node, and which nodes the new run has executed so far.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Sum
from django.utils import timezone

from orchestrator.models import Step
from orchestrator.plans import compiled
from orchestrator.unit_of_work import RunTransaction
from runtime.reuse import Recorded, ResumePoint, Reused, ReusePlan, decide, reused_event


def plan_of(txn: RunTransaction, node_id: str) -> ReusePlan | None:
    """The run's reuse plan, with the source run's recorded step of ``node_id`` (if any)."""
    settings = txn.run.reuse
    if not settings:
        return None
    source = txn.run.source_run_id
    recorded = recorded_step(source, node_id) if source is not None else None
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
    _executed(txn).add(node_id)


def recorded_step(source_run_id: Any, node_id: str) -> Recorded | None:
    """The source run's top-level step of ``node_id``, with the settings its node had then."""
    row = (
        Step.objects.filter(run_id=source_run_id, key=node_id, parent__isnull=True)
        .select_related("run__version")
        .first()
    )
    if row is None:
        return None
    planned = compiled(row.run.version).plan.nodes.get(node_id)
    if planned is None:
        return None
    return recorded_from(row, planned.fingerprint, with_tasks=True)


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
        tasks = Step.objects.filter(run_id=step.run_id, key__startswith=f"{step.key}.")
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


def _executed(txn: RunTransaction) -> set[str]:
    """Top-level nodes this run has executed (queued, run or finished), not reused or skipped.

    Read once per transaction and kept current by :func:`decision`."""
    if txn.executed is None:
        txn.flush()
        txn.executed = set(
            Step.objects.filter(run=txn.run, parent__isnull=True)
            .exclude(status__in=("reused", "skipped"))
            .values_list("node_id", flat=True)
        )
    return txn.executed


def decision(
    txn: RunTransaction, node_id: str, step_input: Any, live: list[str]
) -> tuple[ReusePlan, Reused] | None:
    """Whether the ready node ``node_id`` reuses a step; None: it executes (and is noted so)."""
    reuse = plan_of(txn, node_id)
    if reuse is None:
        return None
    executed = _executed(txn)
    planned = txn.version.plan.nodes[node_id]
    dependencies = [*live, *txn.version.reads.get(node_id, ())]
    decided = decide(reuse, node_id, planned.fingerprint, step_input, dependencies, executed)
    if decided is None:
        executed.add(node_id)
        return None
    return reuse, decided


def apply(txn: RunTransaction, step: Step, decided: tuple[ReusePlan, Reused]) -> None:
    """Make ``step`` (new, status ``reused``) take the decided output, and count it."""
    reuse, choice = decided
    fingerprint = txn.version.plan.nodes[step.node_id].fingerprint
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
