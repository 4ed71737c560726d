"""Requests made at the same moment from several threads, each with its own connection.

For races that only a real database shows: the threads start together at a barrier, and each
closes its own connection so the test database can be dropped afterwards. SQLite's in-memory
test database is one shared cache, so the tests that use this need PostgreSQL.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient


def require_postgres() -> None:
    if connection.vendor != "postgresql":
        pytest.skip("a race needs PostgreSQL's concurrency (SQLite's test database is shared)")


def at_once(user: User, calls: list[Callable[[APIClient], Any]]) -> list[Any]:
    """Each call made by `user` in its own thread, all released together; their results."""
    results: list[Any] = [None] * len(calls)
    barrier = threading.Barrier(len(calls))

    def run(index: int) -> None:
        client = APIClient(raise_request_exception=False)
        client.force_login(user)
        barrier.wait()
        try:
            results[index] = calls[index](client)
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return results
