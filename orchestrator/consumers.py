"""``/ws/runs/<id>/?after=<seq>``: every event of a run, in order, no gap, no duplicate; and
``/ws/notifications/``: what concerns the signed-in person (approvals opened and decided).

On connect the consumer joins the run's group *first*, then sends the stored events after
``after``; live events that arrive meanwhile wait in the consumer's queue (Channels handles one
message at a time). From then on it keeps ``last_seq``: an event at or below it is a duplicate
and dropped; an event that skips ahead means a broadcast was lost or overtaken, so the missing
ones are read from the database first. Streamed chunks carry no seq and pass straight through,
except those already in a snapshot this socket was sent.

Streamed text is not in the event log, so after the catch-up the socket gets, for each step
running at connect, one ``step.chunk`` with ``"snapshot": true`` holding the text streamed so far
(from Redis, :mod:`orchestrator.stream_buffer`); the client replaces that step's text with it.

Membership is checked at connect and again whenever it changes: every socket of a signed-in
person also joins their access group (:mod:`orchestrator.revocation`), and on ``access.changed`` a
run socket of a workspace they no longer belong to is closed with 4403. The notification socket
checks each approval message as it is delivered, so an approval opened (or decided) just before
the person lost their place is not pushed once they have lost it.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import parse_qs

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from orchestrator import stream_buffer
from orchestrator.access import approvals_of, runs_of
from orchestrator.approvals import eligible, role_in
from orchestrator.models import Approval, Event, Step
from orchestrator.publisher import run_group, user_group
from orchestrator.revocation import access_group

log = logging.getLogger(__name__)

CLOSE_FORBIDDEN = 4403
CLOSE_BAD_REQUEST = 4400
CATCH_UP_BATCH = 500
RUN_ENDED = frozenset({"run.succeeded", "run.failed", "run.cancelled"})


class RunConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    run_id: str
    last_seq: int
    # Set once the run's last event (run.succeeded/failed/cancelled) went out: nothing can follow
    # it, so pings need not look in the database any more.
    ended: bool = False
    group: str | None = None
    access: str | None = None
    workspace_id: int | None = None
    # (step, round, attempt) -> how many chunks of it the snapshot sent held
    snapshot_chunks: dict[tuple[object, object, object], int]

    async def connect(self) -> None:
        self.snapshot_chunks = {}
        await self.accept()
        self.run_id = str(self.scope["url_route"]["kwargs"]["run_id"])
        query = parse_qs(self.scope.get("query_string", b"").decode())
        try:
            self.last_seq = max(int(query.get("after", ["0"])[0]), 0)
        except ValueError:
            await self.close(code=CLOSE_BAD_REQUEST)
            return
        user = self.scope.get("user")
        if user is not None and getattr(user, "is_authenticated", False):
            # Joined before the check: a removal committed between the check and the join would
            # otherwise go unheard and leave this socket open.
            self.access = access_group(user.pk)
            await self.channel_layer.group_add(self.access, self.channel_name)
        self.workspace_id = await self._watched_workspace()
        if self.workspace_id is None:
            await self._leave_groups()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = run_group(self.run_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        # Which steps run is read after joining the group and before the catch-up, so each one's
        # step.started (committed with its attempt) is in the catch-up, before its snapshot.
        running = await self._running_steps()
        await self._catch_up(until=None)
        await self._send_snapshots(running)

    async def disconnect(self, code: int) -> None:
        await self._leave_groups()

    async def _leave_groups(self) -> None:
        for group in (self.group, self.access):
            if group is not None:
                await self.channel_layer.group_discard(group, self.channel_name)
        self.group = self.access = None

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The person's membership of some workspace changed: still allowed to watch?"""
        if self.group is None or message.get("workspace") != self.workspace_id:
            return
        if await self._watched_workspace() is None:
            # Leave the run's group first, so not one more event goes out before the close.
            await self._leave_groups()
            await self.close(code=CLOSE_FORBIDDEN)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        # Clients only listen, and ping now and then. A ping is also a chance to repair a gap
        # no later broadcast would reveal: channels_redis drops a message silently when the
        # channel is full (a burst of streamed chunks), and if that was a run's last
        # transaction, nothing after it would show the gap. So send what the database has
        # after our last seq first.
        if isinstance(content, dict) and content.get("type") == "ping":
            if self.group is not None and not self.ended:
                await self._catch_up(until=None)
            await self.send_json({"type": "pong", "last_seq": self.last_seq})

    async def run_events(self, message: dict[str, Any]) -> None:
        """The events one transaction committed, in seq order."""
        if self.group is None:
            return  # closed for lost access; messages already queued are not for us any more
        for event in message["events"]:
            await self.run_event({"event": event})

    async def run_event(self, message: dict[str, Any]) -> None:
        if self.group is None:
            return
        event = message["event"]
        seq = event.get("seq")
        if seq is None:
            if not self._in_snapshot(event):
                await self.send_json(event)
            return
        if seq <= self.last_seq:
            return
        if seq > self.last_seq + 1:
            await self._catch_up(until=seq - 1)
            if seq <= self.last_seq:
                return
        await self._send_event(event)

    async def _send_event(self, event: dict[str, Any]) -> None:
        await self.send_json(event)
        self.last_seq = event["seq"]
        if event.get("type") in RUN_ENDED:
            self.ended = True

    async def _catch_up(self, until: int | None) -> None:
        while True:
            batch = await self._events_after(self.last_seq, until)
            for event in batch:
                await self._send_event(event)
            if len(batch) < CATCH_UP_BATCH:
                return

    async def _send_snapshots(self, running: list[tuple[str, str, int, int]]) -> None:
        """The text each running step streamed so far, one message per step.

        Why nothing is lost or doubled: a worker stores each chunk before broadcasting it
        (orchestrator.publisher), and this socket joined the group before reading the store.
        So a chunk not in the snapshot was broadcast after the read, hence after the join, and
        reaches this socket live; a chunk in it may reach the socket live as well (broadcast
        after the join), and is dropped by its index (``_in_snapshot``). Live chunks wait in the
        consumer's queue until connect() returns, so they all come after the snapshot.
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
    def _running_steps(self) -> list[tuple[str, str, int, int]]:
        return list(
            Step.objects.filter(run_id=self.run_id, status="running").values_list(
                "key", "node_id", "round", "attempt"
            )
        )

    @database_sync_to_async
    def _watched_workspace(self) -> int | None:
        """The run's workspace if the user may watch the run (is a member of it), else None."""
        user = self.scope.get("user")
        try:
            found: int | None = (
                runs_of(user).filter(pk=self.run_id).values_list("workspace_id", flat=True).first()
            )
        except Exception:  # a malformed id is simply not a run the user can see
            return None
        return found

    @database_sync_to_async
    def _events_after(self, after: int, until: int | None) -> list[dict[str, Any]]:
        events = Event.objects.filter(run_id=self.run_id, seq__gt=after)
        if until is not None:
            events = events.filter(seq__lte=until)
        return [event.to_message() for event in events.order_by("seq")[:CATCH_UP_BATCH]]


class NotificationConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    """``/ws/notifications/``: the signed-in person's notifications, as JSON::

        {"type": "approval.opened" | "approval.decided", "approval": {...the API's shape...}}

    Anonymous sockets are closed with 4403. Notifications are not stored: a client that was
    away reads ``GET /api/approvals/?mine=1`` when it (re)connects.
    """

    group: str | None = None

    async def connect(self) -> None:
        await self.accept()
        user = self.scope.get("user")
        if user is None or not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = user_group(user.pk)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "ready"})

    async def disconnect(self, code: int) -> None:
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
