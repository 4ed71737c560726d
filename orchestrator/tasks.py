"""Celery tasks: ids in, the work done by :mod:`orchestrator.execution`, the sweeper and approvals.

The run side sends ``execute_step`` by name (:mod:`orchestrator.dispatch`).
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery import Task, shared_task
from celery.worker.request import Request
from django.db import connections

from orchestrator import approvals, execution, lost_workers, runs, sweeper
from orchestrator.broker_queue import EXECUTE_STEP

log = logging.getLogger(__name__)


class StepRequest(Request):  # type: ignore[misc]
    """A step task's request in the worker's parent: when the pool process running it dies, the
    parent (which sees it at once) releases that process's steps (orchestrator.lost_workers)."""

    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):  # how the pool hands it over
            exc = exc.exc
        if isinstance(exc, WorkerLostError) and self.worker_pid:
            dead = lost_workers.worker_name(self.worker_pid)
            try:
                released = lost_workers.release_steps_of(dead)
                log.warning("pool process %s died; its steps %s are queued again", dead, released)
            except Exception:  # the lease and the sweeper still bring the steps back
                log.exception("could not release the steps of the dead pool process %s", dead)
            finally:
                # This is the worker's parent: it forks new pool processes and must hold no
                # database connection of its own.
                connections.close_all()
        return super().on_failure(
            exc_info, send_failed_event=send_failed_event, return_ok=return_ok
        )


class StepTask(Task):  # type: ignore[misc]
    Request = StepRequest


@shared_task(
    base=StepTask,
    name=EXECUTE_STEP,
    acks_late=True,
    reject_on_worker_lost=True,
    ignore_result=True,
)
def execute_step(step_id: int, run_id: str | None = None, pure: bool | None = None) -> None:
    execution.execute_step(step_id, run_id, pure)


@shared_task(ignore_result=True)
def sweep() -> int:
    """Re-queue steps whose worker died (lease expired) or whose message was lost, apply the
    deadline action of approvals whose deadline passed, and forget old Idempotency-Keys."""
    runs.forget_start_keys()
    released = lost_workers.release_dead_local_holders()
    return len(released) + len(sweeper.requeue_lost_steps()) + len(approvals.expire_due())
