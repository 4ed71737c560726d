"""The transitions of steps and runs, each one run transaction (:mod:`orchestrator.unit_of_work`).

Step life: pending → queued → running → (waiting) → succeeded | failed | skipped | cancelled.
A worker *claims* a queued step with a conditional update that hands it a fresh claim token and
a lease; every later transition of that step names the token, so a worker that lost its lease
(or a redelivered Celery message) changes nothing.

The ``*_step`` verbs open their own transaction; the ``*_in`` ones work inside an open one (a
worker runs a batch of pure steps in one transaction; an approval resumes its step in the
transaction that records the decision).
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone

from orchestrator import subflows, waits
from orchestrator.models import Run, Step
from orchestrator.plans import CompiledVersion, compiled
from orchestrator.progress import (
    advance_after,
    child_finished,
    close_run,
    fail_run,
    fan_out_of,
    flow_failed,
    new_tasks,
    settle_status,
    start_roots,
)
from orchestrator.spending import spend
from orchestrator.unit_of_work import FINISHED_RUN, Dispatch, RunTransaction
from runtime.errors import GraphValidationError, StepError
from runtime.failures import takes_error_edge
from runtime.nodes.base import Delegate, RunFlow
from runtime.nodes.subflow import invalid_flow
from runtime.usage import Usage

CLAIM_FIELDS = ["status", "claim", "worker", "lease_expires_at", "attempt", "started_at"]


def lease_seconds() -> float:
    return float(getattr(settings, "STEP_LEASE_SECONDS", 15))


def run_of(step_id: int) -> Any:
    """The run id of a step (None if there is no such step)."""
    return Step.objects.filter(pk=step_id).values_list("run_id", flat=True).first()


def _locked_step(step_id: int, claim: uuid.UUID) -> Step | None:
    """The step, locked, if it is still running under this claim."""
    return (
        Step.objects.select_for_update().filter(pk=step_id, status="running", claim=claim).first()
    )


# ---------------------------------------------------------------------------------------------
# The run


def cancel_run(run_id: Any) -> bool:
    """Cancel a run; False if it had already finished. A running step is told through its lease."""
    with RunTransaction(run_id) as txn:
        if txn.run.status in FINISHED_RUN:
            return False
        close_run(txn, "cancelled")
        txn.emit("run.cancelled", data={})
    return True


# ---------------------------------------------------------------------------------------------
# Claiming


@dataclass
class Claimed:
    step: Step
    claim: uuid.UUID
    run: Run
    version: CompiledVersion  # the step's flow's: the run's, or its sub-flow's
    flow: Step | None = None  # the subflow step whose flow the step is in (None: the run's)


def claim_step(step_id: int, worker: str, run_id: Any = None) -> Claimed | None:
    """Take a queued step (or one whose worker's lease ran out). None: someone else has it."""
    run_id = run_id or run_of(step_id)
    if run_id is None:
        return None
    try:
        with RunTransaction(run_id, inline_pure=True) as txn:
            return claim_in(txn, step_id, worker)
    except Run.DoesNotExist:  # deleted with its workflow since the task was sent
        return None


def claim_in(
    txn: RunTransaction, target: int | Step, worker: str, *, save: bool = True
) -> Claimed | None:
    """Claim a step (by id, or one made queued in this transaction) inside an open run
    transaction. ``save=False`` leaves the write to the completion in the same transaction (a
    pure step: one write instead of two)."""
    if txn.run.status in FINISHED_RUN:
        return None
    now = timezone.now()
    if isinstance(target, Step):
        step = txn.created.pop(id(target), None)  # made queued here: ours to take
    else:
        claimable = Q(status="queued") | Q(status="running", lease_expires_at__lt=now)
        step = (
            Step.objects.select_for_update().filter(claimable, pk=target, run_id=txn.run.pk).first()
        )
    if step is None:
        return None
    step.status = "running"
    step.claim = uuid.uuid4()
    step.worker = worker[:200]
    step.lease_expires_at = now + timedelta(seconds=lease_seconds())
    step.attempt += 1
    step.started_at = step.started_at or now
    if save:
        txn.save_step(step, CLAIM_FIELDS)
    if txn.run.status != "running":
        txn.run.status = "running"
        txn.touch("status")
    txn.emit(
        "step.started",
        step,
        {
            "attempt": step.attempt,
            "input": step.input,
            "parent": _parent_key(step),
            "round": step.round,
        },
    )
    version = txn.version_for(step.in_flow_id)
    flow = txn.flow_step(step.in_flow_id)
    return Claimed(step=step, claim=step.claim, run=txn.run, version=version, flow=flow)


def _parent_key(step: Step) -> str | None:
    if step.parent_id is None:
        return None
    return Step.objects.values_list("key", flat=True).get(pk=step.parent_id)


def renew_lease(step_id: int, claim: uuid.UUID) -> bool:
    """Extend a running step's lease. False: the step is no longer ours (cancelled, re-queued)."""
    until = timezone.now() + timedelta(seconds=lease_seconds())
    return bool(
        Step.objects.filter(pk=step_id, status="running", claim=claim).update(
            lease_expires_at=until
        )
    )


# ---------------------------------------------------------------------------------------------
# Ending an attempt


def complete_step(
    step_id: int, claim: uuid.UUID, output: Any, branch: str, usage: Usage
) -> Dispatch:
    with RunTransaction(run_of(step_id), inline_pure=True) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return Dispatch()
        complete_in(txn, step, output, branch, usage)
        return txn.dispatch


def complete_in(txn: RunTransaction, step: Step, output: Any, branch: str, usage: Usage) -> None:
    """Record a step's success inside an open run transaction, and advance the run."""
    figures = spend(txn, step, usage)
    step.status = "succeeded"
    step.output = output
    step.branch = branch
    step.finished_at = timezone.now()
    step.lease_expires_at = None
    txn.save_step(
        step,
        [
            # A pure step claimed with claim_in(save=False) is written only here: without the
            # claim fields it was stored with attempt 0, no worker and no started_at.
            *CLAIM_FIELDS,
            "output",
            "branch",
            "finished_at",
            "model",
            "tokens_in",
            "tokens_out",
            "cost",
            "by_model",
        ],
    )
    txn.emit(
        "step.succeeded",
        step,
        {
            "output": output,
            "branch": branch,
            "attempt": step.attempt,
            **figures,
            "duration_ms": step.duration_ms,
            # The node's settings as it ran: what an exported log is reused against.
            "fingerprint": txn.version_for(step.in_flow_id).plan.nodes[step.node_id].fingerprint,
        },
    )
    if is_delegated(step):
        child_finished(txn, step)
    else:
        advance_after(txn, step)
    settle_status(txn)


def fail_step(
    step_id: int, claim: uuid.UUID, error: StepError, usage: Usage, retry_in: float | None
) -> Dispatch:
    """Record a failed attempt: retry after ``retry_in`` seconds, or fail the step for good."""
    with RunTransaction(run_of(step_id), inline_pure=True) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return Dispatch()
        fail_in(txn, step, error, usage, retry_in)
        return txn.dispatch


def fail_in(
    txn: RunTransaction, step: Step, error: StepError, usage: Usage, retry_in: float | None
) -> None:
    spend(txn, step, usage)
    step.error = error.to_dict()
    step.lease_expires_at = None
    if retry_in is not None:
        step.status = "queued"
        step.claim = None
        step.due_at = timezone.now() + timedelta(seconds=retry_in)
        txn.save_step(step)
        txn.emit(
            "step.retrying",
            step,
            {"attempt": step.attempt, "error": step.error, "delay": retry_in},
        )
        txn.queue(step, countdown=retry_in)
        return
    step.status = "failed"
    step.finished_at = timezone.now()
    delegated = is_delegated(step)
    plan = txn.version_for(step.in_flow_id).plan
    handled = takes_error_edge(plan, step.node_id, step.error, delegated=delegated)
    if handled:
        step.branch = "error"
        step.output = step.error
    txn.save_step(step)
    txn.emit(
        "step.failed",
        step,
        {"error": step.error, "attempt": step.attempt, "handled": handled},
    )
    if delegated:
        child_finished(txn, step)
    elif handled:
        advance_after(txn, step)
    elif step.in_flow_id is not None:
        flow_failed(txn, step)
    else:
        fail_run(txn, step)
    settle_status(txn)


def is_delegated(step: Step) -> bool:
    """A task some step delegated (its parent waits for it), not a step of a flow."""
    return step.parent_id is not None and step.parent_id != step.in_flow_id


# ---------------------------------------------------------------------------------------------
# Waiting: for a person, or for delegated tasks


def suspend_step(step_id: int, claim: uuid.UUID, request: dict[str, Any], usage: Usage) -> None:
    """The node waits for a person; no worker is held while it waits."""
    with RunTransaction(run_of(step_id)) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return
        spend(txn, step, usage)
        step.status = "waiting"
        step.claim = None
        step.lease_expires_at = None
        step.request = waits.suspended(txn, step, request)
        step.save()
        txn.emit("step.waiting", step, {"request": step.request})
        settle_status(txn)


def resume_step(step_id: int, answer: Any) -> bool:
    """Continue a waiting step with a person's answer. False if it was not waiting."""
    with RunTransaction(run_of(step_id)) as txn:
        return resume_in(txn, step_id, answer)


def resume_in(
    txn: RunTransaction, step_id: int, answer: Any, data: dict[str, Any] | None = None
) -> bool:
    """:func:`resume_step` inside an open run transaction; ``data`` is added to the
    ``step.resumed`` event. False if the step was not waiting or the run is over."""
    if txn.run.status in FINISHED_RUN:
        return False
    changed = Step.objects.filter(pk=step_id, status="waiting", request__isnull=False).update(
        status="queued",
        resume={"answer": answer},
        round=F("round") + 1,
        attempt=0,  # attempts count within a round: resuming is not a retry
        due_at=timezone.now(),
    )
    if not changed:
        return False
    step = Step.objects.get(pk=step_id)
    txn.emit("step.resumed", step, {"round": step.round, **(data or {})})
    txn.queue(step)
    settle_status(txn)
    return True


def start_flow(step_id: int, claim: uuid.UUID, request: RunFlow, usage: Usage) -> Dispatch:
    """A subflow step hands its flow to the run: it waits (holding no worker) while the flow's
    steps run as steps of the run, and resumes with how the flow ended."""
    with RunTransaction(run_of(step_id), inline_pure=True) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return Dispatch()
        spend(txn, step, usage)
        try:
            version = subflows.pinned_version(txn, request.ref)
        except (GraphValidationError, StepError) as exc:
            refused = (
                invalid_flow(request.name, exc) if isinstance(exc, GraphValidationError) else exc
            )
            fail_in(txn, step, refused, Usage(), None)
            return txn.dispatch
        step.status = "waiting"
        step.claim = None
        step.lease_expires_at = None
        step.request = None
        step.flow = {
            "workflow": request.ref,
            "name": request.name,
            "version": version.pk,
            "number": version.number,
            "input": request.input,
            "lineage": [list(link) for link in request.lineage],
        }
        step.save()
        txn.note_flow(step, compiled(version))
        txn.emit(
            "step.delegated",
            step,
            {"round": step.round, "tasks": [], "count": 0, "flow": _flow_event(step.flow)},
        )
        start_roots(txn, flow=step)
        settle_status(txn)
        return txn.dispatch


def _flow_event(flow: dict[str, Any]) -> dict[str, Any]:
    return {name: flow[name] for name in ("workflow", "name", "number")}


# Tasks named in a step.delegated event (a map's 10,000 items are counted, not all listed).
MAX_LISTED = 1_000


def delegate_step(step_id: int, claim: uuid.UUID, request: Delegate, usage: Usage) -> Dispatch:
    """Hand tasks to the nodes wired by delegate edges; the step waits for their results.

    The caller has checked the delegation (:func:`runtime.delegation.refusal`).
    """
    with RunTransaction(run_of(step_id), inline_pure=True) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return Dispatch()
        spend(txn, step, usage)
        step.status = "waiting"
        step.state = request.state
        step.request = None
        step.claim = None
        step.lease_expires_at = None
        step.fan_out = fan_out_of(request, base=step.children.count())
        step.save()
        children = new_tasks(txn, step, request.tasks)
        txn.emit(
            "step.delegated",
            step,
            {
                "round": step.round,
                "tasks": [{"step": c.key, "node": c.node_id} for c in children[:MAX_LISTED]],
                "count": len(children),
                # What the step will resume from: a re-run from one of these tasks starts here.
                "state": request.state,
            },
        )
        settle_status(txn)
        return txn.dispatch
