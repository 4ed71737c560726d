"""``/ws/runs/<id>/?after=<seq>``: every event of a run, in order, no gap, no duplicate; and
``/ws/notifications/``: what concerns the signed-in person (approvals opened and decided).

Live events come from the process's hub (:mod:`orchestrator.fanout`): one subscription per run
per Daphne process, each event encoded once and written to every local socket of the run
(:meth:`RunConsumer.offer`). On connect the socket subscribes *first*, then sends the stored
events after ``after``; live events offered meanwhile wait in its ``pending`` queue. From then on
it keeps ``last_seq``: an event at or below it is a duplicate and dropped; an event that skips
ahead means a broadcast was lost or overtaken, so the missing ones are read from the database
first, while later live events wait behind them. Streamed chunks carry no seq and pass straight
through, except those already in a snapshot this socket was sent.

Streamed text is not in the event log, so after the catch-up the socket gets, for each step
running at connect, one ``step.chunk`` with ``"snapshot": true`` holding the text streamed so far
(from Redis, :mod:`orchestrator.stream_buffer`); the client replaces that step's text with it.

Membership is checked at connect and again whenever it changes: every run socket of a signed-in
person also follows their access group (:mod:`orchestrator.revocation`, through the process's hub:
one membership of the group for all their sockets), and on ``access.changed`` a run socket of a
workspace they no longer belong to is closed with 4403. The notification socket
checks each approval message as it is delivered, so an approval opened (or decided) just before
the person lost their place is not pushed once they have lost it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import parse_qs

from channels.consumer import get_handler_name
from channels.db import database_sync_to_async
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from orchestrator import fanout, metrics, run_reads, stream_buffer
from orchestrator.access import approvals_of
from orchestrator.approvals import eligible, role_in
from orchestrator.models import Approval
from orchestrator.publisher import run_group, user_group
from orchestrator.socket_auth import user_of

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
CLOSE_SERVER_ERROR = 1011
# Daphne sends no WebSocket message over 1 MiB (its websocket_max_message_size, which also bounds
# what clients may send; the text is ASCII, json.dumps escaping the rest): an event longer than
# this (the output of a map of thousands of items) goes out without its data, marked with its
# length as "clipped", and the client reads it whole from the events API.
WIRE_EVENT_CHARS = 512 * 1024
RUN_ENDED = frozenset({"run.succeeded", "run.failed", "run.cancelled"})


class RunConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    # No channel of its own: the process's hub receives the run's events and the person's access
    # changes for it (orchestrator/fanout.py). A channel would cost each socket a name, a receive
    # buffer and a task waiting on it for its whole life, for nothing ever sent there. (Channels
    # makes none when the alias names no configured layer.)
    channel_layer_alias = None
    run_id: str
    last_seq: int
    # Set once the run's last event (run.succeeded/failed/cancelled) went out: nothing can follow
    # it, so pings need not look in the database any more.
    ended: bool = False
    group: str | None = None
    person: object | None = None  # whose access changes this socket follows (their user id)
    workspace_id: int | None = None
    # (step, round, attempt) -> how many chunks of it the snapshot sent held
    snapshot_chunks: dict[tuple[object, object, object], int]
    # Live events offered while the socket is busy with the database (connecting, a ping's
    # catch-up, a gap's repair: ``_holds`` > 0), with their JSON, taken in order when it is done.
    pending: deque[tuple[dict[str, Any], str]]
    _holds: int = 0
    # When the last read that left nothing unsent after last_seq was set off (time.monotonic()):
    # every event committed before then has gone out.
    read_at: float = float("-inf")

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> None:
        # With no channel layer (above) the client's messages are the only ones, so they are
        # taken one after another here: Channels' loop made a task and an asyncio.wait for each
        # message, to listen to a layer's channel beside the client.
        self.scope = scope
        self.channel_layer = None
        self.base_send = send
        with contextlib.suppress(StopConsumer):
            while True:
                await self.dispatch(await receive())

    async def connect(self) -> None:
        self.snapshot_chunks = {}
        self.pending = deque()
        self._busy = asyncio.Lock()
        self._repairs: set[asyncio.Task[None]] = set()
        self._connected = asyncio.Event()
        self._opening: asyncio.Task[None] | None = None
        await self.accept()
        metrics.WEBSOCKETS_OPEN.labels("run").inc()
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.last_seq = max(int(query.get("after", ["0"])[0]), 0)
        except ValueError:
            self._connected.set()
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        try:
            # In the form events name their run by (the process's subscriptions are keyed by it).
            self.run_id = str(uuid.UUID(str(self.scope["url_route"]["kwargs"]["run_id"])))
        except ValueError:  # a malformed id is simply not a run the user can see
            self._connected.set()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # The login, the subscription and the reads go on in a task of their own, so that the
        # socket's messages are heard meanwhile: a ping that came before the opening read set
        # off is answered by that read (receive_json), not by another trip to the database.
        self._opening = asyncio.get_running_loop().create_task(self._open())

    async def _open(self) -> None:
        try:
            await self._connect()
        except asyncio.CancelledError:
            raise
        except Exception:
            # As an exception in connect would have ended the socket (Channels' 1011).
            log.exception("could not open the event stream of run %s", self.run_id)
            await self._leave_groups()
            await self.close(code=CLOSE_SERVER_ERROR)
        finally:
            self._connected.set()

    async def _connect(self) -> None:
        user = await user_of(self.scope)
        if user is not None and getattr(user, "is_authenticated", False):
            # Followed before the check: a removal committed between the check and the join would
            # otherwise go unheard and leave this socket open.
            self.person = user.pk
            await fanout.hub().follow_access(self.person, self)
        self.group = run_group(self.run_id)
        await self._alone(self._start)
        if self.workspace_id is None:
            await self._leave_groups()
            await self.close(code=CLOSE_FORBIDDEN)

    async def _start(self) -> None:
        # Subscribed first: live events are offered from the moment the process's subscription
        # to the run is in place (watch returns), and wait in ``pending`` until the catch-up
        # below went out. Then one read (shared with the sockets of the run opening at the same
        # time, orchestrator.run_reads): may the person watch, which steps are running (before
        # the catch-up, so each one's step.started, committed with its attempt, is in the
        # catch-up, before its snapshot), and the events after ``after``.
        await fanout.hub().watch(self.run_id, self)
        user = self.scope.get("user")
        opening = await run_reads.reads().opening(self.run_id, user, self.last_seq)
        if opening.workspace_id is None:
            # Not one live event for a socket that may not watch: dropped before any goes out.
            self.group = None
            self.pending.clear()
            await fanout.hub().unwatch(self.run_id, self)
            return
        self.workspace_id = opening.workspace_id
        for event in opening.events:
            await self._send_event(event)
        if len(opening.events) == run_reads.BATCH:
            await self._catch_up(until=None)
        else:
            self.read_at = opening.read_at
        await self._send_snapshots(opening.running)

    async def dispatch(self, message: dict[str, Any]) -> None:
        # Channels' own dispatch first hops to the database thread to close stale connections,
        # before every handler: a thousand sockets opening at once queued two thousand such hops
        # (connect, first ping) ahead of their reads. Every database read here goes through
        # database_sync_to_async, which closes stale connections around the read itself.
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"No handler for message type {message['type']}")
        await handler(message)

    async def disconnect(self, code: int) -> None:
        metrics.WEBSOCKETS_OPEN.labels("run").dec()
        opening = self._opening
        if opening is not None and not opening.done():
            # Gone before it was subscribed and caught up: no join may land after the leave.
            opening.cancel()
            with contextlib.suppress(BaseException):
                await opening
        await self._leave_groups()

    async def _leave_groups(self) -> None:
        watching, person = self.group, self.person
        # Cleared before anything is awaited, so not one more live event goes out.
        self.group = self.person = None
        self.pending.clear()
        if watching is not None:
            await fanout.hub().unwatch(self.run_id, self)
        if person is not None:
            await fanout.hub().unfollow_access(person, self)

    def recheck(self, message: dict[str, Any]) -> None:
        """From the hub: the person's membership of some workspace changed (see
        :meth:`access_changed`); checked in a task, the hub goes on with other sockets."""
        task = asyncio.get_running_loop().create_task(self._recheck(message))
        self._repairs.add(task)
        task.add_done_callback(self._repairs.discard)

    async def _recheck(self, message: dict[str, Any]) -> None:
        try:
            # After the connect, as Channels would have dispatched the message: a change the
            # connect's own check did not see must find the workspace the socket watches.
            await self._connected.wait()
            await self.access_changed(message)
        except Exception:
            log.exception("could not check again who may watch run %s", self.run_id)

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The person's membership of some workspace changed: still allowed to watch?"""
        if self.group is None or message.get("workspace") != self.workspace_id:
            return
        if await self._watched_workspace() is None:
            # Leave the run first, so not one more event goes out before the close.
            await self._leave_groups()
            await self.close(code=CLOSE_FORBIDDEN)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Clients only listen, and ping now and then. A ping is also a chance to repair a gap
        # no later broadcast would reveal: channels_redis drops a message silently when the
        # channel is full (a burst of streamed chunks), and if that was a run's last
        # transaction, nothing after it would show the gap. So send what the database has
        # after our last seq first.
        if isinstance(content, dict) and content.get("type") == "ping":
            pinged = time.monotonic()
            await self._connected.wait()  # the opening read first, as it always went
            if self.group is not None and not self.ended:
                await self._alone(lambda: self._catch_up_since(pinged))
            await self.send_json({"type": "pong", "last_seq": self.last_seq})

    async def _catch_up_since(self, pinged: float) -> None:
        """Everything committed before ``pinged`` sent: a read set off since has seen it all
        (the opening one, for a ping sent as the socket opened), else one now."""
        if self.read_at < pinged:
            await self._catch_up(until=None)

    # -- live events, from the process's hub (orchestrator.fanout) --------------------------------

    def offer(self, event: dict[str, Any], text: str) -> Awaitable[None] | None:
        """One live event (``text`` is its JSON, encoded once for every socket of the run).

        Called by the hub for each event in order, without Channels' dispatch: an event that
        follows the last one sent is written at once (the hub awaits the returned write);
        anything else is queued for :meth:`_take`, which reads the database."""
        if self.group is None:
            return None
        if self._holds:
            self.pending.append((event, text))
            return None
        seq = event.get("seq")
        if seq is None:
            return None if self._in_snapshot(event) else self._write(event, text)
        if seq <= self.last_seq:
            return None
        if seq > self.last_seq + 1:
            # A broadcast was lost or overtaken: the missing events come from the database,
            # and until they went out, later ones wait behind them.
            self.pending.append((event, text))
            self._holds += 1
            task = asyncio.get_running_loop().create_task(self._alone(None, held=True))
            self._repairs.add(task)
            task.add_done_callback(self._repairs.discard)
            return None
        self._sent(event)
        return self._write(event, text)

    async def _alone(self, work: Callable[[], Awaitable[None]] | None, held: bool = False) -> None:
        """Do ``work`` while live events wait in ``pending``, then take those in order.

        One at a time (a ping's catch-up and a gap's repair must not send the same events
        twice); ``held`` says the caller already counted this hold (so no event slipped past
        between its decision and this task's start)."""
        if not held:
            self._holds += 1
        try:
            async with self._busy:
                if work is not None:
                    await work()
                while self.pending and self.group is not None:
                    event, text = self.pending.popleft()
                    await self._take(event, text)
        except Exception:
            if work is None:  # a repair task: nobody awaits it, the next ping tries again
                log.exception("could not repair the event stream of run %s", self.run_id)
                return
            raise
        finally:
            self._holds -= 1

    async def _take(self, event: dict[str, Any], text: str) -> None:
        """A queued live event, with the database's help where one is missing before it."""
        seq = event.get("seq")
        if seq is None:
            if not self._in_snapshot(event):
                await self._write(event, text)
            return
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            await self._catch_up(until=seq - 1)
            if seq <= self.last_seq:
                return
        self._sent(event)
        await self._write(event, text)

    def _write(self, event: dict[str, Any], text: str) -> Awaitable[None]:
        message = {"type": "websocket.send", "text": on_the_wire(event, text)}
        return self.base_send(message)  # type: ignore[no-any-return]

    def _sent(self, event: dict[str, Any]) -> None:
        self.last_seq = event["seq"]
        if event.get("type") in RUN_ENDED:
            self.ended = True

    async def _send_event(self, event: dict[str, Any]) -> None:
        if event["seq"] <= self.last_seq:
            return
        self._sent(event)
        await self._write(event, json.dumps(event))

    async def _catch_up(self, until: int | None) -> None:
        while True:
            read = await run_reads.reads().events_after(self.run_id, self.last_seq, until)
            for event in read.events:
                await self._send_event(event)
            if len(read.events) < run_reads.BATCH:
                if until is None:
                    self.read_at = read.read_at
                return

    async def _send_snapshots(self, running: list[tuple[str, str, int, int]]) -> None:
        """The text each running step streamed so far, one message per step.

        Why nothing is lost or doubled: a worker stores each chunk before broadcasting it
        (orchestrator.publisher), and this socket subscribed to the run before reading the store.
        So a chunk not in the snapshot was broadcast after the read, hence after the join, and
        reaches this socket live; a chunk in it may reach the socket live as well (broadcast
        after the join), and is dropped by its index (``_in_snapshot``). Live chunks wait in
        ``pending`` until the snapshot went out, so they all come after it.
        """
        if not running:
            return
        keys = [stream_buffer.stream_key(self.run_id, k, r, a) for k, _, r, a in running]
        try:
            snapshots = await stream_buffer.read(stream_buffer.client(), keys)
        except Exception:  # the socket then shows the text from the next chunk on, as before
            log.exception("could not read the streamed text of run %s", self.run_id)
            return
        for (key, node, round_, attempt), snapshot in zip(running, snapshots, strict=True):
            if snapshot is None:
                continue  # nothing streamed yet: every chunk will come live
            self.snapshot_chunks[(key, round_, attempt)] = snapshot.chunks
            await self.send_json(
                {
                    "seq": None,
                    "type": "step.chunk",
                    "run": self.run_id,
                    "step": key,
                    "node": node,
                    "status": "running",
                    "data": {
                        "text": snapshot.text,
                        "attempt": attempt,
                        "round": round_,
                        "snapshot": True,
                        "chunks": snapshot.chunks,
                        "truncated": snapshot.truncated,
                    },
                    "ts": None,
                }
            )

    def _in_snapshot(self, event: dict[str, Any]) -> bool:
        """Whether this live chunk is already in the snapshot sent for its step."""
        data = event.get("data") or {}
        index = data.get("index")
        if event.get("type") != "step.chunk" or not isinstance(index, int):
            return False
        held = self.snapshot_chunks.get((event.get("step"), data.get("round"), data.get("attempt")))
        return held is not None and index < held

    @database_sync_to_async
    def _watched_workspace(self) -> int | None:
        return run_reads.watched_workspace(self.run_id, self.scope.get("user"))


def on_the_wire(event: dict[str, Any], text: str) -> str:
    """``text`` (the event's JSON), or for an event too long to send, the event without its
    data and with ``"clipped": <its length>`` (see WIRE_EVENT_CHARS)."""
    if len(text) <= WIRE_EVENT_CHARS:
        return text
    slim = {name: event.get(name) for name in ("seq", "type", "run", "step", "node", "status")}
    return json.dumps({**slim, "data": {}, "ts": event.get("ts"), "clipped": len(text)})


class NotificationConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/notifications/``: the signed-in person's notifications, as JSON::

        {"type": "approval.opened" | "approval.decided", "approval": {...the API's shape...}}

    Anonymous sockets are closed with 4403. Notifications are not stored: a client that was
    away reads ``GET /api/approvals/?mine=1`` when it (re)connects.
    """

    group: str | None = None

    async def connect(self) -> None:
        await self.accept()
        metrics.WEBSOCKETS_OPEN.labels("notifications").inc()
        user = await user_of(self.scope)
        if user is None or not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "ready"})

    async def disconnect(self, code: int) -> None:
        metrics.WEBSOCKETS_OPEN.labels("notifications").dec()
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def _forward(self, message: dict[str, Any]) -> None:
        await self.send_json(message)

    async def approval_opened(self, message: dict[str, Any]) -> None:
        # The recipients were chosen when the approval opened; the person may have been removed
        # or demoted since (the message waits in Redis meanwhile): ask again before pushing.
        if await self._may_decide(message):
            await self._forward(message)

    async def approval_decided(self, message: dict[str, Any]) -> None:
        if await self._sees(message):
            await self._forward(message)

    @staticmethod
    def _approval_id(message: dict[str, Any]) -> str | None:
        approval = message.get("approval")
        found = approval.get("id") if isinstance(approval, dict) else None
        return str(found) if found else None

    @database_sync_to_async
    def _may_decide(self, message: dict[str, Any]) -> bool:
        user = self.scope.get("user")
        approval = Approval.objects.filter(pk=self._approval_id(message)).first()
        if approval is None:
            return False
        return eligible(approval, user.get_username(), role_in(approval.workspace_id, user))

    @database_sync_to_async
    def _sees(self, message: dict[str, Any]) -> bool:
        return approvals_of(self.scope.get("user")).filter(pk=self._approval_id(message)).exists()
