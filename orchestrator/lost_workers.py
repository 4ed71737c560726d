"""Worker processes that died holding steps, found without waiting for the steps' leases.

A step names the process that holds it: ``<host>:<pid namespace>:<pid>``. Two ways to know that
process is gone:

- its Celery parent saw it die: a pool process killed mid-step (by a signal, the OOM killer)
  makes the parent raise WorkerLostError for its job, and the step task's request releases that
  process's steps there and then (:class:`orchestrator.tasks.StepRequest`);
- the sweeper runs on the same machine and in the same pid namespace and finds no such process,
  or one started after the step's lease was last renewed (the pid was reused): a whole worker
  that died, parent and all.

A holder on another machine (or in another container) cannot be seen: its steps come back when
their lease runs out (STEP_LEASE_SECONDS + SWEEP_SECONDS).
"""

from __future__ import annotations

import os
import socket
from datetime import datetime, timedelta
from functools import lru_cache

import psutil
from django.db.models import Q

from orchestrator.models import Step
from orchestrator.sweeper import requeue_running
from orchestrator.transitions import lease_seconds

REASON = "worker process died"


@lru_cache(maxsize=1)
def _here() -> str:
    """This machine and pid namespace, as the start of the names of its processes."""
    try:
        namespace = str(os.stat("/proc/self/ns/pid").st_ino)
    except OSError:  # no /proc (not Linux): never judged from here
        namespace = "-"
    return f"{socket.gethostname()}:{namespace}:"


def worker_name(pid: int | None = None) -> str:
    """How a step names the process that holds it (this one, or the pool process ``pid``)."""
    return f"{_here()}{pid or os.getpid()}"


def release_steps_of(worker: str) -> list[int]:
    """Re-queue at once the running steps of a process known to be dead."""
    held = Step.objects.filter(status="running", worker=worker).values_list("pk", "run_id")
    return [
        step_id
        for step_id, run_id in list(held)
        if requeue_running(step_id, run_id, Q(worker=worker), REASON)
    ]


def release_dead_local_holders() -> list[int]:
    """Re-queue the running steps whose holder ran on this machine and namespace and is gone."""
    if _here().endswith(":-:"):
        return []
    held = Step.objects.filter(status="running", worker__startswith=_here()).values_list(
        "pk", "run_id", "worker", "lease_expires_at"
    )
    released = []
    for step_id, run_id, worker, lease_expires_at in list(held):
        if lease_expires_at is None:
            continue
        renewed = lease_expires_at - timedelta(seconds=lease_seconds())
        still_held = Q(worker=worker, lease_expires_at=lease_expires_at)
        if _gone(worker, renewed) and requeue_running(step_id, run_id, still_held, REASON):
            released.append(step_id)
    return released


def _gone(worker: str, renewed: datetime) -> bool:
    try:
        process = psutil.Process(int(worker.rsplit(":", 1)[1]))
        # A process started after the holder last renewed its lease is not the holder.
        return process.create_time() > renewed.timestamp() or (
            process.status() == psutil.STATUS_ZOMBIE
        )
    except (psutil.NoSuchProcess, ValueError):
        return True
