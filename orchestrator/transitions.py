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

import copy
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
from orchestrator.spending import spend, spend_on_run, spend_on_step
from orchestrator.unit_of_work import FINISHED_RUN, ClaimLost, Dispatch, RunTransaction
from runtime.errors import GraphValidationError, StepError
from runtime.failures import takes_error_edge
from runtime.nodes.base import Delegate, RunFlow
from runtime.nodes.subflow import invalid_flow
from runtime.usage import Usage

CLAIM_FIELDS = ["status", "claim", "worker", "lease_expires_at", "attempt", "started_at"]


def lease_seconds() -> float:
    return float(getattr(settings, "STEP_LEASE_SECONDS", 15))


def lane_seconds() -> float:
    return float(getattr(settings, "STEP_LANE_SECONDS", 1))


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
    claims = claim_batch(step_id, worker, run_id, 0)
    return claims[0] if claims else None


def steps_per_process() -> int:
    return max(1, int(getattr(settings, "STEP_TASKS_PER_PROCESS", 4)))


def claim_batch(step_id: int, worker: str, run_id: Any, more: int) -> list[Claimed]:
    """:func:`claim_step`, and up to ``more`` queued tasks of the same delegating step (a map's
    items, a manager's tasks), due now and not pure, for the worker's process to run beside it:
    their messages, when they come, find them taken. Empty: someone else has the step."""
    run_id = run_id or run_of(step_id)
    if run_id is None:
        return []
    try:
        with RunTransaction(run_id, inline_pure=True) as txn:
            first = claim_in(txn, step_id, worker)
            if first is None:
                return []
            claims = [first]
            if more > 0 and is_delegated(first.step):
                for sibling in _queued_siblings(txn, first.step, more):
                    claimed = claim_in(txn, sibling, worker)
                    if claimed is not None:
                        claims.append(claimed)
            return claims
    except Run.DoesNotExist:  # deleted with its workflow since the task was sent
        return []


def _queued_siblings(txn: RunTransaction, step: Step, most: int) -> list[int]:
    plan = txn.version_for(step.in_flow_id).plan
    rows = (
        Step.objects.filter(
            run_id=txn.run.pk,
            parent_id=step.parent_id,
            status="queued",
            due_at__lte=timezone.now(),
        )
        .exclude(pk=step.pk)
        .order_by("id")
        .values_list("pk", "node_id")[: most * 2]
    )
    return [pk for pk, node_id in rows if not plan.nodes[node_id].type.pure][:most]


def claim_in(
    txn: RunTransaction, target: int | Step, worker: str, *, save: bool = True
) -> Claimed | None:
    """Claim a step (by id, or one made queued in this transaction) inside an open run
    transaction. ``save=False`` leaves the write to the completion in the same transaction (a
    pure step: one write instead of two)."""
    if txn.run.status in FINISHED_RUN:
        return None
    now = timezone.now()
    of_the_table = False
    if isinstance(target, Step):
        step = txn.created.pop(id(target), None)  # made queued here: ours to take
        # A step of the table made queued here (a map's next item): its claim is written
        # instead, with the transaction's next writes (nothing reads it before them).
        of_the_table = txn.unwritten.pop(id(target), None) is not None
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
    if save and of_the_table:
        txn.unwritten[id(step)] = (step, CLAIM_FIELDS)
    elif save:
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
            "parent": _parent_key(txn, step),
            "round": step.round,
        },
    )
    version = txn.version_for(step.in_flow_id)
    flow = txn.flow_step(step.in_flow_id)
    return Claimed(step=step, claim=step.claim, run=txn.run, version=version, flow=flow)


def _parent_key(txn: RunTransaction, step: Step) -> str | None:
    if step.parent_id is None:
        return None
    parent = txn.parents.get(step.parent_id)  # the map step whose item just ended here
    if parent is not None:
        return parent.key
    return Step.objects.values_list("key", flat=True).get(pk=step.parent_id)


def follow_in(txn: RunTransaction) -> None:
    """Claim, for the worker ending steps in ``txn``, the steps this transaction made runnable
    for it to run next (see RunTransaction's ``lane``)."""
    if txn.lane is None:
        return
    for step in txn.dispatch.follow:
        claimed = claim_in(txn, step, txn.lane)
        if claimed is not None:
            txn.dispatch.claimed.append(claimed)


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


@dataclass
class Ended:
    """How one attempt ended: with an output, or with an error (retried after ``retry_in``
    seconds, or for good when None)."""

    step_id: int
    claim: uuid.UUID
    usage: Usage
    output: Any = None
    branch: str = "out"
    error: StepError | None = None
    retry_in: float | None = None
    # The worker's own copy of the step as it claimed it. While the claim holds, nothing but
    # its lease changes the row (which the end clears), so a success is written from this copy
    # by an update that names the claim, with the transaction's other writes: no read, and no
    # lock of the step before it (RunTransaction.save_claimed).
    step: Step | None = None


def record_ends(run_id: Any, ends: list[Ended], lane: str | None = None) -> Dispatch:
    """Record the ends of attempts a worker ran at once, in one run transaction; each names its
    claim, so an end recorded twice (after a lost connection) changes nothing the second time.
    ``lane``: the worker, when it may go on with the steps these ends make runnable (one per
    end at most), then claimed for it here (``Dispatch.claimed``)."""
    try:
        return _record_ends(run_id, ends, lane, from_copies=True)
    except ClaimLost:
        # A copy's claim was lost meanwhile and everything was undone: record the ends again
        # from the rows, each read and checked under its lock.
        return _record_ends(run_id, ends, lane, from_copies=False)


def _record_ends(run_id: Any, ends: list[Ended], lane: str | None, from_copies: bool) -> Dispatch:
    with RunTransaction(run_id, inline_pure=True, lane=lane, follow=len(ends)) as txn:
        to_read = [
            end.step_id
            for end in ends
            if not from_copies or end.step is None or end.error is not None
        ]
        locked: dict[int, Step] = {}
        if to_read:
            running = Step.objects.select_for_update().filter(pk__in=to_read, status="running")
            locked = {step.pk: step for step in running}
        for end in ends:
            if txn.run.status in FINISHED_RUN:
                break
            if from_copies and end.step is not None and end.error is None:
                # A copy: after a lost connection the end is recorded again from the same one.
                complete_in(txn, copy.copy(end.step), end.output, end.branch, end.usage, end.claim)
                continue
            step = locked.get(end.step_id)
            if step is None or step.claim != end.claim:
                continue  # no longer ours: cancelled, or re-queued after its lease ran out
            if end.error is None:
                complete_in(txn, step, end.output, end.branch, end.usage)
            else:
                fail_in(txn, step, end.error, end.usage, end.retry_in)
        follow_in(txn)
        return txn.dispatch


def complete_step(
    step_id: int, claim: uuid.UUID, output: Any, branch: str, usage: Usage
) -> Dispatch:
    """Record a step's success."""
    return record_ends(run_of(step_id), [Ended(step_id, claim, usage, output, branch)])


COMPLETED_FIELDS = [
    # A pure step claimed with claim_in(save=False) is written only here: without the claim
    # fields it was stored with attempt 0, no worker and no started_at.
    *CLAIM_FIELDS,
    "output",
    "branch",
    "finished_at",
    "model",
    "tokens_in",
    "tokens_out",
    "cost",
    "by_model",
]


def complete_in(
    txn: RunTransaction,
    step: Step,
    output: Any,
    branch: str,
    usage: Usage,
    claim: uuid.UUID | None = None,
) -> None:
    """Record a step's success inside an open run transaction, and advance the run. With
    ``claim``, ``step`` is the worker's copy, not read here: written on condition that it still
    runs under that claim (else the transaction is undone, see RunTransaction.save_claimed)."""
    figures = spend_on_step(step, usage)
    step.status = "succeeded"
    step.output = output
    step.branch = branch
    step.finished_at = timezone.now()
    step.lease_expires_at = None
    if claim is None:
        txn.save_step(step, COMPLETED_FIELDS)
    else:
        txn.save_claimed(step, COMPLETED_FIELDS, claim)
    spend_on_run(txn, usage)
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
    ended = Ended(step_id, claim, usage, error=error, retry_in=retry_in)
    return record_ends(run_of(step_id), [ended])


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
