"""The Celery app: settings from Django's ``CELERY_*``, tasks from every app's ``tasks`` module."""

from __future__ import annotations

import os

from celery import Celery, signals

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "orchestrator.settings")

app = Celery("orchestrator")
app.config_from_object("django.conf:settings", namespace="CELERY")
# Celery's Django fixup closes every database connection before and after each task unless
# CELERY_DB_REUSE_MAX is set: a new PostgreSQL connection (a forked backend, authentication,
# session setup) for every step. With this it leaves them open, and Django's own rule for
# reusing a connection (CONN_MAX_AGE, health checks, errors) is applied after each task below,
# as Django does after each request. Workers never take the web process's connection pool
# (settings.py: only FLOWBUILDER_PROCESS=web pools), so no pool is created before Celery forks.
app.conf.CELERY_DB_REUSE_MAX = 1_000_000_000
app.autodiscover_tasks()


@signals.task_postrun.connect
def _close_old_connections(**_: object) -> None:
    from django.db import close_old_connections

    close_old_connections()


@signals.task_postrun.connect
def _trim_memory(**_: object) -> None:
    from orchestrator.memory import trim_if_grown

    trim_if_grown()


@signals.after_setup_logger.connect
@signals.after_setup_task_logger.connect
def _app_log_format(logger: object, **_: object) -> None:
    """Celery's handlers (its -l level kept) write the app's format, with ids and no secrets."""
    import logging

    from orchestrator.logs import adopt

    if isinstance(logger, logging.Logger):
        adopt(logger)


@signals.worker_process_shutdown.connect
def _forget_live_gauges(pid: int | None = None, **_: object) -> None:
    """A pool process ended: its live gauges (prometheus multiprocess mode) stop counting."""
    import os

    from orchestrator import tracing
    from orchestrator.metrics import mark_process_dead

    mark_process_dead(pid or os.getpid())
    tracing.flush()  # the spans its batch still holds


@signals.worker_init.connect
def _serve_worker_metrics(**_: object) -> None:
    """WORKER_METRICS_PORT: this worker's processes' metrics, served by its main process."""
    from django.conf import settings

    if settings.WORKER_METRICS_PORT:
        from orchestrator.metrics import serve_worker_metrics

        serve_worker_metrics(settings.WORKER_METRICS_PORT, settings.WORKER_METRICS_ADDRESS)
