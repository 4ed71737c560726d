"""What waits in the broker's queue, read from Redis: how many messages, and which steps' messages.

Kept apart from orchestrator.dispatch (which sends, through the Celery app) so that what only reads
the queue (the sweeper, /metrics) imports no Celery app: the app's worker signals import the
metrics, which must not import the app back.
"""

from __future__ import annotations

import json

import redis
from django.conf import settings

# The task a step's message runs (orchestrator.tasks), by name: the run side sends it by name and
# recognises its messages in the queue by it.
EXECUTE_STEP = "orchestrator.tasks.execute_step"

# Celery's Redis transport keeps a queue's waiting messages in one list per priority step
# ("celery", "celery\x06\x163", …), each a JSON envelope whose headers name the task and repr its
# arguments.
QUEUE = "celery"
PRIORITY_SEPARATOR = "\x06\x16"
PRIORITY_STEPS = (0, 3, 6, 9)
# Past this many waiting messages the queue is not read through (a sweep every few seconds must
# stay cheap); a lost message then waits until the queue is shorter.
MAX_READ = 20_000


def _queue_keys() -> list[str]:
    """The broker's Redis lists of the queue: one per priority step (kombu's Redis transport)."""
    return [QUEUE, *(f"{QUEUE}{PRIORITY_SEPARATOR}{step}" for step in PRIORITY_STEPS[1:])]


def queued_messages() -> int | None:
    """How many messages wait in the broker's queue (all tasks, every priority); None when the
    broker does not answer."""
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=5
        )
        with client:
            pipe = client.pipeline(transaction=False)
            for key in _queue_keys():
                pipe.llen(key)
            return sum(int(n) for n in pipe.execute())
    except redis.RedisError:
        return None


def waiting_steps() -> set[int] | None:
    """The ids of the steps whose messages wait in the broker's queue; None when it cannot tell
    (unreachable, or the queue is longer than MAX_READ)."""
    keys = _queue_keys()
    try:
        client = redis.Redis.from_url(
            settings.CELERY_BROKER_URL, socket_connect_timeout=1, socket_timeout=5
        )
        with client:
            pipe = client.pipeline(transaction=False)
            for key in keys:
                pipe.llen(key)
            if sum(int(n) for n in pipe.execute()) > MAX_READ:
                return None
            for key in keys:
                pipe.lrange(key, 0, -1)
            lists = pipe.execute()
    except redis.RedisError:
        return None
    return {step for raw in (raw for items in lists for raw in items) if (step := _step_of(raw))}


def _step_of(raw: bytes) -> int | None:
    """The step id a waiting message carries, if it is a step's message."""
    try:
        headers = json.loads(raw)["headers"]
        if headers["task"] != EXECUTE_STEP:
            return None
        return int(str(headers["argsrepr"]).strip("(),[] "))
    except (ValueError, KeyError, TypeError):
        return None
