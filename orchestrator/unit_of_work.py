"""The unit of work of the run side: one transaction that locks one run's row.

The lock serialises everything that changes one run: event numbers come out gap-free, and two
branches finishing at once cannot both miss that their join is now ready. Events are written in
the same transaction and broadcast after commit; steps to execute are sent after commit
(:mod:`orchestrator.dispatch`).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.utils import timezone

from editor.models import WorkflowVersion
from orchestrator.dispatch import send_new
from orchestrator.models import Event, Run, Step
from orchestrator.plans import CompiledVersion, compiled
from orchestrator.publisher import publish_events

# Step life: pending → queued → running → (waiting) → succeeded | failed | skipped | cancelled.
ACTIVE_STEP = ("queued", "running")
OPEN_STEP = ("pending", "queued", "running", "waiting")
FINISHED_RUN = ("succeeded", "failed", "cancelled")


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
        # Outcomes read once stay true; advance_after keeps the copy current. By flow: the
        # run's (None) or a sub-flow's (its subflow step's id).
        self.outcomes: dict[Any, dict[str, str]] = {}
        self.created: dict[int, Step] = {}  # id(step) -> step made queued here: ours to claim
        self.unsaved: list[Step] = []
        # Steps of each flow finished here, by node id (by flow, as outcomes).
        self.finished: dict[Any, dict[str, Step]] = {}
        self._flows: dict[Any, tuple[Step, CompiledVersion]] = {}  # sub-flows met here
        # By flow, as outcomes; see orchestrator.reuse: read once when needed.
        self.executed: dict[Any, set[str]] = {}
        self._new = new  # a run made by this transaction: inserted at the end, nothing to lock
        # The steps queued here continue work under way (a dead worker's): they go first.
        self.resumed = False
        # A new run's transaction takes no savepoint inside a caller's: it refuses nothing, and
        # a failed write rolls the caller's transaction back with it.
        self._atomic = transaction.atomic(savepoint=new is None)
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
            # of=("self",): a bare FOR UPDATE also locks the joined version row, which would make
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
            self._atomic.__exit__(*sys.exc_info())
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
            resumed = self.resumed
            transaction.on_commit(lambda: send_new(self.run.pk, queued, resumed=resumed))

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

    def version_for(self, flow_id: Any) -> CompiledVersion:
        """The compiled version a flow's steps belong to: the run's (``flow_id`` None) or the
        one the subflow step ``flow_id`` runs."""
        if flow_id is None:
            return self.version
        return self._flow(flow_id)[1]

    def flow_step(self, flow_id: Any) -> Step | None:
        """The subflow step running the flow ``flow_id`` (None: the run's own flow)."""
        return None if flow_id is None else self._flow(flow_id)[0]

    def _flow(self, flow_id: Any) -> tuple[Step, CompiledVersion]:
        found = self._flows.get(flow_id)
        if found is None:
            step = Step.objects.get(pk=flow_id)
            version = WorkflowVersion.objects.get(pk=step.flow["version"])
            found = self._flows[flow_id] = (step, compiled(version))
        return found

    def note_flow(self, step: Step, version: CompiledVersion) -> None:
        self._flows[step.pk] = (step, version)

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
        pure = self.version_for(step.in_flow_id).plan.nodes[step.node_id].type.pure
        # Only a step made here is claimed in this transaction (claim_in); one that was waiting
        # already (a map's next item) goes out as a message, else nobody would run it.
        if self.inline_pure and pure and countdown == 0 and id(step) in self.created:
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
