"""The database reads of a process's run sockets, made together: one trip to the database thread
for every socket (of any run) that asked while the previous trip was under way.

A socket reads the database when it connects (may the person watch the run, which steps are
running, the events after ``?after=``), on each ping (the events after its last seq) and when a
gap shows. Each read on its own is a hop to Django's database thread (all sync database work of
the process runs on that one thread), a connection borrowed from the web pool and checked, and a
query; a thousand sockets opening one run at once queued a thousand such hops behind each other.
Here, reads asked for at the same time share one hop: the first request starts it at once, and
requests that come while it runs wait for the next one, which takes them all: one query for the
memberships of each person in it, one for the running steps, one for the events of every range
asked, whatever the number of runs and sockets (:func:`read_all`).

A shared read is only ever one that *started after* the request was made, so it sees everything
committed before the request, exactly as the socket's own read would have: the order the run
consumer relies on (subscribe, then read) holds.
"""

from __future__ import annotations

import asyncio
import time
import uuid
import weakref
from dataclasses import dataclass, field, replace
from typing import Any

from channels.db import database_sync_to_async
from django.db import connection
from django.db.models import IntegerField, Value

from orchestrator.access import runs_of
from orchestrator.models import Event, Step

# Events per read; a socket further behind reads again from where the batch ended.
BATCH = 500

Running = list[tuple[str, str, int, int]]  # (step key, node, round, attempt)


@dataclass(frozen=True)
class Opening:
    """What a socket needs when it connects, read in this order after it subscribed."""

    workspace_id: int | None  # None: the person may not watch the run (or it does not exist)
    running: Running
    events: list[dict[str, Any]]
    read_at: float = 0.0  # see Events.read_at


@dataclass(frozen=True)
class Events:
    events: list[dict[str, Any]]
    # When the read was set off (time.monotonic(), on the event loop, before the trip to the
    # database thread): it saw at least everything committed before then.
    read_at: float


@dataclass
class _Ask:
    after: int
    until: int | None
    user: Any = None  # set for an opening: the membership and running steps are read too
    opening: bool = False
    read_at: float = 0.0  # set when the trip that reads it sets off
    done: asyncio.Future[Any] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class RunReads:
    """One per event loop; see the module's docstring."""

    def __init__(self) -> None:
        # What was asked since the trip under way started (None: no trip under way).
        self._asked: list[tuple[str, _Ask]] | None = None

    async def opening(self, run_id: str, user: Any, after: int) -> Opening:
        ask = _Ask(after, None, user, opening=True)
        result: Opening = await self._ask(run_id, ask)
        return replace(result, read_at=ask.read_at)

    async def events_after(self, run_id: str, after: int, until: int | None) -> Events:
        ask = _Ask(after, until)
        result: list[dict[str, Any]] = await self._ask(run_id, ask)
        return Events(result, ask.read_at)

    async def _ask(self, run_id: str, ask: _Ask) -> Any:
        if self._asked is None:
            # No trip under way: start one, which goes again for what is asked meanwhile.
            self._asked = [(run_id, ask)]
            asyncio.get_running_loop().create_task(self._trips())
        else:
            self._asked.append((run_id, ask))
        return await ask.done

    async def _trips(self) -> None:
        while self._asked:
            batch, self._asked = self._asked, []
            read_at = time.monotonic()
            for _, ask in batch:
                ask.read_at = read_at
            try:
                results = await _read_all(batch)
            except Exception as exc:
                results = [exc] * len(batch)
            for (_, ask), result in zip(batch, results, strict=True):
                if ask.done.done():
                    continue  # its socket went away (cancelled)
                if isinstance(result, Exception):
                    ask.done.set_exception(result)
                else:
                    ask.done.set_result(result)
        self._asked = None


@database_sync_to_async
def _read_all(batch: list[tuple[str, _Ask]]) -> list[Any]:
    return read_all(batch)


def read_all(batch: list[tuple[str, _Ask]]) -> list[Any]:
    """Every read of ``batch``, whatever its runs, in a few queries: the memberships (one query
    per person), the running steps of the runs someone may watch (one), and the events (one, for
    every distinct range of every run)."""
    allowed: dict[tuple[Any, str], int] = {}  # (person, run) -> the run's workspace
    asked: dict[Any, tuple[Any, set[str]]] = {}  # person -> (user, the runs they open)
    for run_id, ask in batch:
        if ask.opening:
            asked.setdefault(_person(ask), (ask.user, set()))[1].add(run_id)
    for person, (user, run_ids) in asked.items():
        for run_id, workspace_id in watched_workspaces(user, run_ids).items():
            allowed[(person, run_id)] = workspace_id

    running: dict[str, Running] = {}
    watched = {run_id for _, run_id in allowed}
    if watched:
        steps = Step.objects.filter(run_id__in=watched, status="running")
        for run_id, *step in steps.values_list("run_id", "key", "node_id", "round", "attempt"):
            running.setdefault(str(run_id), []).append(tuple(step))  # type: ignore[arg-type]

    spans = {
        (run_id, ask.after, ask.until)
        for run_id, ask in batch
        if not ask.opening or (_person(ask), run_id) in allowed
    }
    events = _events(spans)
    results: list[Any] = []
    for run_id, ask in batch:
        span = (run_id, ask.after, ask.until)
        if not ask.opening:
            results.append(events[span])
            continue
        workspace_id = allowed.get((_person(ask), run_id))
        if workspace_id is None:
            results.append(Opening(None, [], []))
        else:
            results.append(Opening(workspace_id, running.get(run_id, []), events[span]))
    return results


def _person(ask: _Ask) -> Any:
    return getattr(ask.user, "pk", None)


def watched_workspaces(user: Any, run_ids: set[str]) -> dict[str, int]:
    """The workspace of each of ``run_ids`` the user may watch (is a member of); the others are
    left out (a malformed id is simply not a run the user can see)."""
    valid = []
    for run_id in run_ids:
        try:
            valid.append(str(uuid.UUID(run_id)))
        except ValueError:
            continue
    if not valid:
        return {}
    found = runs_of(user).filter(pk__in=valid).values_list("pk", "workspace_id")
    return {str(run_id): workspace_id for run_id, workspace_id in found}


def watched_workspace(run_id: str, user: Any) -> int | None:
    """The run's workspace if the user may watch the run (is a member of it), else None."""
    return watched_workspaces(user, {run_id}).get(str(run_id))


Span = tuple[str, int, "int | None"]  # run, after, until


def _events(spans: set[Span]) -> dict[Span, list[dict[str, Any]]]:
    """The events of each span (after its ``after``, up to its ``until``, at most BATCH), in seq
    order; on PostgreSQL all the spans in one statement."""
    ordered = sorted(spans, key=repr)
    found: dict[Span, list[dict[str, Any]]] = {span: [] for span in ordered}
    if not ordered:
        return found
    if connection.vendor == "postgresql":
        rows: Any = _spans_in_one_statement(ordered)
    else:
        rows = _spans_one_by_one(ordered)
    for event in rows:  # each span's in seq order
        found[ordered[event.span]].append(event.to_message())
    return found


# One index scan per span, each with its own LIMIT, in a statement whose text does not grow with
# the spans (they come as arrays): sockets opening on 100 runs at once spent 55-65 ms of the
# database thread building and compiling a UNION of 100 querysets, against a few ms for this.
_SPANS_SQL = f"""
    SELECT e.*, s.span FROM unnest(%s::uuid[], %s::bigint[], %s::bigint[], %s::int[])
        AS s(run_id, after, until, span)
    CROSS JOIN LATERAL (
        SELECT * FROM {Event._meta.db_table} AS event
        WHERE event.run_id = s.run_id AND event.seq > s.after
            AND (s.until IS NULL OR event.seq <= s.until)
        ORDER BY event.seq LIMIT {BATCH}
    ) AS e
    ORDER BY s.span, e.seq
"""


def _spans_in_one_statement(ordered: list[Span]) -> Any:
    run_ids = [uuid.UUID(run_id) for run_id, _, _ in ordered]
    afters = [after for _, after, _ in ordered]
    untils = [until for _, _, until in ordered]
    return Event.objects.raw(_SPANS_SQL, [run_ids, afters, untils, list(range(len(ordered)))])


def _spans_one_by_one(ordered: list[Span]) -> Any:
    """SQLite: no LATERAL, and no LIMIT in a UNION's parts: a query per span."""
    for index, (run_id, after, until) in enumerate(ordered):
        events = Event.objects.filter(run_id=run_id, seq__gt=after)
        if until is not None:
            events = events.filter(seq__lte=until)
        labelled = events.annotate(span=Value(index, output_field=IntegerField()))
        yield from labelled.order_by("seq")[:BATCH]


_reads: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, RunReads] = weakref.WeakKeyDictionary()


def reads() -> RunReads:
    event_loop = asyncio.get_running_loop()
    found = _reads.get(event_loop)
    if found is None:
        found = _reads[event_loop] = RunReads()
    return found
