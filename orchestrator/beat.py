"""Beat's heartbeat: is the one process that schedules the sweeper alive?

Celery beat answers no ping. Its scheduler here is Celery's own (the schedule file of
CELERY_BEAT_SCHEDULE_FILENAME) that also writes, at most every HEARTBEAT_SECONDS as it ticks, a
Redis key naming its host and process with the time. ``flowbuilder manage beat_health`` (the
compose file's health check of the beat container) and ``/metrics``
(``flowbuilder_beat_heartbeat_age_seconds``) read it. A heartbeat that cannot be written (Redis
down) is logged and beat goes on: the sweeper's messages could not be sent either.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from dataclasses import dataclass
from typing import Any

import redis
from celery.beat import PersistentScheduler
from django.conf import settings

log = logging.getLogger(__name__)

KEY = "flowbuilder:beat:heartbeat"
HEARTBEAT_SECONDS = 5.0
# A heartbeat older than this is gone (beat stopped long ago): the key expires.
KEPT_SECONDS = 3600


@dataclass(frozen=True)
class Heartbeat:
    at: float  # seconds since the epoch
    host: str
    pid: int

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now if now is not None else time.time()) - self.at)


def _client() -> redis.Redis:
    return redis.Redis.from_url(settings.REDIS_URL, socket_connect_timeout=2, socket_timeout=2)


def write_heartbeat(client: redis.Redis | None = None) -> None:
    value = json.dumps({"at": time.time(), "host": socket.gethostname(), "pid": os.getpid()})
    own = client is None
    client = client or _client()
    try:
        client.set(KEY, value, ex=KEPT_SECONDS)
    finally:
        if own:
            client.close()


def last_heartbeat(client: redis.Redis | None = None) -> Heartbeat | None:
    """Beat's last heartbeat, None when there is none (no beat has run for an hour, or ever).
    Raises redis.RedisError when Redis does not answer."""
    own = client is None
    client = client or _client()
    try:
        raw = client.get(KEY)
    finally:
        if own:
            client.close()
    if raw is None:
        return None
    try:
        found = json.loads(raw)
        return Heartbeat(float(found["at"]), str(found["host"]), int(found["pid"]))
    except (ValueError, KeyError, TypeError):
        return None


class HeartbeatScheduler(PersistentScheduler):
    """Celery's persistent scheduler, with a heartbeat as it ticks."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._beaten = 0.0
        self._redis: redis.Redis | None = None

    def tick(self, *args: Any, **kwargs: Any) -> float:
        wait = super().tick(*args, **kwargs)
        now = time.monotonic()
        if now - self._beaten >= HEARTBEAT_SECONDS:
            self._beaten = now
            try:
                self._redis = self._redis or _client()
                write_heartbeat(self._redis)
            except redis.RedisError as exc:
                log.warning("beat could not write its heartbeat: %s", exc)
        return min(wait, HEARTBEAT_SECONDS)
