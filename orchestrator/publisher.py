"""Broadcast committed events to WebSocket consumers over the channel layer.

Publishing happens after the transaction commits (``transaction.on_commit``), through one queue
per process drained by one coroutine on the process loop, so a process sends its events in the
order it committed them and reuses the channel layer's Redis connections. Events of one run can
still arrive out of order when two worker processes commit close together; the consumer repairs
that from the database (see :mod:`orchestrator.consumers`), so a broadcast is a wake-up call with
the data attached, never the only copy.
"""

from __future__ import annotations

import asyncio
import logging
import threading
from collections.abc import Awaitable, Callable
from typing import Any

from channels.layers import get_channel_layer

from orchestrator import loop, metrics

log = logging.getLogger(__name__)

# A message for a group, and what must be done (on the loop) before it goes out, if anything.
Before = Callable[[], Awaitable[None]]
Item = tuple[str, dict[str, Any], Before | None]

_queue: asyncio.Queue[Item] | None = None
_queue_lock = threading.Lock()


def run_group(run_id: object) -> str:
    return f"run.{run_id}"


def user_group(user_id: object) -> str:
    return f"user.{user_id}"


async def _drain(queue: asyncio.Queue[Item]) -> None:
    layer = get_channel_layer()
    while True:
        group, message, before = await queue.get()
        # Whatever the loop was handed beside this message goes first: a transaction that ends
        # a step both publishes its events and hands the loop the next step of its lane, and
        # that step, not the broadcast, is what the run waits for (its first slice ran about
        # 0.3 ms later behind a group_send; the broadcast waits one turn of the loop instead).
        await asyncio.sleep(0)
        if before is not None:
            # In line, not a task of its own: a streamed chunk is stored before it is broadcast,
            # which is what lets a socket that reads the stored text after joining the group
            # miss no chunk (orchestrator.stream_buffer).
            try:
                await before()
            except Exception:  # the text of a late viewer is then short; the live one is not
                log.exception("could not store a streamed chunk for %s", group)
        try:
            if layer is not None:
                await layer.group_send(group, message)
                metrics.EVENTS_DELIVERED.inc(len(message.get("events", ())))
        except Exception:  # a lost broadcast is repaired by the consumer's catch-up
            metrics.BROADCASTS_FAILED.inc()
            log.exception("could not broadcast to %s", group)


def _get_queue() -> asyncio.Queue[Item]:
    global _queue
    with _queue_lock:
        event_loop = loop.background_loop()
        if _queue is None or getattr(_queue, "_flow_loop", None) is not event_loop:
            # Never wait for the loop here: publish() is also called *on* the loop thread (a
            # running node's streamed chunks), and waiting there for the loop to create the queue
            # would deadlock the step whenever a chunk is the process's first message (as when
            # execute_step runs inside a transaction, so no on_commit broadcast comes first).
            # Since Python 3.10 a Queue binds to its loop on first use, so it can be made here.
            queue: asyncio.Queue[Item] = asyncio.Queue()
            asyncio.run_coroutine_threadsafe(_drain(queue), event_loop)
            queue._flow_loop = event_loop  # type: ignore[attr-defined]
            _queue = queue
        return _queue


def publish(group: str, message: dict[str, Any], before: Before | None = None) -> None:
    """Queue ``message`` for ``group``; returns at once. ``before`` is awaited on the process
    loop just before the message is sent, in queue order."""
    queue = _get_queue()
    loop.background_loop().call_soon_threadsafe(queue.put_nowait, (group, message, before))


def publish_events(run_id: object, events: list[dict[str, Any]]) -> None:
    """One channel message per transaction, however many events it made: a batch of pure steps
    would otherwise queue a broadcast per event behind each other and fall behind the run."""
    metrics.count_run_events(events)  # committed: the runs they start and end are real
    publish(run_group(run_id), {"type": "run.events", "events": events})
