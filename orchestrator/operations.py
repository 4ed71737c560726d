"""Business operations of the run side. Each is one transaction that locks its run's row.

The lock serialises everything that changes one run: event numbers come out gap-free, and two
branches finishing at once cannot both miss that their join is now ready. Events are written in
the same transaction and broadcast after commit; steps to execute are enqueued after commit.

Step life: pending → queued → running → (waiting) → succeeded | failed | skipped | cancelled.
A worker *claims* a queued step with a conditional update that hands it a fresh claim token and
a lease; every later transition of that step names the token, so a worker that lost its lease
(or a redelivered Celery message) changes nothing.
"""

from __future__ import annotations

import sys
import uuid
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import F, Q
from django.utils import timezone

from orchestrator.models import Approval, Event, Run, Step
from orchestrator.plans import CompiledVersion, compiled
from orchestrator.publisher import publish_events
from runtime.errors import PermanentError, StepError
from runtime.nodes.base import DelegateTask
from runtime.nodes.io import prepare_input
from runtime.scheduling import SKIPPED, advance, is_complete, run_output
from runtime.usage import Usage

ACTIVE_STEP = ("queued", "running")
CLAIM_FIELDS = ["status", "claim", "worker", "lease_expires_at", "attempt", "started_at"]
OPEN_STEP = ("pending", "queued", "running", "waiting")
FINISHED_RUN = ("succeeded", "failed", "cancelled")


def lease_seconds() -> float:
    return float(getattr(settings, "STEP_LEASE_SECONDS", 15))


@dataclass
class Dispatch:
    """Steps made runnable by a transaction: enqueue ``queued`` after commit; run ``inline`` now.

    Steps, not ids: a step made in the transaction is inserted only when it ends (see
    :meth:`RunTransaction.flush`), so its id is known only after that."""

    # (step, countdown seconds, whether its node is pure)
    queued: list[tuple[Step, float, bool]] = field(default_factory=list)
    inline: list[Step] = field(default_factory=list)


class RunTransaction:
    """``with RunTransaction(run_id) as txn:`` — lock the run, emit events, dispatch steps.

    While the run is locked nobody else changes it, so much is kept in memory and written once
    at the end: top-level steps made here (``unsaved``, inserted by :meth:`flush` in one
    statement, already finished if they ran here: one INSERT instead of INSERT and UPDATE),
    the events, and the run's changed fields.
    """

    def __init__(self, run_id: Any, *, inline_pure: bool = False, new: Run | None = None) -> None:
        self.run_id = run_id
        self.inline_pure = inline_pure
        self.events: list[Event] = []
        self.dispatch = Dispatch()
        self.dirty: set[str] = set()  # Run fields changed, written once at the end
        # Outcomes read once stay true; _advance keeps the copy current.
        self.outcomes: dict[str, str] | None = None
        self.created: dict[int, Step] = {}  # id(step) -> step made queued here: ours to claim
        self.unsaved: list[Step] = []
        self.finished: dict[str, Step] = {}  # top-level steps finished here, by node id
        self._new = new  # a run made by this transaction: inserted at the end, nothing to lock
        self._atomic = transaction.atomic()
        self._version: CompiledVersion | None = None

    @classmethod
    def starting(cls, run: Run) -> RunTransaction:
        """A transaction for a run not in the database yet (nobody else can see it)."""
        return cls(run.pk, new=run)

    def __enter__(self) -> RunTransaction:
        self._atomic.__enter__()
        if self._new is not None:
            self.run = self._new
            return self
        try:
            # of=("self",): a bare FOR UPDATE also locks the joined version row, which made
            # every transaction of every run of one version wait for each other.
            # The graph is read only when the plan is not compiled in this process yet (see
            # plans.compiled): not decoded from JSON again on every transaction.
            self.run = (
                Run.objects.select_for_update(of=("self",))
                .select_related("version")
                .defer("version__graph", "version__issues")
                .get(pk=self.run_id)
            )
        except BaseException:
            self._atomic.__exit__(*_exc_info())
            raise
        return self

    def __exit__(self, exc_type: Any, exc: Any, tb: Any) -> bool | None:
        if exc_type is None:
            try:
                self._write()
            except BaseException:
                # A failed write (say a broken unique constraint) must still roll back.
                self._atomic.__exit__(*sys.exc_info())
                raise
        return self._atomic.__exit__(exc_type, exc, tb)

    def _write(self) -> None:
        inserted = self._insert_new_run()  # with every field as it is now
        self.flush()
        if self.events:
            insert_rows(self.events)
            self.dirty.add("last_seq")
        if self.dirty and not inserted:
            Run.objects.filter(pk=self.run.pk).update(
                **{name: getattr(self.run, name) for name in self.dirty}
            )
        if self.events:
            messages = [event.to_message() for event in self.events]
            run_id = self.run.pk
            transaction.on_commit(lambda: publish_events(run_id, messages))
        if self.dispatch.queued:
            queued = [(step.pk, countdown, pure) for step, countdown, pure in self.dispatch.queued]
            transaction.on_commit(lambda: _enqueue(run_id=self.run.pk, queued=queued))

    def flush(self) -> None:
        """Insert the steps made here, as they are now, in one statement. Called before any
        query that must see them, and at the end."""
        if not self.unsaved:
            return
        steps, self.unsaved = self.unsaved, []
        self._insert_new_run()  # their run first
        insert_rows(steps)

    def _insert_new_run(self) -> bool:
        """Insert the run this transaction made, if not done yet; True if done now."""
        if self._new is None:
            return False
        self._new.save(force_insert=True)
        self._new = None
        return True

    def save_step(self, step: Step, fields: list[str] | None = None) -> None:
        """Write a step's changes, unless it is still unsaved (then its INSERT carries them)."""
        if step.pk is not None:
            step.save(update_fields=fields)

    @property
    def version(self) -> CompiledVersion:
        if self._version is None:
            self._version = compiled(self.run.version)
        return self._version

    def touch(self, *fields: str) -> None:
        self.dirty.update(fields)

    def emit(
        self, type_: str, step: Step | None = None, data: dict[str, Any] | None = None
    ) -> Event:
        self.run.last_seq += 1
        event = Event(
            run=self.run,
            seq=self.run.last_seq,
            type=type_,
            step_key=step.key if step else None,
            node_id=step.node_id if step else None,
            status=step.status if step else self.run.status,
            data=data or {},
            ts=timezone.now(),
        )
        self.events.append(event)
        return event

    def queue(self, step: Step, countdown: float = 0.0) -> None:
        pure = self.version.plan.nodes[step.node_id].type.pure
        if self.inline_pure and pure and countdown == 0:
            self.dispatch.inline.append(step)
        else:
            self.dispatch.queued.append((step, countdown, pure))

    @property
    def active(self) -> bool:
        """Whether this transaction queued a step (so the run certainly has one active)."""
        return bool(self.dispatch.queued or self.dispatch.inline)


# Rows per INSERT: far below PostgreSQL's 65,535 and SQLite's 32,766 parameters for Step's 28
# columns.
INSERT_CHUNK = 500


def insert_rows(objs: list[Any]) -> None:
    """Insert new model objects of one model, ``INSERT … VALUES (…), (…) RETURNING id`` through
    the connection's cursor, and give them their ids.

    What bulk_create does, without building an ORM query (and PostgreSQL's UNNEST arrays) each
    time: for 12 events 0.4 ms of CPU instead of 0.85, and about 8 % of a worker's CPU per
    5-step task. Values are prepared by the fields themselves, as bulk_create does, so both
    backends get what they store (UUIDs as hex on SQLite, JSON adapted, auto_now_add set).
    Without RETURNING (SQLite before 3.35) the objects are saved one by one.
    """
    if not objs:
        return
    # The wrapper itself: every attribute of django.db.connection is a thread-local lookup, and
    # the fields ask for it hundreds of times per transaction.
    db = connections[DEFAULT_DB_ALIAS]
    if not db.features.can_return_rows_from_bulk_insert:
        for obj in objs:
            obj.save(force_insert=True)
        return
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not f.db_returning]
    quote = db.ops.quote_name
    head = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = f" RETURNING {quote(meta.pk.column)}"
    for start in range(0, len(objs), INSERT_CHUNK):
        chunk = objs[start : start + INSERT_CHUNK]
        params = [
            field.get_db_prep_save(field.pre_save(obj, True), db)
            for obj in chunk
            for field in fields
        ]
        with db.cursor() as cursor:
            cursor.execute(head + ", ".join([row] * len(chunk)) + tail, params)
            ids = cursor.fetchall()
        for obj, (pk,) in zip(chunk, ids, strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = db.alias


def _exc_info() -> tuple[Any, Any, Any]:
    return sys.exc_info()


def _enqueue(run_id: Any, queued: list[tuple[int, float, bool]]) -> None:
    """Send the steps' tasks. The run id and whether the node is pure travel with the step id,
    so the task starts without a query to look them up."""
    from orchestrator.tasks import execute_step

    for step_id, countdown, pure in queued:
        execute_step.apply_async(
            (step_id,),
            {"run_id": str(run_id), "pure": pure},
            countdown=countdown if countdown > 0 else None,
        )


def _resend(step_ids: list[int]) -> None:
    """Send tasks for steps by id alone (the task looks up their run)."""
    from orchestrator.tasks import execute_step

    for step_id in step_ids:
        execute_step.apply_async((step_id,))


# ---------------------------------------------------------------------------------------------
# Starting and cancelling


def start_run(
    workflow: Any, run_input: Any, user: Any, budget: dict[str, Any] | None = None
) -> Run:
    """Start a run of the workflow's current version. Raises GraphValidationError if invalid."""
    version = workflow.current_version
    if version is None:
        raise PermanentError("the workflow has no saved version to run")
    plan = compiled(version).plan  # refuses an invalid graph before anything is written
    run_input = prepare_input(plan, run_input)
    run = Run(
        workspace=workflow.workspace,
        workflow=workflow,
        version=version,
        status="running",
        input=run_input,
        budget=budget or None,
        created_by=user if getattr(user, "is_authenticated", False) else None,
        started_at=timezone.now(),
    )
    # The run, its first steps and events are inserted at the end, one statement each; the
    # object returned is the one written (last_seq included).
    with RunTransaction.starting(run) as txn:
        txn.emit("run.started", data={"input": run_input, "version": version.number})
        for node_id in plan.roots:
            step = _new_step(txn, node_id, None)
            txn.queue(step)
    return run


def cancel_run(run_id: Any) -> bool:
    """Cancel a run; False if it had already finished. A running step is told through its lease."""
    with RunTransaction(run_id) as txn:
        if txn.run.status in FINISHED_RUN:
            return False
        _close_run(txn, "cancelled")
        txn.emit("run.cancelled", data={})
    return True


# ---------------------------------------------------------------------------------------------
# A worker's view of a step


@dataclass
class Claimed:
    step: Step
    claim: uuid.UUID
    run: Run
    version: CompiledVersion


def run_of(step_id: int) -> Any:
    """The run id of a step (None if there is no such step)."""
    return Step.objects.filter(pk=step_id).values_list("run_id", flat=True).first()


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
    return Claimed(step=step, claim=step.claim, run=txn.run, version=txn.version)


def renew_lease(step_id: int, claim: uuid.UUID) -> bool:
    """Extend a running step's lease. False: the step is no longer ours (cancelled, re-queued)."""
    until = timezone.now() + timedelta(seconds=lease_seconds())
    return bool(
        Step.objects.filter(pk=step_id, status="running", claim=claim).update(
            lease_expires_at=until
        )
    )


def _held(step_id: int, claim: uuid.UUID) -> Q:
    return Q(pk=step_id, status="running", claim=claim)


def _spend(txn: RunTransaction, step: Step, usage: Usage) -> dict[str, Any]:
    """Add a finished attempt's usage to the step and the run (and return the step's figures)."""
    if usage.calls == 0 and not usage.tokens_in and not usage.tokens_out:
        return {
            "model": step.model,
            "tokens_in": step.tokens_in,
            "tokens_out": step.tokens_out,
            "cost": step.cost,
        }
    step.tokens_in += usage.tokens_in
    step.tokens_out += usage.tokens_out
    step.cost = round(step.cost + usage.cost, 10)
    step.model = usage.model or step.model
    step.by_model = _merge_by_model(step.by_model, usage.by_model)
    run = txn.run
    run.tokens_in += usage.tokens_in
    run.tokens_out += usage.tokens_out
    run.cost = round(run.cost + usage.cost, 10)
    run.by_model = _merge_by_model(run.by_model, usage.by_model)
    txn.touch("tokens_in", "tokens_out", "cost", "by_model")
    return {
        "model": step.model,
        "tokens_in": step.tokens_in,
        "tokens_out": step.tokens_out,
        "cost": step.cost,
    }


def _merge_by_model(into: dict[str, Any], more: dict[str, dict[str, float]]) -> dict[str, Any]:
    merged = {model: dict(figures) for model, figures in (into or {}).items()}
    for model, figures in more.items():
        target = merged.setdefault(model, {"tokens_in": 0, "tokens_out": 0, "cost": 0.0})
        target["tokens_in"] += figures["tokens_in"]
        target["tokens_out"] += figures["tokens_out"]
        target["cost"] = round(target["cost"] + figures["cost"], 10)
    return merged


def _locked_step(step_id: int, claim: uuid.UUID) -> Step | None:
    return Step.objects.select_for_update().filter(_held(step_id, claim)).first()


def complete_step(
    step_id: int, claim: uuid.UUID, output: Any, branch: str, usage: Usage
) -> Dispatch:
    run_id = run_of(step_id)
    with RunTransaction(run_id, inline_pure=True) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return Dispatch()
        complete_in(txn, step, output, branch, usage)
        return txn.dispatch


def complete_in(txn: RunTransaction, step: Step, output: Any, branch: str, usage: Usage) -> None:
    """Record a step's success inside an open run transaction, and advance the run."""
    figures = _spend(txn, step, usage)
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
        },
    )
    if step.parent_id is not None:
        _child_finished(txn, step)
    else:
        _advance(txn, step)
    _settle_status(txn)


def fail_step(
    step_id: int, claim: uuid.UUID, error: StepError, usage: Usage, retry_in: float | None
) -> Dispatch:
    """Record a failed attempt: retry after ``retry_in`` seconds, or fail the step for good."""
    run_id = run_of(step_id)
    with RunTransaction(run_id, inline_pure=True) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return Dispatch()
        fail_in(txn, step, error, usage, retry_in)
        return txn.dispatch


def fail_in(
    txn: RunTransaction, step: Step, error: StepError, usage: Usage, retry_in: float | None
) -> None:
    _spend(txn, step, usage)
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
    plan = txn.version.plan
    # Crossing the run's budget stops the run: an error edge must not route around it.
    handled = (
        step.parent_id is None
        and plan.handles_errors(step.node_id)
        and step.error.get("code") != "budget_exceeded"
    )
    if handled:
        step.branch = "error"
        step.output = step.error
    txn.save_step(step)
    txn.emit(
        "step.failed",
        step,
        {"error": step.error, "attempt": step.attempt, "handled": handled},
    )
    if step.parent_id is not None:
        _child_finished(txn, step)
    elif handled:
        _advance(txn, step)
    else:
        _fail_run(txn, step)
    _settle_status(txn)


def suspend_step(step_id: int, claim: uuid.UUID, request: dict[str, Any], usage: Usage) -> None:
    """The node waits for a person; no worker is held while it waits."""
    run_id = run_of(step_id)
    with RunTransaction(run_id) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return
        _spend(txn, step, usage)
        step.status = "waiting"
        step.request = request
        step.claim = None
        step.lease_expires_at = None
        if isinstance(request, dict) and request.get("kind") == "approval":
            from orchestrator.approvals import open_in  # approvals builds on this module

            # The Approval is opened in this same transaction; its id goes into the request so
            # the run view can link to it.
            step.request = {**request, "approval": str(open_in(txn, step, request).pk)}
        step.save()
        txn.emit("step.waiting", step, {"request": step.request})
        _settle_status(txn)


def resume_step(step_id: int, answer: Any) -> bool:
    """Continue a waiting step with a person's answer. False if it was not waiting."""
    run_id = run_of(step_id)
    with RunTransaction(run_id) as txn:
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
    _settle_status(txn)
    return True


def delegate_step(
    step_id: int, claim: uuid.UUID, tasks: list[DelegateTask], state: Any, usage: Usage
) -> Dispatch:
    """Hand tasks to the nodes wired by delegate edges; the step waits for their results.

    The caller has checked every task's target against the plan's delegate edges.
    """
    run_id = run_of(step_id)
    with RunTransaction(run_id, inline_pure=True) as txn:
        step = _locked_step(step_id, claim)
        if step is None or txn.run.status in FINISHED_RUN:
            return Dispatch()
        # The caller checked the targets against the plan's delegate edges.
        _spend(txn, step, usage)
        step.status = "waiting"
        step.state = state
        step.request = None
        step.claim = None
        step.lease_expires_at = None
        step.save()
        count = step.children.count()
        children = []
        for offset, task in enumerate(tasks, start=1):
            child = _new_step(txn, task.node_id, task.input, parent=step, number=count + offset)
            children.append(child)
        txn.emit(
            "step.delegated",
            step,
            {"round": step.round, "tasks": [{"step": c.key, "node": c.node_id} for c in children]},
        )
        for child in children:
            txn.queue(child)
        _settle_status(txn)
        return txn.dispatch


# ---------------------------------------------------------------------------------------------
# Inside a run transaction


def _parent_key(step: Step) -> str | None:
    if step.parent_id is None:
        return None
    return Step.objects.values_list("key", flat=True).get(pk=step.parent_id)


def _new_step(
    txn: RunTransaction,
    node_id: str,
    step_input: Any,
    *,
    parent: Step | None = None,
    number: int = 0,
    status: str = "queued",
) -> Step:
    node = txn.version.plan.nodes[node_id].node
    key = node_id if parent is None else f"{parent.key}.{node_id}.{number}"
    step = Step(
        run=txn.run,
        key=key,
        node_id=node_id,
        node_type=node.type,
        parent=parent,
        status=status,
        input=step_input,
        round=parent.round if parent is not None else 0,
        finished_at=timezone.now() if status == "skipped" else None,
    )
    if parent is None:
        # Inserted when the transaction ends or needs it read (see RunTransaction.flush). A
        # delegated task is written now: its siblings and parent are read back from the table.
        txn.unsaved.append(step)
    else:
        step.save(force_insert=True)
    if status == "queued":
        txn.emit("step.queued", step, {"parent": parent.key if parent else None})
        txn.created[id(step)] = step
    return step


def _outcomes(txn: RunTransaction) -> dict[str, str]:
    """Outcomes (branch or SKIPPED) of the run's finished top-level steps; outputs stay behind.

    Read once per transaction; :func:`_advance` keeps the copy current."""
    if txn.outcomes is not None:
        return txn.outcomes
    txn.flush()
    outcomes: dict[str, str] = {}
    rows = Step.objects.filter(
        run=txn.run, parent__isnull=True, status__in=("succeeded", "failed", "skipped")
    ).values_list("node_id", "status", "branch")
    for node_id, status, branch in rows:
        if status == "skipped":
            outcomes[node_id] = SKIPPED
        elif branch:  # a failed step has a branch only when its error edge handles it
            outcomes[node_id] = branch
    txn.outcomes = outcomes
    return outcomes


def _outputs(txn: RunTransaction, node_ids: set[str], finished: Step) -> dict[str, Any]:
    """Outputs of some finished top-level steps (those finished in this transaction are in
    hand; some of them are not even inserted yet)."""
    outputs: dict[str, Any] = {
        node_id: step.output
        for node_id, step in txn.finished.items()
        if node_id in node_ids and step.branch
    }
    if finished.node_id in node_ids and finished.parent_id is None:
        outputs[finished.node_id] = finished.output
    wanted = node_ids - outputs.keys()
    if wanted:
        rows = Step.objects.filter(
            run=txn.run, parent__isnull=True, node_id__in=wanted, branch__isnull=False
        ).values_list("node_id", "output")
        outputs.update(rows)
    return outputs


def _advance(txn: RunTransaction, finished: Step) -> None:
    plan = txn.version.plan
    outcomes = _outcomes(txn)
    txn.finished[finished.node_id] = finished
    outcomes[finished.node_id] = finished.branch or "out"  # when read before it finished
    progress = advance(plan, outcomes, finished.node_id)
    # Each node becomes ready or skipped exactly once: when the last of its incoming edges is
    # decided, which happens in exactly one (conditional, run-locked) completion. The unique
    # (run, key) constraint backs that up.
    for node_id in progress.skipped:
        outcomes[node_id] = SKIPPED
        step = _new_step(txn, node_id, None, status="skipped")
        txn.emit("step.skipped", step, {})
    live_sources = {
        node_id: list(
            dict.fromkeys(
                edge.source
                for edge in plan.incoming[node_id]
                if outcomes.get(edge.source) == edge.branch
            )
        )
        for node_id in progress.ready
    }
    complete = is_complete(plan, outcomes)
    needed = {source for sources in live_sources.values() for source in sources}
    if complete:
        needed |= set(plan.output_nodes)
    outputs = _outputs(txn, needed, finished)
    for node_id, sources in live_sources.items():
        value = (
            outputs.get(sources[0])
            if len(sources) == 1
            else {source: outputs.get(source) for source in sources}
        )
        txn.queue(_new_step(txn, node_id, value))
    if complete:
        _succeed_run(txn, run_output(plan, outputs, outcomes))


def _child_finished(txn: RunTransaction, child: Step) -> None:
    """When the last task of a delegation round is done, the delegating step resumes."""
    txn.flush()
    parent = Step.objects.select_for_update().get(pk=child.parent_id)
    if parent.status != "waiting":
        return
    siblings = list(parent.children.filter(round=parent.round).order_by("id"))
    if any(s.status not in ("succeeded", "failed", "cancelled") for s in siblings):
        return
    parent.resume = {
        "tasks": [
            {
                "node_id": s.node_id,
                "step_id": s.key,
                "status": s.status,
                "output": s.output,
                "error": s.error,
            }
            for s in siblings
        ]
    }
    parent.round += 1
    parent.attempt = 0  # attempts count within a round: resuming is not a retry
    parent.status = "queued"
    parent.due_at = timezone.now()  # else the sweeper takes it for a lost message at once
    parent.save()
    txn.emit("step.resumed", parent, {"round": parent.round})
    txn.queue(parent)


def _succeed_run(txn: RunTransaction, output: Any) -> None:
    run = txn.run
    run.status = "succeeded"
    run.output = output
    run.finished_at = timezone.now()
    txn.touch("status", "output", "finished_at")
    txn.emit("run.succeeded", data={"output": output, "totals": _totals(run)})


def _fail_run(txn: RunTransaction, step: Step) -> None:
    error = {
        "message": f"step {step.key!r} failed: {(step.error or {}).get('message', '')}",
        "step": step.key,
        "node": step.node_id,
        **{k: v for k, v in (step.error or {}).items() if k != "message"},
    }
    txn.run.error = error
    txn.touch("error")
    _close_run(txn, "failed")
    txn.emit("run.failed", data={"error": error})


def _close_run(txn: RunTransaction, status: str) -> None:
    """End the run: every step not finished is cancelled (a running one loses its lease)."""
    run = txn.run
    run.status = status
    run.finished_at = timezone.now()
    txn.touch("status", "finished_at")
    txn.flush()  # the steps made here are cancelled too
    # Nobody can decide for a run that is over.
    if Approval.objects.filter(run=run, status="pending").exists():
        from orchestrator.approvals import expire_run_in

        expire_run_in(txn)
    for step in Step.objects.filter(run=run, status__in=OPEN_STEP).order_by("id"):
        step.status = "cancelled"
        step.claim = None
        step.lease_expires_at = None
        step.finished_at = run.finished_at
        step.save(update_fields=["status", "claim", "lease_expires_at", "finished_at"])
        txn.emit("step.cancelled", step, {})


def _settle_status(txn: RunTransaction) -> None:
    """A run with nothing queued or running but a step waiting for a person is ``waiting``."""
    run = txn.run
    if run.status in FINISHED_RUN or (txn.active and run.status == "running"):
        return
    active = any(step.status in ACTIVE_STEP for step in txn.unsaved) or (
        Step.objects.filter(run=run, status__in=ACTIVE_STEP).exists()
    )
    waiting_for_person = (
        not active
        and Step.objects.filter(run=run, status="waiting", request__isnull=False).exists()
    )
    status = "waiting" if waiting_for_person else "running"
    if status != run.status:
        run.status = status
        txn.touch("status")
        if status == "waiting":
            txn.emit("run.waiting", data={})


def _totals(run: Run) -> dict[str, Any]:
    return {
        "tokens_in": run.tokens_in,
        "tokens_out": run.tokens_out,
        "cost": run.cost,
        "by_model": run.by_model,
    }


# ---------------------------------------------------------------------------------------------
# The sweeper


def requeue_lost_steps(stale_after: float = 60.0) -> list[int]:
    """Re-queue running steps whose lease ran out (their worker died) and re-send queued
    steps whose message was lost; returns the step ids dispatched."""
    now = timezone.now()
    lost = list(
        Step.objects.filter(status="running", lease_expires_at__lt=now).values_list("pk", "run_id")
    )
    dispatched: list[int] = []
    for step_id, run_id in lost:
        with RunTransaction(run_id) as txn:
            changed = Step.objects.filter(
                pk=step_id, status="running", lease_expires_at__lt=now
            ).update(status="queued", claim=None, lease_expires_at=None)
            if not changed or txn.run.status in FINISHED_RUN:
                continue
            step = Step.objects.get(pk=step_id)
            txn.emit("step.queued", step, {"reason": "worker lost", "attempt": step.attempt})
            txn.queue(step)
            dispatched.append(step_id)
    stale = (
        Step.objects.filter(
            status="queued",
            due_at__lt=now - timedelta(seconds=stale_after),
            run__status__in=("running", "waiting"),
        )
        .exclude(pk__in=dispatched)
        .values_list("pk", flat=True)[:500]
    )
    resend = list(stale)
    if resend:
        _resend(resend)  # a duplicate message is harmless: only one claim can succeed
    return dispatched + resend
