"""Sending a step asks for no result.

Steps are sent by task name (orchestrator.dispatch), and Celery's ``send_task`` does not read
``task_ignore_result`` for a name it has no task object for: unless told, every message made the
sender's result consumer SUBSCRIBE to a Redis channel (``celery-task-meta-<id>``) for a result
that never comes, and UNSUBSCRIBE again when the discarded AsyncResult was collected: two Redis
commands and their bookkeeping for each step a worker sends (a map's 10,000 items: 20,000).
Counted on the Redis server (INFO commandstats).
"""

from __future__ import annotations

import redis
from django.conf import settings

from orchestrator import dispatch

MESSAGES = 20


def subscribes() -> int:
    with redis.Redis.from_url(settings.REDIS_URL) as server:
        stats = server.info("commandstats")
    return int(stats.get("cmdstat_subscribe", {}).get("calls", 0))


def test_sending_steps_subscribes_to_no_result() -> None:
    before = subscribes()
    # Ids of no step: a worker that takes these finds nothing to run.
    dispatch.resend([2_000_000_000 + n for n in range(MESSAGES - 1)])
    dispatch.send_new("00000000-0000-0000-0000-000000000000", [(2_100_000_000, 0.0, False)])
    # Other processes on this server may subscribe meanwhile, but not once per message of ours.
    assert subscribes() - before < MESSAGES
