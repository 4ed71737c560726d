"""One long-lived asyncio loop per process, in a daemon thread.

Celery tasks are synchronous, but the engine's nodes and providers are async, and the channel
layer is async too. Running a fresh loop per step (``asyncio.run``) would rebuild every HTTP and
Redis connection each time (PITFALLS.md: about 7 ms per ``group_send``). Instead each process
keeps one loop, started lazily (so it is created after Celery forks its pool), and synchronous
code hands it coroutines.
"""

from __future__ import annotations

import asyncio
import os
import threading
from collections.abc import Coroutine
from concurrent.futures import Future
from typing import Any, TypeVar

T = TypeVar("T")

_lock = threading.Lock()
_loop: asyncio.AbstractEventLoop | None = None
_pid: int | None = None


def background_loop() -> asyncio.AbstractEventLoop:
    global _loop, _pid
    with _lock:
        if _loop is None or _pid != os.getpid():
            loop = asyncio.new_event_loop()
            thread = threading.Thread(
                target=loop.run_forever, name="orchestrator-loop", daemon=True
            )
            thread.start()
            _loop, _pid = loop, os.getpid()
        return _loop


def submit(coro: Coroutine[Any, Any, T]) -> Future[T]:
    """Schedule ``coro`` on the process loop; returns a concurrent Future."""
    return asyncio.run_coroutine_threadsafe(coro, background_loop())


def run(coro: Coroutine[Any, Any, T], timeout: float | None = None) -> T:
    """Run ``coro`` on the process loop and wait for its result from this (non-loop) thread."""
    return submit(coro).result(timeout)
