"""A run's exported event log read back: what its top-level steps recorded, and its input.

Accepts what this product writes: JSON lines (``python -m runtime run --json``) or the events
API's page (``GET /api/runs/<id>/events/``, ``{"events": [...]}``). A re-run from the command
line reuses the steps read here (see :mod:`runtime.reuse`).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from typing import Any

from runtime.reuse import NO_EDIT, Recorded, RecordedTask, ResumePoint


class EventLogError(ValueError):
    """The file is not an event log this product wrote."""


@dataclass
class RecordedRun:
    run_id: str | None = None
    input: Any = None
    steps: dict[str, Recorded] = field(default_factory=dict)
    # Delegated tasks of top-level steps (only those whose own parent is top-level), by key,
    # and each delegating step's state when it handed out each round: {parent: {round: state}}.
    tasks: dict[str, RecordedTask] = field(default_factory=dict)
    handed_out: dict[str, dict[int, Any]] = field(default_factory=dict)

    def resume_point(self, key: str, edited: Any = NO_EDIT) -> ResumePoint:
        """Where the top-level step of task ``key`` picks up in a re-run from that task."""
        task = self.tasks.get(key)
        if task is None:
            raise EventLogError(f"the event log has no finished task {key!r}")
        parent = key.split(".", 1)[0]
        states = self.handed_out.get(parent, {})
        if task.round not in states:
            raise EventLogError(
                f"the event log does not hold the state {parent!r} handed out {key!r} with "
                f"(recorded before this was kept); re-run from {parent!r} instead"
            )
        earlier = [t for t in self.tasks.values() if t.step.startswith(parent + ".")]
        return ResumePoint(
            round=task.round,
            state=states[task.round],
            tasks=tuple(t for t in earlier if t.round <= task.round),
            rerun=key,
            edited=edited,
        )


def parse_events(text: str) -> list[dict[str, Any]]:
    stripped = text.strip()
    if not stripped:
        raise EventLogError("the event log is empty")
    try:
        whole = json.loads(stripped)
    except json.JSONDecodeError:
        whole = None
    if isinstance(whole, dict) and isinstance(whole.get("events"), list):
        return list(whole["events"])
    events = []
    for number, line in enumerate(stripped.splitlines(), start=1):
        if not line.strip():
            continue
        try:
            event = json.loads(line)
        except json.JSONDecodeError as exc:
            raise EventLogError(f"line {number} is not JSON: {exc.msg}") from None
        if not isinstance(event, dict) or "type" not in event:
            raise EventLogError(f"line {number} is not an event (no type)")
        events.append(event)
    return events


def recorded_run(events: list[dict[str, Any]]) -> RecordedRun:
    """Each top-level step's last recorded state: input, output, branch, spend (with what its
    delegated tasks spent), and the settings fingerprint its node had (steps without one are
    never reused)."""
    found = RecordedRun()
    inputs: dict[str, Any] = {}
    task_spend: dict[str, list[float]] = {}  # top-level key -> [cost, tokens in, tokens out]
    rounds: dict[str, int] = {}  # task key -> the round it was handed out in
    for event in events:
        kind, step, data = event.get("type"), event.get("step"), event.get("data") or {}
        if kind == "run.started":
            found.run_id = event.get("run")
            found.input = data.get("input")
            continue
        if not isinstance(step, str):
            continue
        if "." in step or "/" in step:
            # A delegated task ("<parent>.<node>.<n>"), or a step of a sub-flow or of a
            # workflow tool call ("<step>/…", the server's): its spend is its top-level step's,
            # as the server counts a step's subtree.
            if kind == "step.succeeded":
                top = step.split("/", 1)[0].split(".", 1)[0]
                spent = task_spend.setdefault(top, [0.0, 0, 0])
                spent[0] += float(data.get("cost") or 0.0)
                spent[1] += int(data.get("tokens_in") or 0)
                spent[2] += int(data.get("tokens_out") or 0)
            if "/" not in step:
                _note_task(found, step, kind, data, inputs, rounds)
            continue
        if kind == "step.delegated":
            round_ = int(data.get("round") or 0)
            if "state" in data:
                found.handed_out.setdefault(step, {})[round_] = data["state"]
            for task in data.get("tasks") or ():
                rounds[str(task.get("step"))] = round_
            continue
        if kind == "step.started":
            inputs[step] = data.get("input")
        elif kind == "step.succeeded":
            found.steps[step] = _recorded(step, "succeeded", data, inputs.get(step), data)
        elif kind == "step.reused":
            # What it cost where it ran, as its link carries it.
            link = data.get("from") or {}
            found.steps[step] = _recorded(step, "reused", data, data.get("input"), link)
        elif kind in ("step.failed", "step.skipped", "step.cancelled"):
            found.steps[step] = Recorded(
                step=step,
                fingerprint="",
                status=kind.removeprefix("step."),
                input=inputs.get(step),
                output=None,
                branch=None,
            )
    if not found.steps and found.run_id is None:
        raise EventLogError("the file holds no run events")
    for key, (cost, tokens_in, tokens_out) in task_spend.items():
        record = found.steps.get(key)
        if record is not None and record.status == "succeeded":
            found.steps[key] = replace(
                record,
                cost=round(record.cost + cost, 10),
                tokens_in=record.tokens_in + int(tokens_in),
                tokens_out=record.tokens_out + int(tokens_out),
            )
    return found


def _note_task(
    found: RecordedRun,
    key: str,
    kind: Any,
    data: dict[str, Any],
    inputs: dict[str, Any],
    rounds: dict[str, int],
) -> None:
    """Keep a finished task of a top-level step (one dot-triple deep) as a RecordedTask."""
    if key.count(".") != 2:
        return
    if kind == "step.started":
        inputs[key] = data.get("input")
        return
    statuses = {"step.succeeded": "succeeded", "step.failed": "failed", "step.reused": "reused"}
    if kind not in statuses:
        return
    spent = (data.get("from") or {}) if kind == "step.reused" else data
    found.tasks[key] = RecordedTask(
        step=key,
        node=key.split(".")[1],
        round=rounds.get(key, 0),
        input=data["input"] if "input" in data else inputs.get(key),
        status=statuses[kind],
        output=data.get("output"),
        error=data.get("error"),
        cost=float(spent.get("cost") or 0.0),
        tokens_in=int(spent.get("tokens_in") or 0),
        tokens_out=int(spent.get("tokens_out") or 0),
    )


def _recorded(
    step: str, status: str, data: dict[str, Any], step_input: Any, spent: dict[str, Any]
) -> Recorded:
    return Recorded(
        step=step,
        fingerprint=str(data.get("fingerprint") or ""),
        status=status,
        input=step_input,
        output=data.get("output"),
        branch=data.get("branch"),
        cost=float(spent.get("cost") or 0.0),
        tokens_in=int(spent.get("tokens_in") or 0),
        tokens_out=int(spent.get("tokens_out") or 0),
    )
