"""A worker's pool process that dies mid-step (killed, out of memory) is seen by its parent at
once: Celery raises WorkerLostError for the job in the parent process. The step task's requests
release the dead process's steps right there, so another process runs them within moments
instead of after their lease runs out. (A whole worker that dies, parent and all, is left to the
lease and the sweeper: nobody sees it die.)
"""

from __future__ import annotations

import logging
from typing import Any

from billiard.einfo import ExceptionWithTraceback
from billiard.exceptions import WorkerLostError
from celery import Task
from celery.worker.request import Request
from django.db import connections

from orchestrator.execution import worker_name
from orchestrator.sweeper import release_steps_of

log = logging.getLogger(__name__)


class StepRequest(Request):  # type: ignore[misc]
    def on_failure(
        self, exc_info: Any, send_failed_event: bool = True, return_ok: bool = False
    ) -> Any:
        exc = exc_info.exception
        if isinstance(exc, ExceptionWithTraceback):  # how the pool hands it over
            exc = exc.exc
        if isinstance(exc, WorkerLostError) and self.worker_pid:
            dead = worker_name(self.worker_pid)
            try:
                released = release_steps_of(dead)
                log.warning("pool process %s died; its steps %s are queued again", dead, released)
            except Exception:  # the lease and the sweeper still bring the step back
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
