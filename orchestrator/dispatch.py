"""Sending steps to the Celery workers.

Tasks are sent by name through the Celery app, so the run side never imports the task module
(which imports the run side to do its work): the transitions say *what* to run, this module
how it travels.
"""

from __future__ import annotations

from typing import Any

from orchestrator.celery import app

EXECUTE_STEP = "orchestrator.tasks.execute_step"


def send_new(run_id: Any, queued: list[tuple[int, float, bool]]) -> None:
    """Send the tasks of steps just made runnable: (step id, countdown seconds, pure node).

    The run id and whether the node is pure travel with the step id, so the task starts
    without a query to look them up."""
    for step_id, countdown, pure in queued:
        app.send_task(
            EXECUTE_STEP,
            (step_id,),
            {"run_id": str(run_id), "pure": pure},
            countdown=countdown if countdown > 0 else None,
        )


def resend(step_ids: list[int]) -> None:
    """Send tasks for steps by id alone (the task looks up their run). A duplicate message is
    harmless: only one claim of a step can succeed."""
    for step_id in step_ids:
        app.send_task(EXECUTE_STEP, (step_id,))
