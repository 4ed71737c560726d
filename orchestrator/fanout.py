"""Live events to the run sockets of one Daphne process: one subscription per run, not per socket.

A run's events are broadcast to its channel-layer group (:mod:`orchestrator.publisher`). Instead
of every socket joining that group with a channel of its own (one channel-layer message, one
msgpack decode, one thread hop into Channels' dispatch and one JSON encode per socket and event),
the process keeps one :class:`Hub` per event loop. The hub has one channel; it joins a run's
group when the first local socket starts watching the run and leaves it when the last one goes.
Each message that comes in is decoded once, each event in it serialised to JSON once, and the
text written to every local socket of that run in the same pass, through the socket's own ASGI
``send``.

What a socket may receive is still decided per socket (its last seq, the streamed text its
snapshot held), by :class:`Watcher`'s implementation in :mod:`orchestrator.consumers`: the hub
only offers each event with its text, in the order the layer delivered them. A socket that is
busy (connecting, answering a ping, repairing a gap from the database) keeps what it is offered
in a queue of its own and works through it when it is done, so nothing overtakes its catch-up.

The person's access group (:mod:`orchestrator.revocation`) is followed the same way: the hub joins
it once for all the local run sockets of that person, and an ``access.changed`` message is passed
to each of them (:meth:`Watcher.recheck`), which reads its membership again. A thousand sockets
opening at once thus join no group in Redis of their own (two commands each, and as many again
when they close), only the hub's first join of each run and person.

Measured against the per-socket design with ``bench/fanout.py`` (figures in bench/README.md).
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import weakref
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from channels.layers import get_channel_layer

from orchestrator.publisher import run_group
from orchestrator.revocation import ACCESS_CHANGED, access_group

log = logging.getLogger(__name__)

# A run's group membership expires in channels_redis after ``group_expiry`` (a day by default);
# the hub renews its memberships well before that, for runs watched that long (a waiting gate).
RENEW_SECONDS = 3600.0
# After the layer failed to deliver (Redis restarting), wait this long before asking again.
RETRY_SECONDS = 0.5


class Watcher(Protocol):
    """A socket watching a run (the run consumer)."""

    def offer(self, event: dict[str, Any], text: str) -> Any:
        """Take ``event`` (``text`` is its JSON) now, or queue it; returns an awaitable or None."""

    def recheck(self, message: dict[str, Any]) -> None:
        """The person's membership of ``message["workspace"]`` changed: check it again (in a task
        of the watcher's own: the hub does not wait for the database)."""


@dataclass
class Feed:
    """The local watchers of one group (a run's, or a person's access group), and the hub's
    membership of it."""

    group: str
    watchers: set[Watcher] = field(default_factory=set)
    # Joins and leaves of the group, one at a time: a leave still on its way when a new watcher
    # joins would otherwise land after the join and leave the watcher deaf.
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    member: bool = False
    joined_at: float = 0.0


class Hub:
    """One per event loop (Daphne runs one): see the module's docstring."""

    def __init__(self) -> None:
        self.layer = get_channel_layer()
        self.channel: str | None = None
        self.feeds: dict[str, Feed] = {}  # by group
        self._channel_lock = asyncio.Lock()
        self._tasks: tuple[asyncio.Task[None], ...] = ()
        self._joins = GroupJoins(self.layer)

    async def _own_channel(self) -> str:
        if self.channel is None:
            async with self._channel_lock:
                if self.channel is None:
                    # The default prefix: channels_redis reads all of a process's channels from
                    # one list named by it, and a channel with another prefix would wait for the
                    # consumers' reads of that list to time out before its own could run.
                    channel = await self.layer.new_channel()
                    event_loop = asyncio.get_running_loop()
                    self._tasks = (
                        event_loop.create_task(self._receive_loop(channel)),
                        event_loop.create_task(self._renew_loop(channel)),
                    )
                    self.channel = channel
        return self.channel

    async def watch(self, run_id: str, watcher: Watcher) -> None:
        """Offer ``watcher`` every event of ``run_id`` broadcast from the moment this returns on.

        The watcher is offered events already while this waits (for the hub to join the group),
        so it must queue them until it is ready for them."""
        await self._join(run_group(run_id), watcher)

    async def unwatch(self, run_id: str, watcher: Watcher) -> None:
        await self._leave(run_group(run_id), watcher)

    async def follow_access(self, user_id: object, watcher: Watcher) -> None:
        """Pass ``watcher`` every ``access.changed`` of ``user_id`` sent from the moment this
        returns on (:meth:`Watcher.recheck`)."""
        await self._join(access_group(user_id), watcher)

    async def unfollow_access(self, user_id: object, watcher: Watcher) -> None:
        await self._leave(access_group(user_id), watcher)

    async def _join(self, group: str, watcher: Watcher) -> None:
        channel = await self._own_channel()
        feed = self.feeds.get(group)
        if feed is None:
            feed = self.feeds[group] = Feed(group=group)
        feed.watchers.add(watcher)
        async with feed.lock:
            if feed.member and time.monotonic() - feed.joined_at < RENEW_SECONDS:
                return
            try:
                await self._joins.add(group, channel)
            except BaseException:
                # This socket's connect fails as it used to; the next watcher tries again.
                self._drop(feed, watcher)
                raise
            feed.member = True
            feed.joined_at = time.monotonic()

    async def _leave(self, group: str, watcher: Watcher) -> None:
        feed = self.feeds.get(group)
        if feed is None:
            return
        feed.watchers.discard(watcher)
        async with feed.lock:
            if not feed.watchers and feed.member and self.channel is not None:
                try:
                    await self.layer.group_discard(group, self.channel)
                except Exception:  # the membership then expires; its messages are dropped here
                    log.warning("could not leave %s", group, exc_info=True)
                feed.member = False
            self._drop(feed, None)

    def _drop(self, feed: Feed, watcher: Watcher | None) -> None:
        """Forget ``watcher``, and the feed once nobody watches and the group is left."""
        if watcher is not None:
            feed.watchers.discard(watcher)
        if not feed.watchers and not feed.member and self.feeds.get(feed.group) is feed:
            del self.feeds[feed.group]

    async def _receive_loop(self, channel: str) -> None:
        while True:
            try:
                message = await self.layer.receive(channel)
            except asyncio.CancelledError:
                raise
            except Exception:  # lost messages are repaired by each socket's next ping
                log.exception("the fan-out could not receive from the channel layer")
                await asyncio.sleep(RETRY_SECONDS)
                continue
            try:
                await self.deliver(message)
            except Exception:
                log.exception("the fan-out could not deliver a message")

    async def _renew_loop(self, channel: str) -> None:
        while True:
            await asyncio.sleep(RENEW_SECONDS)
            for group, feed in list(self.feeds.items()):
                async with feed.lock:
                    if not feed.member or self.feeds.get(group) is not feed:
                        continue
                    try:
                        await self.layer.group_add(feed.group, channel)
                        feed.joined_at = time.monotonic()
                    except Exception:
                        log.warning("could not renew %s", feed.group, exc_info=True)

    async def deliver(self, message: dict[str, Any]) -> None:
        """Offer the events of one broadcast to every local watcher of their run, in order; pass
        an access change to every local socket of its person."""
        if message.get("type") == ACCESS_CHANGED:
            self._access_changed(message)
            return
        events = _events_of(message)
        if not events:
            return
        feed = self.feeds.get(run_group(str(events[0].get("run"))))
        if feed is None:
            return  # the last watcher left while the message was on its way
        watchers = list(feed.watchers)
        for event in events:
            # Encoded as AsyncJsonWebsocketConsumer.send_json would, once for every socket.
            text = json.dumps(event)
            for watcher in watchers:
                try:
                    pending = watcher.offer(event, text)
                    if pending is not None:
                        await pending
                except Exception:  # one socket's failure is not the others': they still get it
                    log.exception("could not write to a socket of run %s", event.get("run"))

    def _access_changed(self, message: dict[str, Any]) -> None:
        if "user" in message:
            feeds = [self.feeds.get(access_group(message["user"]))]
        else:  # sent without its person (by an older process): every person checks again
            everyone = access_group("")
            feeds = [feed for group, feed in self.feeds.items() if group.startswith(everyone)]
        for feed in feeds:
            for watcher in list(feed.watchers) if feed is not None else ():
                try:
                    watcher.recheck(message)
                except Exception:
                    log.exception("could not pass an access change to a socket")


class GroupJoins:
    """The hub's group joins, those asked while one trip to Redis is under way made together in
    the next (one pipeline of every group's two commands). A thousand sockets opening over a
    hundred runs asked for a hundred joins at once, and the layer made them one after another,
    two round trips each, before any of those runs could be read. A join starts at once when
    none is under way, so a socket opening alone waits no longer than it did."""

    def __init__(self, layer: Any) -> None:
        self.layer = layer
        self._asked: list[tuple[str, str, asyncio.Future[None]]] | None = None

    async def add(self, group: str, channel: str) -> None:
        # Checked here (raising as the layer's own join does), so that one bad name fails its
        # own join, not the trip it would be in.
        self.layer.require_valid_group_name(group)
        self.layer.require_valid_channel_name(channel)
        done: asyncio.Future[None] = asyncio.get_running_loop().create_future()
        if self._asked is None:
            self._asked = [(group, channel, done)]
            asyncio.get_running_loop().create_task(self._trips())
        else:
            self._asked.append((group, channel, done))
        await done

    async def _trips(self) -> None:
        while self._asked:
            batch, self._asked = self._asked, []
            try:
                await group_add_many(self.layer, [(group, channel) for group, channel, _ in batch])
            except Exception as exc:
                for _, _, done in batch:
                    if not done.done():
                        done.set_exception(exc)
            else:
                for _, _, done in batch:
                    if not done.done():
                        done.set_result(None)
        self._asked = None


async def group_add_many(layer: Any, joins: list[tuple[str, str]]) -> None:
    """``layer.group_add`` of each (group, channel), as channels_redis makes it (the channel
    added to the group's sorted set with the time as its score, then the group's expiry set),
    in one pipeline per Redis shard; one by one on another layer."""
    shards = getattr(layer, "consistent_hash", None)
    if len(joins) == 1 or shards is None or not hasattr(layer, "_group_key"):
        for group, channel in joins:
            await layer.group_add(group, channel)
        return
    by_shard: dict[int, list[tuple[str, str]]] = {}
    for group, channel in joins:
        layer.require_valid_group_name(group)
        layer.require_valid_channel_name(channel)
        by_shard.setdefault(shards(group), []).append((group, channel))
    for index, shard in by_shard.items():
        async with layer.connection(index).pipeline(transaction=False) as pipe:
            for group, channel in shard:
                key = layer._group_key(group)
                pipe.zadd(key, {channel: time.time()})
                pipe.expire(key, layer.group_expiry)
            await pipe.execute()


def _events_of(message: dict[str, Any]) -> list[dict[str, Any]]:
    kind = message.get("type")
    if kind == "run.events":
        events: Iterable[Any] = message.get("events") or ()
    elif kind == "run.event":
        events = (message.get("event"),)
    else:
        return []
    return [event for event in events if isinstance(event, dict)]


_hubs: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Hub] = weakref.WeakKeyDictionary()


def hub() -> Hub:
    """This event loop's hub (channel-layer connections are bound to the loop they run on)."""
    event_loop = asyncio.get_running_loop()
    found = _hubs.get(event_loop)
    if found is None:
        found = _hubs[event_loop] = Hub()
    return found
