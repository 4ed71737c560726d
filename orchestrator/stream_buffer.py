"""The text a running step has streamed so far, kept in Redis for sockets that connect mid-step.

Streamed chunks are not events (they would flood the event log), so a page opened while a step
streams used to see its text only from the next chunk on. Now the worker that broadcasts a chunk
first appends it here, one entry per (run, step, round, attempt):

- ``<base>:text``: the text so far (APPEND), at most :data:`MAX_BYTES`; past that the worker stops
  appending, so the text is always a *prefix* of what was streamed;
- ``<base>:meta``: a hash with ``chunks`` (how many chunks were streamed, stored or not) and
  ``truncated`` (1 once the cap was hit).

Every chunk carries its index (0, 1, ...) and a snapshot the number of chunks it holds, so a socket
keeps exactly the live chunks whose index is at or past that number. An index rather than a
character offset because Python, JavaScript and Redis count a string's length differently (code
points, UTF-16 units, bytes): a chunk count means the same everywhere.

Keys are never deleted: the worker does not learn here when its step ends, and a snapshot is only
read for steps the database says are running, with the attempt it names, so an old key is never
shown. Each append renews a TTL of :data:`TTL_SECONDS`, which reclaims the memory.
"""

from __future__ import annotations

import asyncio
import weakref
from dataclasses import dataclass

from django.conf import settings
from redis.asyncio import Redis

TTL_SECONDS = 3600
MAX_BYTES = 256 * 1024

_clients: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Redis] = weakref.WeakKeyDictionary()


def client() -> Redis:
    """A Redis client on the running loop's own connections (redis.asyncio pools are bound to
    the loop they first ran on: the worker's process loop, Daphne's loop)."""
    event_loop = asyncio.get_running_loop()
    found = _clients.get(event_loop)
    if found is None:
        # A bounded wait: a stalled Redis must not hold up the broadcasts queued behind a chunk.
        found = Redis.from_url(settings.REDIS_URL, socket_timeout=5, socket_connect_timeout=5)
        _clients[event_loop] = found
    return found


def stream_key(run_id: object, step_key: str, round_: int, attempt: int) -> str:
    # The step key last: it is the one part that may contain ':'; the others are fixed-form.
    return f"flow:stream:{run_id}:{round_}:{attempt}:{step_key}"


@dataclass(frozen=True)
class Snapshot:
    text: str
    chunks: int
    truncated: bool


@dataclass
class Appender:
    """What one attempt's worker has stored so far (it alone writes the attempt's key, so it can
    keep the byte count itself instead of asking Redis)."""

    key: str
    limit: int = MAX_BYTES
    stored: int = 0
    truncated: bool = False

    async def append(self, redis: Redis, index: int, text: str) -> None:
        """Store chunk ``index``; one round trip (a MULTI/EXEC pipeline)."""
        data = text.encode()
        if not self.truncated and self.stored + len(data) > self.limit:
            self.truncated = True
        async with redis.pipeline(transaction=True) as pipe:
            if self.truncated:
                # Said again on every chunk from now on: cheap, and it still gets there when the
                # append that first went past the cap (or failed, below) did not.
                pipe.hset(f"{self.key}:meta", "truncated", 1)
            else:
                pipe.append(f"{self.key}:text", data)
            pipe.hset(f"{self.key}:meta", "chunks", index + 1)
            pipe.expire(f"{self.key}:text", TTL_SECONDS)
            pipe.expire(f"{self.key}:meta", TTL_SECONDS)
            try:
                await pipe.execute()
            except Exception:
                # This chunk is not stored: storing later ones would leave a hole in the middle
                # of the text, so stop at the prefix we have, as at the cap.
                self.truncated = True
                raise
        if not self.truncated:
            self.stored += len(data)


async def read(redis: Redis, keys: list[str]) -> list[Snapshot | None]:
    """The snapshots of ``keys`` (None where nothing was streamed), in one round trip."""
    if not keys:
        return []
    async with redis.pipeline(transaction=True) as pipe:
        for key in keys:
            pipe.get(f"{key}:text")
            pipe.hgetall(f"{key}:meta")
        replies = await pipe.execute()
    found: list[Snapshot | None] = []
    for text, meta in zip(replies[::2], replies[1::2], strict=True):
        if not meta:
            found.append(None)
            continue
        found.append(
            Snapshot(
                # A chunk is stored whole or not at all, so the bytes always decode.
                text=(text or b"").decode(),
                chunks=int(meta.get(b"chunks", 0)),
                truncated=meta.get(b"truncated") == b"1",
            )
        )
    return found
