"""Celery tasks: ids in, the work done by :mod:`orchestrator.execution`, the sweeper and approvals.

The run side sends ``execute_step`` by name (:mod:`orchestrator.dispatch`).
"""

from __future__ import annotations

from celery import shared_task

from orchestrator import approvals, execution, runs, sweeper
from orchestrator.dispatch import EXECUTE_STEP
from orchestrator.lost_workers import StepTask


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
    return len(sweeper.requeue_lost_steps()) + len(approvals.expire_due())
