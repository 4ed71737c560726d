"""Health endpoints for load balancers and orchestrators (compose, Kubernetes).

- ``/healthz``: liveness. The process is up and serving requests; it touches nothing else, so a
  database outage does not get every web process restarted on top of it.
- ``/readyz``: readiness. The database and Redis answer, and at least one Celery worker answers
  a ping: a run started now would be taken. 503 naming what is missing otherwise.
"""

from __future__ import annotations

import redis
from django.conf import settings
from django.db import connection
from django.http import HttpRequest, JsonResponse
from django.views.decorators.cache import never_cache

# How long /readyz waits for a worker's answer to its ping (the first answer ends the wait).
WORKER_PING_SECONDS = 1.0


@never_cache
def healthz(request: HttpRequest) -> JsonResponse:
    """200 while the process serves requests."""
    return JsonResponse({"status": "ok"})


def _database() -> str:
    try:
        with connection.cursor() as cursor:
            cursor.execute("SELECT 1")
        return "ok"
    except Exception as exc:  # any failure means "not ready"; the value says which
        return f"error: {exc.__class__.__name__}"


def _redis() -> str:
    try:
        client = redis.Redis.from_url(
            settings.REDIS_URL, socket_connect_timeout=1, socket_timeout=1
        )
        try:
            client.ping()
        finally:
            client.close()
        return "ok"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


def live_workers(timeout: float = WORKER_PING_SECONDS) -> int:
    """How many Celery workers answered a ping within ``timeout`` (at least one ends the wait)."""
    from orchestrator.celery import app

    replies = app.control.ping(timeout=timeout, limit=1) or []
    return len(replies)


def _workers() -> str:
    try:
        return "ok" if live_workers() else "error: no worker answered"
    except Exception as exc:
        return f"error: {exc.__class__.__name__}"


@never_cache
def readyz(request: HttpRequest) -> JsonResponse:
    """200 when the database, Redis and at least one worker answer; 503 naming what does not."""
    checks = {"database": _database(), "redis": _redis()}
    # Without Redis no ping can travel: say so once instead of waiting out the ping's timeout.
    checks["workers"] = _workers() if checks["redis"] == "ok" else "error: Redis is down"
    ready = all(value == "ok" for value in checks.values())
    return JsonResponse(
        {"status": "ok" if ready else "unavailable", **checks}, status=200 if ready else 503
    )
