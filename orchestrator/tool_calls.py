"""A worker's tool calls on the server.

Each ``step.tool_call`` event (running, then succeeded or failed) is an Event row of the run,
written in the run's transaction and broadcast after it commits, like every other event, so a
viewer sees the call live and one who comes later reads it from the log.

A workflow called as a tool (:mod:`runtime.tools.workflow_tool`) runs nested inside the calling
step, on its worker: no message, no other worker process. What it runs is recorded as steps of
the run all the same (:class:`FlowCalls`):

* the call is a child step of the calling step, keyed ``<calling step>/<tool>.<n>`` (n counts
  the step's workflow calls, over its attempts and rounds), of type ``workflow_tool``; its
  ``flow`` names the workflow and version (as a subflow step's does), its input is the
  arguments, its output the workflow's output (or its error);
* each step of the nested run is a child step of the call, keyed ``<call>/<its key there>``
  with ``in_flow`` the call (as a sub-flow's steps), with its status, input, output, tokens
  and cost, and its events go to the run's watchers as it starts and ends.

Spend is counted once. The nested steps carry their own tokens and cost, and are added to the
run's totals when the call ends (the budget already counted them as they happened); the call
step and the calling step do not count them again: a step's subtree (its own figures plus its
children's, at any depth) is what it cost with everything it called, as a manager's with its
team's.

These steps never go through the queue: they have no claim, worker or lease (the sweeper and
the lost-worker check leave them alone). A run that ends cancels those still open, like any
step, and so does the calling step's next workflow call for those a lost attempt of it left
open (its worker died mid-call). Their writes are conditional on the row still being open, so
a cancelled row stays cancelled.

The node runs on the worker's event loop: rows are written from a thread, a batch of events
per transaction, in the order they came.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from editor.models import Workflow, WorkflowVersion
from editor.models.workflows import trigger_version_id
from orchestrator import metrics
from orchestrator.models import Step
from orchestrator.spending import merge_by_model
from orchestrator.step_chunks import chunk_emitter
from orchestrator.unit_of_work import FINISHED_RUN, OPEN_STEP, RunTransaction
from orchestrator.workspace_flows import SavedFlow
from runtime.events import Event
from runtime.flows import Flow
from runtime.records import RunResult
from runtime.usage import Usage

log = logging.getLogger(__name__)

CALL_TYPE = "workflow_tool"
# A step key is at most 200 characters; the tool's part of it is cut to this.
TOOL_KEY_CHARS = 40


def _write(run_id: Any, step_id: int, data: dict[str, Any]) -> None:
    try:
        with RunTransaction(run_id) as txn:
            step = Step.objects.get(pk=step_id)
            txn.emit("step.tool_call", step, data)
    finally:
        connection.close()


def tool_call_recorder(run_id: Any, step_id: int) -> Callable[[dict[str, Any]], Awaitable[None]]:
    async def record(data: dict[str, Any]) -> None:
        await asyncio.to_thread(_write, run_id, step_id, data)

    return record


def workflow_call_of(step: Step) -> Step | None:
    """The workflow tool call ``step`` is, or ran inside (at any depth); None for another step."""
    seen = 0
    while step is not None and seen < 64:
        if step.node_type == CALL_TYPE:
            return step
        step = step.in_flow if step.in_flow_id is not None else None  # type: ignore[assignment]
        seen += 1
    return None


class FlowCalls:
    """The workflow tool calls of one claimed step, recorded as its child steps
    (:class:`runtime.tools.context.FlowCallRecorder`)."""

    def __init__(self, run_id: Any, step_id: int) -> None:
        self.run_id = run_id
        self.step_id = step_id

    async def open(
        self,
        call_id: str,
        tool: str,
        flow: Flow,
        arguments: dict[str, Any],
        node_types: dict[str, str],
    ) -> RecordedCall:
        row = await asyncio.to_thread(
            _open, self.run_id, self.step_id, call_id, tool, flow, arguments
        )
        return RecordedCall(self.run_id, row, node_types)


def _at(ts: float | None) -> datetime:
    return datetime.fromtimestamp(ts, tz=UTC) if ts else timezone.now()


def _open(
    run_id: Any, step_id: int, call_id: str, tool: str, flow: Flow, arguments: dict[str, Any]
) -> Step:
    try:
        with RunTransaction(run_id) as txn:
            caller = Step.objects.get(pk=step_id)
            _cancel_lost_calls(txn, caller)
            number = Step.objects.filter(parent=caller, node_type=CALL_TYPE).count() + 1
            if isinstance(flow, SavedFlow):
                version: tuple[Any, Any] = (flow.version_id, flow.number)  # the graph that runs
            else:
                runs = (
                    Workflow.objects.filter(pk=flow.ref)
                    .annotate(called_version=trigger_version_id())
                    .values_list("called_version", flat=True)
                    .first()
                )
                version = WorkflowVersion.objects.filter(pk=runs).values_list(
                    "pk", "number"
                ).first() or (None, None)
            ref = {"workflow": flow.ref, "name": flow.name, "number": version[1]}
            row = Step(
                run_id=run_id,
                key=f"{caller.key}/{tool[:TOOL_KEY_CHARS]}.{number}",
                node_id=tool[:64],
                node_type=CALL_TYPE,
                parent=caller,
                in_flow=caller,
                status="running",
                input=arguments,
                attempt=1,
                # What the call was, for the inspector and for a re-run's refusal to name.
                flow={
                    **ref,
                    "version": version[0],
                    "tool_call": call_id,
                    "caller": {"key": caller.key, "attempt": caller.attempt, "round": caller.round},
                },
                started_at=timezone.now(),
            )
            if txn.run.status in FINISHED_RUN:
                row.status = "cancelled"
                row.finished_at = row.started_at
            row.save()
            txn.emit(
                "step.started",
                row,
                {"attempt": 1, "input": arguments, "parent": caller.key, "round": 0},
            )
            # As a subflow step handing its flow to the run says which flow it runs (and here
            # which of the calling step's tool calls this is).
            said = {**ref, "tool_call": call_id}
            txn.emit("step.delegated", row, {"round": 0, "tasks": [], "count": 0, "flow": said})
            return row
    finally:
        connection.close()


def _cancel_lost_calls(txn: RunTransaction, caller: Step) -> None:
    """Calls of ``caller`` still open when it makes another: they were made by an attempt that
    is gone (its worker died, or lost its lease), since one step makes its calls one at a time.
    Nobody else would end them before the run ends."""
    calls = Step.objects.filter(parent=caller, node_type=CALL_TYPE)
    lost = Step.objects.filter(
        Q(pk__in=calls.filter(status__in=OPEN_STEP).values("pk"))
        | Q(in_flow__in=calls.values("pk")),
        run_id=caller.run_id,
        status__in=OPEN_STEP,
    )
    now = timezone.now()
    for row in lost.order_by("id"):
        row.status = "cancelled"
        row.finished_at = now
        row.save(update_fields=["status", "finished_at"])
        txn.emit("step.cancelled", row, {"reason": "the attempt that made this call was lost"})


class RecordedCall:
    """One workflow tool call's rows (:class:`runtime.tools.context.FlowCall`): the nested run's
    events are queued as they come and written by one task, a batch per transaction."""

    def __init__(self, run_id: Any, row: Step, node_types: dict[str, str]) -> None:
        self.run_id = run_id
        self.row = row
        self.node_types = node_types
        self.rows: dict[str, Step] = {}  # the nested run's step id -> its row
        self.pending: list[Event] = []
        self.writing: asyncio.Task[None] | None = None
        self.broken = False
        # The nested steps' streamed text, by (step, round, attempt) as its events last said.
        self.attempts: dict[str, tuple[int, int]] = {}
        self.chunks: dict[tuple[str, int, int], Callable[[str], None]] = {}

    def key_of(self, inner: str) -> str:
        return f"{self.row.key}/{inner}"

    # -- events, as the nested run emits them (on the loop) -----------------------------------

    def emit(self, event: Event) -> None:
        if event.step is None or self.broken:
            return  # the run's own events: the call step says how it went
        if event.type == "step.chunk":
            self._chunk(event)
            return
        if event.type in ("step.started", "step.resumed"):
            # Kept here, as the events come: the rows are written later, on a thread.
            data = event.data or {}
            before = self.attempts.get(str(event.step), (0, 1))
            round_ = int(data.get("round", before[0]) or 0)
            attempt = int(data.get("attempt", before[1]) or 1)
            self.attempts[str(event.step)] = (round_, attempt)
        self.pending.append(event)
        if self.writing is None or self.writing.done():
            self.writing = asyncio.get_running_loop().create_task(self._drain())

    def _chunk(self, event: Event) -> None:
        inner = str(event.step)
        round_, attempt = self.attempts.get(inner, (0, 1))
        found = self.chunks.get((inner, round_, attempt))
        if found is None:
            key = self.key_of(inner)
            found = chunk_emitter(str(self.run_id), key, str(event.node), round_, attempt)
            self.chunks[(inner, round_, attempt)] = found
        found(str(event.data.get("text", "")))

    async def _drain(self) -> None:
        while self.pending and not self.broken:
            batch, self.pending = self.pending, []
            try:
                await asyncio.to_thread(self._write_batch, batch)
            except Exception:
                # The tool call goes on; what it ran is then missing from the run's steps.
                log.exception("could not record the steps of workflow call %s", self.row.key)
                self.broken = True

    async def close(self, ok: bool, text: str, result: RunResult | None) -> None:
        while self.writing is not None and not self.writing.done():
            await asyncio.shield(self.writing)
        await asyncio.to_thread(self._close, ok, text, result)

    # -- writes (on a thread) ------------------------------------------------------------------

    def _write_batch(self, events: list[Event]) -> None:
        try:
            with RunTransaction(self.run_id) as txn:
                if txn.run.status in FINISHED_RUN:
                    return  # its steps were cancelled with it
                known = [row.pk for row in self.rows.values() if row.pk is not None]
                still_open = set(
                    Step.objects.filter(pk__in=known, status__in=OPEN_STEP).values_list(
                        "pk", flat=True
                    )
                )
                for event in events:
                    self._apply(txn, event, still_open)
        finally:
            connection.close()

    def _apply(self, txn: RunTransaction, event: Event, still_open: set[int]) -> None:
        """Write one event of the nested run on its row; ``still_open``: the rows not finished
        when the batch began (a row cancelled meanwhile stays cancelled)."""
        inner = str(event.step)
        data = event.data or {}
        row = self.rows.get(inner)
        if row is None:
            if event.type not in ("step.started", "step.skipped"):
                return
            row = self._new_row(inner, event)
        elif row.pk not in still_open and row.status in OPEN_STEP:
            return  # cancelled meanwhile (the run ended)
        at = _at(event.ts)
        kind = event.type
        out = dict(data)
        if kind == "step.started":
            row.status = "running"
            row.attempt = int(data.get("attempt") or 1)
            row.round = int(data.get("round") or 0)
            row.error = None
            row.started_at = row.started_at or at
            parent = self.rows.get(str(data.get("parent") or ""))
            out["parent"] = parent.key if parent is not None else self.row.key
        elif kind == "step.succeeded":
            row.status = "succeeded"
            row.output = data.get("output")
            row.branch = data.get("branch")
            row.model = data.get("model")
            row.tokens_in = int(data.get("tokens_in") or 0)
            row.tokens_out = int(data.get("tokens_out") or 0)
            row.cost = float(data.get("cost") or 0.0)
            if row.model and (row.tokens_in or row.tokens_out or row.cost):
                row.by_model = {
                    row.model: {
                        "tokens_in": row.tokens_in,
                        "tokens_out": row.tokens_out,
                        "cost": row.cost,
                    }
                }
            row.finished_at = at
        elif kind == "step.failed":
            row.status = "failed"
            row.error = data.get("error")
            row.finished_at = at
        elif kind in ("step.skipped", "step.cancelled"):
            row.status = "skipped" if kind == "step.skipped" else "cancelled"
            row.finished_at = at
        elif kind == "step.waiting":
            row.status = "waiting"
            row.request = data.get("request")
        elif kind == "step.resumed":
            row.status = "running"
            row.round = int(data.get("round") or row.round)
        elif kind == "step.retrying":
            row.error = data.get("error")
        elif kind == "step.delegated":
            out["tasks"] = [
                {**task, "step": self.key_of(str(task.get("step")))}
                for task in data.get("tasks") or []
            ]
            out["count"] = len(out["tasks"])
        if kind != "step.tool_call":
            row.save()
            still_open.add(row.pk)
        txn.emit(kind, row, out)

    def _new_row(self, inner: str, event: Event) -> Step:
        data = event.data or {}
        parent = self.rows.get(str(data.get("parent") or "")) or self.row
        node = str(event.node or inner)
        row = Step(
            run_id=self.run_id,
            key=self.key_of(inner),
            node_id=node[:64],
            node_type=self.node_types.get(node, ""),
            parent=parent,
            in_flow=self.row,
            status="pending",
            input=data.get("input"),
        )
        self.rows[inner] = row
        return row

    def _close(self, ok: bool, text: str, result: RunResult | None) -> None:
        try:
            self._record_end(ok, text, result)
        finally:
            connection.close()
        for row in self.rows.values():  # the process's metrics, as a step a worker ran
            if row.pk is not None and row.started_at and row.finished_at:
                seconds = (row.finished_at - row.started_at).total_seconds()
                usage = Usage(row.model, row.tokens_in, row.tokens_out, row.cost, 0, row.by_model)
                metrics.count_step(row.node_type, row.status, seconds, usage)

    def _record_end(self, ok: bool, text: str, result: RunResult | None) -> None:
        with RunTransaction(self.run_id) as txn:
            if result is not None:
                self._settle_figures(result)
            open_rows = [row for row in self.rows.values() if row.status in OPEN_STEP]
            finished = txn.run.status in FINISHED_RUN
            if not finished:
                for row in open_rows:  # stopped mid-way: what was running is cancelled
                    row.status = "cancelled"
                    row.finished_at = timezone.now()
                    row.save(update_fields=["status", "finished_at"])
                    txn.emit("step.cancelled", row, {"reason": "the tool call ended"})
            self._spend(txn, result)
            call = Step.objects.select_for_update().get(pk=self.row.pk)
            if call.status not in OPEN_STEP:
                return
            call.status = "succeeded" if ok else "failed"
            call.finished_at = timezone.now()
            if ok:
                call.output = result.output if result is not None else text
            else:
                call.error = {
                    "type": "WorkflowToolError",
                    "code": "workflow_failed",
                    "message": text,
                }
            call.save()
            if ok:
                data: dict[str, Any] = {
                    "output": call.output,
                    "branch": None,
                    "attempt": 1,
                    "model": None,
                    "tokens_in": 0,
                    "tokens_out": 0,
                    "cost": 0.0,
                    "duration_ms": call.duration_ms,
                }
                txn.emit("step.succeeded", call, data)
            else:
                txn.emit("step.failed", call, {"error": call.error, "attempt": 1})

    def _settle_figures(self, result: RunResult) -> None:
        """A failed or cancelled step's figures are known only at the end of the nested run:
        the event that said it ended came before them."""
        for inner, record in result.steps.items():
            row = self.rows.get(inner)
            if row is None or row.pk is None:
                continue
            figures = (record.tokens_in, record.tokens_out, record.cost)
            if figures == (row.tokens_in, row.tokens_out, row.cost):
                continue
            row.tokens_in, row.tokens_out, row.cost = figures
            row.model = record.model or row.model
            if row.model:
                row.by_model = {
                    row.model: {
                        "tokens_in": figures[0],
                        "tokens_out": figures[1],
                        "cost": figures[2],
                    }
                }
            row.save(update_fields=["tokens_in", "tokens_out", "cost", "model", "by_model"])

    def _spend(self, txn: RunTransaction, result: RunResult | None) -> None:
        """The nested steps' figures, added to the run's totals once (see the module's notes)."""
        rows = [row for row in self.rows.values() if row.pk is not None]
        tokens_in = sum(row.tokens_in for row in rows)
        tokens_out = sum(row.tokens_out for row in rows)
        cost = round(sum(row.cost for row in rows), 10)
        if not (tokens_in or tokens_out or cost):
            return
        by_model: dict[str, Any] = {}
        for row in rows:
            by_model = merge_by_model(by_model, row.by_model or {})
        run = txn.run
        run.tokens_in += tokens_in
        run.tokens_out += tokens_out
        run.cost = round(run.cost + cost, 10)
        run.by_model = merge_by_model(run.by_model, by_model)
        txn.touch("tokens_in", "tokens_out", "cost", "by_model")
