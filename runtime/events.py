"""Typed run events and the one interface they are emitted through.

Every state change of a run is an :class:`Event` with a ``type`` literal. The in-process executor
emits them to an :class:`EventSink`; the Celery side implements the same interface by writing an
Event row (with a gap-free per-run ``seq``) and broadcasting it after commit. The TypeScript
mirror in ``frontend/src/api/events.ts`` is generated from :data:`EVENT_TYPES`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, get_args

EventType = Literal[
    "run.started",
    "run.succeeded",
    "run.failed",
    "run.cancelled",
    "run.waiting",
    "step.queued",
    "step.started",
    "step.chunk",
    "step.retrying",
    "step.succeeded",
    "step.failed",
    "step.skipped",
    "step.cancelled",
    "step.waiting",
    "step.delegated",
    "step.resumed",
    "step.reused",
    # A worker's tool call: running, then succeeded or failed (runtime.tools.toolbox).
    "step.tool_call",
]
EVENT_TYPES: tuple[str, ...] = get_args(EventType)

RunStatus = Literal["queued", "running", "waiting", "succeeded", "failed", "cancelled"]
StepStatus = Literal[
    "pending",
    "queued",
    "running",
    "waiting",
    "succeeded",
    "failed",
    "skipped",
    "cancelled",
    "reused",
]
RUN_STATUSES: tuple[str, ...] = get_args(RunStatus)
STEP_STATUSES: tuple[str, ...] = get_args(StepStatus)
FINISHED_STEP_STATUSES = frozenset({"succeeded", "failed", "skipped", "cancelled", "reused"})
# A reused step stands for a recorded success: it counts as succeeded wherever outcomes count.
SUCCEEDED_STEP_STATUSES = frozenset({"succeeded", "reused"})


@dataclass(slots=True)
class Event:
    type: EventType
    run: str
    step: str | None = None
    node: str | None = None
    status: str | None = None
    data: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)
    seq: int | None = None  # assigned by a sink that keeps a log

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "type": self.type,
            "run": self.run,
            "step": self.step,
            "node": self.node,
            "status": self.status,
            "data": self.data,
            "ts": self.ts,
        }


class EventSink(Protocol):
    def emit(self, event: Event) -> None: ...


class ListSink:
    """Keeps every event in order, numbering them from 1 like the server's event log."""

    def __init__(self) -> None:
        self.events: list[Event] = []

    def emit(self, event: Event) -> None:
        event.seq = len(self.events) + 1
        self.events.append(event)

    def types(self) -> list[str]:
        return [event.type for event in self.events]


class NullSink:
    def emit(self, event: Event) -> None:
        pass
