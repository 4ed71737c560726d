"""The sweeper (on Celery beat): steps whose worker died, and steps whose message was lost."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from orchestrator import metrics
from orchestrator.broker_queue import waiting_steps
from orchestrator.dispatch import resend
from orchestrator.models import Step
from orchestrator.unit_of_work import FINISHED_RUN, RunTransaction


def requeue_lost_steps(stale_after: float | None = None) -> list[int]:
    """Re-queue running steps whose lease ran out (their worker died) and re-send queued
    steps not taken ``stale_after`` seconds (STEP_RESEND_SECONDS) after they were due: their
    message was lost. Returns the step ids dispatched."""
    if stale_after is None:
        stale_after = float(getattr(settings, "STEP_RESEND_SECONDS", 5))
    now = timezone.now()
    lost = list(
        Step.objects.filter(status="running", lease_expires_at__lt=now).values_list("pk", "run_id")
    )
    dispatched = [
        step_id
        for step_id, run_id in lost
        if requeue_running(step_id, run_id, Q(lease_expires_at__lt=now), "worker lost")
    ]
    stale = (
        Step.objects.filter(
            status="queued",
            due_at__lt=now - timedelta(seconds=stale_after),
            run__status__in=("running", "waiting"),
        )
        .exclude(pk__in=dispatched)
        .values_list("pk", flat=True)[:500]
    )
    to_resend = _without_messages(list(stale))
    if to_resend:
        # Due again from now: a message that is only late (a busy queue) is duplicated once per
        # period, not at every sweep.
        Step.objects.filter(pk__in=to_resend, status="queued").update(due_at=now)
        resend(to_resend)
    metrics.SWEEPER_REQUEUES.labels("message lost").inc(len(to_resend))
    return dispatched + to_resend


def _without_messages(step_ids: list[int]) -> list[int]:
    """The queued steps of ``step_ids`` that have no message waiting in the broker: their message
    was lost (Redis restarted empty), or was never sent (a worker died before running the pure
    steps it had made ready). A step merely late in a long queue is not sent twice. A message a
    worker has taken but not started (it waits for a busy pool process) is not in the queue: such
    a step gets one duplicate per STEP_RESEND_SECONDS, which its claim makes harmless."""
    if not step_ids:
        return []
    waiting = waiting_steps()
    if waiting is None:
        return []  # unreachable (nothing could be sent) or too long to read: next sweep
    return [step_id for step_id in step_ids if step_id not in waiting]


def requeue_running(step_id: int, run_id: Any, still_lost: Q, reason: str) -> bool:
    """Put a running step back in the queue, if it is still running as ``still_lost`` says,
    and send it; False when something else happened to it first."""
    with RunTransaction(run_id) as txn:
        changed = Step.objects.filter(still_lost, pk=step_id, status="running").update(
            status="queued", claim=None, lease_expires_at=None, due_at=timezone.now()
        )
        if not changed or txn.run.status in FINISHED_RUN:
            return False
        step = Step.objects.get(pk=step_id)
        txn.emit("step.queued", step, {"reason": reason, "attempt": step.attempt})
        txn.resumed = True
        txn.queue(step)
        metrics.SWEEPER_REQUEUES.labels(reason).inc()
        return True
