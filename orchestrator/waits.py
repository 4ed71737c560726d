"""Kinds of waits: what else happens when a step stops to wait for someone.

A step that suspends hands over a request with a ``kind`` (``approval`` today). The transitions
know nothing of the kinds: each kind registers handlers here at start-up (see
``OrchestratorConfig.ready``), called inside the run transaction:

- ``on_suspend(txn, step, request)`` when a step suspends with a request of that kind; it returns
  the request as stored on the step (an approval adds its id, for the run view to link to);
- ``on_run_closed(txn)`` when the run ends while steps may still wait (nobody can answer a run
  that is over).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from orchestrator.models import Step
from orchestrator.unit_of_work import RunTransaction

OnSuspend = Callable[[RunTransaction, Step, dict[str, Any]], dict[str, Any]]
OnRunClosed = Callable[[RunTransaction], None]


@dataclass(frozen=True)
class WaitKind:
    on_suspend: OnSuspend
    on_run_closed: OnRunClosed


_kinds: dict[str, WaitKind] = {}


def register(kind: str, *, on_suspend: OnSuspend, on_run_closed: OnRunClosed) -> None:
    _kinds[kind] = WaitKind(on_suspend=on_suspend, on_run_closed=on_run_closed)


def suspended(txn: RunTransaction, step: Step, request: Any) -> Any:
    """The request to store for a step that suspends, after its kind's handler saw it."""
    kind = _kinds.get(request.get("kind")) if isinstance(request, dict) else None
    return kind.on_suspend(txn, step, request) if kind else request


def run_closed(txn: RunTransaction) -> None:
    for kind in _kinds.values():
        kind.on_run_closed(txn)
