"""The unit of work of the run side: one transaction that locks one run's row.

The lock serialises everything that changes one run: event numbers come out gap-free, and two
branches finishing at once cannot both miss that their join is now ready. Events are written in
the same transaction and broadcast after commit; steps to execute are sent after commit
(:mod:`orchestrator.dispatch`).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, transaction
from django.db.models import QuerySet
from django.utils import timezone
from psycopg import ClientCursor

from editor.models import WorkflowVersion
from orchestrator import tracing
from orchestrator.dispatch import send_new
from orchestrator.models import Event, Run, Step
from orchestrator.plans import CompiledVersion, compiled
from orchestrator.prepared_get import PreparedGet
from orchestrator.publisher import publish_events

# Step life: pending → queued → running → (waiting) → succeeded | failed | skipped | cancelled.
ACTIVE_STEP = ("queued", "running")
OPEN_STEP = ("pending", "queued", "running", "waiting")
FINISHED_RUN = ("succeeded", "failed", "cancelled")

# The events that end a run: its span (orchestrator.tracing) is exported once they commit.
RUN_ENDED = frozenset({"run.succeeded", "run.failed", "run.cancelled"})


class ClaimLost(Exception):
    """A step written from a worker's copy no longer runs under the worker's claim (it was
    cancelled, or re-queued after its lease ran out): the transaction that wrote it is undone
    (see :meth:`RunTransaction.save_claimed`)."""


@dataclass
class Dispatch:
    """Steps made runnable by a transaction: enqueue ``queued`` after commit; run ``inline`` now.

    Steps, not ids: a step made in the transaction is inserted only when it ends (see
    :meth:`RunTransaction.flush`), so its id is known only after that."""

    # (step, countdown seconds, whether its node is pure)
    queued: list[tuple[Step, float, bool]] = field(default_factory=list)
    inline: list[Step] = field(default_factory=list)
    # Tasks made runnable here that the worker ending this transaction runs next itself (see
    # RunTransaction's ``lane``), and their claims (transitions.Claimed) once taken in it.
    follow: list[Step] = field(default_factory=list)
    claimed: list[Any] = field(default_factory=list)


def _run_locked() -> QuerySet[Run]:
    # of=("self",): a bare FOR UPDATE also locks the joined version row, which would make
    # every transaction of every run of one version wait for each other.
    # The graph is read only when the plan is not compiled in this process yet (see
    # plans.compiled): not decoded from JSON again on every transaction. Nor are the run's
    # input and output, which a map's list can make megabytes: a transaction of each of its
    # items would decode them (the input is read once per process, see run_input; a deferred
    # field is still read if something asks for it).
    return (
        Run.objects.select_for_update(of=("self",))
        .select_related("version")
        .defer("input", "output", "version__graph", "version__issues")
    )


# Every run transaction's first statement: compiled once per connection (see prepared_get).
_LOCKED_RUN: PreparedGet[Run] = PreparedGet(_run_locked)


class RunTransaction:
    """``with RunTransaction(run_id) as txn:`` — lock the run, emit events, dispatch steps.

    While the run is locked nobody else changes it, so much is kept in memory and written once
    at the end: top-level steps made here (``unsaved``, inserted by :meth:`flush` in one
    statement, already finished if they ran here: one INSERT instead of INSERT and UPDATE),
    the events, and the run's changed fields.
    """

    def __init__(
        self,
        run_id: Any,
        *,
        inline_pure: bool = False,
        new: Run | None = None,
        lane: str | None = None,
        follow: int = 1,
    ) -> None:
        self.run_id = run_id
        self.inline_pure = inline_pure
        # The worker ending a step in this transaction, when it may go on with a task this
        # transaction makes runnable (a map's next item) instead of sending it as a message:
        # the task is claimed here, so the item's end and the next one's start are one
        # transaction and one run lock, and no message travels between them.
        self.lane = lane
        self.follow = follow  # how many such tasks the worker takes: one per step it ends here
        # Delegating steps read (and locked) here, by id: the tasks that end in this transaction
        # share their parent's row and its counters.
        self.parents: dict[int, Step] = {}
        self._at_end: dict[int, tuple[Step, set[str]]] = {}  # fields written once, at the end
        self.events: list[Event] = []
        self.dispatch = Dispatch()
        self.dirty: set[str] = set()  # Run fields changed, written once at the end
        # Outcomes read once stay true; advance_after keeps the copy current. By flow: the
        # run's (None) or a sub-flow's (its subflow step's id).
        self.outcomes: dict[Any, dict[str, str]] = {}
        self.created: dict[int, Step] = {}  # id(step) -> step made queued here: ours to claim
        # Steps of the table made queued here (a map's next item) whose new status, or whose
        # claim when this transaction claims them, is written at the next flush, with the rest
        # of what it writes then: fields by step.
        self.unwritten: dict[int, tuple[Step, list[str]]] = {}
        # Steps written from a worker's copy, on condition that its claim holds: (step, fields,
        # claim), written at the next flush (see save_claimed).
        self.claimed_writes: list[tuple[Step, list[str], Any]] = []
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
            self.locked_seq = self.run.last_seq
            return self
        try:
            self.run = _LOCKED_RUN.get(self.run_id)
        except BaseException:
            self._atomic.__exit__(*sys.exc_info())
            raise
        self.locked_seq = self.run.last_seq  # the run's last event before this transaction
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
        # What is left to write goes to the database in one round trip (see Batch).
        batch = Batch()
        self.flush(batch)
        for step, fields in self._at_end.values():
            batch.update(step, sorted(fields))
        if self.events:
            batch.insert(self.events)
            self.dirty.add("last_seq")
        if self.dirty and not inserted:
            batch.update(self.run, sorted(self.dirty))
        batch.run()
        if self.events:
            messages = [event.to_message() for event in self.events]
            run_id = self.run.pk
            transaction.on_commit(lambda: publish_events(run_id, messages))
            if any(event.type in RUN_ENDED for event in self.events):
                ended = tracing.ended_run(self.run)
                if ended is not None:
                    transaction.on_commit(lambda: tracing.export_run_span(ended))
        if self.dispatch.queued:
            queued = [(step.pk, countdown, pure) for step, countdown, pure in self.dispatch.queued]
            resumed = self.resumed
            transaction.on_commit(lambda: send_new(self.run.pk, queued, resumed=resumed))

    def flush(self, batch: Batch | None = None) -> None:
        """Insert the steps made here, as they are now, in one statement, and write the steps
        made queued here that nobody claimed: in one round trip, or as part of ``batch``.
        Called before any query that must see them, and at the end."""
        ours = batch or Batch()
        self._write_claimed(ours)
        if self.unwritten:
            changed, self.unwritten = list(self.unwritten.values()), {}
            for step, fields in changed:
                ours.update(step, fields)
        if self.unsaved:
            steps, self.unsaved = self.unsaved, []
            self._insert_new_run()  # their run first
            ours.insert(steps)
        if batch is None:
            ours.run()

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

    def save_claimed(self, step: Step, fields: list[str], claim: Any) -> None:
        """Write a step's changes on condition that it still runs under ``claim``: at the next
        flush, in the round trip of the transaction's other writes, by the statement that checks
        it. If it no longer does, that statement raises ClaimLost and the whole transaction is
        undone: the caller records it again from the rows (losing a claim is rare; a read and a
        lock of the step in every transaction to find out first are not). Whatever reads the
        step's row before the end calls :meth:`flush` (or :meth:`flush_claimed`) first."""
        self.claimed_writes.append((step, fields, claim))

    def flush_claimed(self) -> None:
        """Write the steps of :meth:`save_claimed` now (before a query that must see them)."""
        if self.claimed_writes:
            batch = Batch()
            self._write_claimed(batch)
            batch.run()

    def _write_claimed(self, batch: Batch) -> None:
        claimed, self.claimed_writes = self.claimed_writes, []
        for step, fields, claim in claimed:
            batch.update(step, fields, where={"status": "running", "claim": claim})

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

    def write_at_end(self, step: Step, *fields: str) -> None:
        """Write these fields of a step once, when the transaction ends (a map's counters,
        changed by each of its items that ends here); nothing here reads them from the table."""
        self._at_end.setdefault(step.pk, (step, set()))[1].update(fields)

    def make_queued(self, step: Step) -> None:
        """A step of the table (a map's next item) is runnable now: ours to claim, and written
        at the next flush if not claimed before."""
        step.status = "queued"
        step.due_at = timezone.now()
        self.created[id(step)] = step
        self.unwritten[id(step)] = (step, ["status", "due_at"])

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
        # Only a step made runnable here (``created``) may be claimed in this transaction
        # (claim_in): a pure one runs inline, another one may be the lane's next step. The rest
        # go out as messages, else nobody would run them.
        ours = countdown == 0 and id(step) in self.created
        if ours and pure and self.inline_pure:
            self.dispatch.inline.append(step)
        elif ours and not pure and self.lane and len(self.dispatch.follow) < self.follow:
            self.dispatch.follow.append(step)
        else:
            self.dispatch.queued.append((step, countdown, pure))

    @property
    def active(self) -> bool:
        """Whether this transaction queued a step (so the run certainly has one active)."""
        return bool(self.dispatch.queued or self.dispatch.inline or self.dispatch.follow)


# Rows per INSERT: far below PostgreSQL's 65,535 and SQLite's 32,766 parameters for Step's 28
# columns.
INSERT_CHUNK = 500


class Batch:
    """Writes sent to the database together, in one round trip where the database takes that:
    PostgreSQL runs several statements of one message, and the client-side binding psycopg's
    cursor does for Django lets their parameters travel in it. What a run transaction writes
    at its end (the steps it made, its events, the run's row) would otherwise wait for a round
    trip each, with the run locked all the while.

    Statements are built as :func:`insert_rows` builds them (the fields prepare their values);
    elsewhere (SQLite, or server-side binding) they run one by one."""

    def __init__(self) -> None:
        self._db = connections[DEFAULT_DB_ALIAS]
        # (SQL, parameters, what to do with its result)
        self._parts: list[tuple[str, list[Any], Callable[[Any], None] | None]] = []

    def insert(self, objs: list[Any]) -> None:
        """Insert new model objects of one model, and give them their ids (see insert_rows)."""
        if not objs:
            return
        if not self._db.features.can_return_rows_from_bulk_insert:
            for obj in objs:
                obj.save(force_insert=True)
            return
        for start in range(0, len(objs), INSERT_CHUNK):
            chunk = objs[start : start + INSERT_CHUNK]
            sql, params = _insert_sql(self._db, chunk)
            self._parts.append((sql, params, _with_ids(self._db, chunk)))

    def update(self, obj: Any, fields: list[str], where: dict[str, Any] | None = None) -> None:
        """Write these fields (attribute names) of a model object, as ``save(update_fields=…)``
        does; with ``where``, only if its row still has those values, else ClaimLost."""
        meta = obj._meta
        quote = self._db.ops.quote_name
        columns = [meta.get_field(name) for name in fields]
        sets = ", ".join(f"{quote(f.column)} = %s" for f in columns)
        sql = f"UPDATE {quote(meta.db_table)} SET {sets} WHERE {quote(meta.pk.column)} = %s"
        params = [f.get_db_prep_save(f.pre_save(obj, False), self._db) for f in columns]
        params.append(meta.pk.get_db_prep_value(obj.pk, self._db))  # a run's UUID: hex on SQLite
        then = None
        if where:
            conditions = [meta.get_field(name) for name in where]
            sql += "".join(f" AND {quote(f.column)} = %s" for f in conditions)
            params += [f.get_db_prep_value(where[f.name], self._db) for f in conditions]
            then = _one_row
        self._parts.append((sql, params, then))

    def run(self) -> None:
        parts, self._parts = self._parts, []
        if not parts:
            return
        with self._db.cursor() as cursor:
            if len(parts) == 1 or not isinstance(cursor.cursor, ClientCursor):
                for sql, params, then in parts:
                    cursor.execute(sql, params)
                    if then is not None:
                        then(cursor)
                return
            # Bound statement by statement, then sent as one text with nothing left to bind:
            # psycopg caches how it splits a statement for its parameters only up to 50 of
            # them, which the whole batch passes (a step's end and its events), so the joined
            # text was split anew, character by character, in every transaction.
            cursor.execute("; ".join(cursor.mogrify(sql, params) for sql, params, _ in parts))
            for index, (_, _, then) in enumerate(parts):
                if index:
                    cursor.nextset()
                if then is not None:
                    then(cursor)


def _insert_sql(db: Any, objs: list[Any]) -> tuple[str, list[Any]]:
    meta = objs[0]._meta
    fields = [f for f in meta.concrete_fields if not f.db_returning]
    quote = db.ops.quote_name
    head = (
        f"INSERT INTO {quote(meta.db_table)} ({', '.join(quote(f.column) for f in fields)}) VALUES "
    )
    row = "(" + ", ".join(["%s"] * len(fields)) + ")"
    tail = f" RETURNING {quote(meta.pk.column)}"
    params = [
        field.get_db_prep_save(field.pre_save(obj, True), db) for obj in objs for field in fields
    ]
    return head + ", ".join([row] * len(objs)) + tail, params


def _one_row(cursor: Any) -> None:
    if cursor.rowcount != 1:
        raise ClaimLost


def _with_ids(db: Any, objs: list[Any]) -> Callable[[Any], None]:
    def give(cursor: Any) -> None:
        for obj, (pk,) in zip(objs, cursor.fetchall(), strict=True):
            obj.pk = pk
            obj._state.adding = False
            obj._state.db = db.alias

    return give


def insert_rows(objs: list[Any]) -> None:
    """Insert new model objects of one model, ``INSERT … VALUES (…), (…) RETURNING id`` through
    the connection's cursor, and give them their ids.

    What bulk_create does, without building an ORM query (and PostgreSQL's UNNEST arrays) each
    time: for 12 events 0.4 ms of CPU instead of 0.85, and about 8 % of a worker's CPU per
    5-step task. Values are prepared by the fields themselves, as bulk_create does, so both
    backends get what they store (UUIDs as hex on SQLite, JSON adapted, auto_now_add set).
    Without RETURNING (SQLite before 3.35) the objects are saved one by one.
    """
    batch = Batch()
    batch.insert(objs)
    batch.run()
