"""Sending steps to the Celery workers.

Tasks are sent by name through the Celery app, so the run side never imports the task module
(which imports the run side to do its work): the transitions say *what* to run, this module
how it travels.
"""

from __future__ import annotations

import logging
from typing import Any

from orchestrator.broker_queue import EXECUTE_STEP
from orchestrator.celery import app

# Celery's Redis transport serves a lower priority number first. Work already under way goes
# before new work: a step re-queued from a dead worker or re-sent after a lost message, and the
# sweeper (sent by beat with no priority, which the transport counts as 0), are not left behind
# a backlog of new steps; new steps keep their order among themselves.
NEW_WORK = 3
RESUMED_WORK = 0

log = logging.getLogger(__name__)


def send_new(run_id: Any, queued: list[tuple[int, float, bool]], *, resumed: bool = False) -> None:
    """Send the tasks of steps just made runnable: (step id, countdown seconds, pure node);
    ``resumed``: steps whose work was under way (see RESUMED_WORK).

    The run id and whether the node is pure travel with the step id, so the task starts
    without a query to look them up."""
    for index, (step_id, countdown, pure) in enumerate(queued):
        sent = _send(
            (step_id,),
            {"run_id": str(run_id), "pure": pure},
            countdown=countdown if countdown > 0 else None,
            priority=RESUMED_WORK if resumed else NEW_WORK,
        )
        if not sent:
            _unsent(len(queued) - index)
            return


def resend(step_ids: list[int]) -> None:
    """Send tasks for steps by id alone (the task looks up their run). A duplicate message is
    harmless: only one claim of a step can succeed."""
    for index, step_id in enumerate(step_ids):
        if not _send((step_id,), {}, countdown=None, priority=RESUMED_WORK):
            _unsent(len(step_ids) - index)
            return


# Publishing retries briefly, then gives up: the steps are queued rows in the database already,
# which makes them an outbox. The sweeper sends every queued step that was not taken in time
# (STEP_RESEND_SECONDS) once the broker answers again, so a run started while the broker is down
# is stored, answered, and runs when it is back, instead of the request failing after the commit.
RETRY_POLICY = {"max_retries": 2, "interval_start": 0, "interval_step": 0.2, "interval_max": 0.2}


def _send(
    args: tuple[Any, ...], kwargs: dict[str, Any], countdown: float | None, priority: int
) -> bool:
    try:
        app.send_task(
            EXECUTE_STEP,
            args,
            kwargs,
            countdown=countdown,
            priority=priority,
            retry=True,
            retry_policy=RETRY_POLICY,
            # By name, send_task does not read task_ignore_result: without this every message
            # subscribed the sender to a result channel that nothing ever publishes to.
            ignore_result=True,
        )
    except Exception:  # the broker is unreachable (kombu and redis raise several kinds)
        log.warning("could not reach the broker to send step %s", args[0], exc_info=True)
        return False
    return True


def _unsent(count: int) -> None:
    log.warning("%d step(s) not sent; the sweeper sends them once the broker answers again", count)
