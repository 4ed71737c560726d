"""The bare-Celery floor of ``bench/map.py``: a no-op task that, like a map item, starts the next
one when it finishes.

The benchmark's worker imports this module beside the project's tasks (``celery worker
--include bench.map_tasks``, given as ``CELERY_WORKER_INCLUDE``), so the floor runs on the very
worker, pool and broker settings the map runs on. ``hop(key, left)`` does nothing but send
``hop(key, left - 1)`` (with the priority new steps are sent with) and, at the end of its lane,
push ``key`` onto a Redis list the benchmark waits on. Nothing in the product imports it.
"""

from __future__ import annotations

import functools
import os
from typing import Any

from celery import shared_task

HOP = "bench.map.hop"
NEW_WORK = 3  # orchestrator.dispatch.NEW_WORK: the priority every new step is sent with


@functools.cache
def _redis() -> Any:
    import redis

    return redis.Redis.from_url(os.environ["REDIS_URL"])


@shared_task(name=HOP, ignore_result=True)
def hop(key: str, left: int) -> None:
    if left > 1:
        hop.apply_async((key, left - 1), priority=NEW_WORK)
    else:
        _redis().rpush(key, 1)
