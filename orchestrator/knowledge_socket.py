"""``/ws/knowledge/<base>/``: a knowledge base's document progress, live, for its page.

The workers push each document's progress to the base's group (:mod:`knowledge.live`); this
socket joins that group once the person is found to be a member of the base's workspace, and
forwards what comes. As the run socket does, it also joins the person's access group first
(:mod:`orchestrator.revocation`), so a membership removed while the page is open closes it with
4403 before one more document of that workspace is pushed. Nothing is replayed: the page reads
the documents when the socket opens (again), and polls them while it is not open.
"""

from __future__ import annotations

import uuid
from typing import Any

from channels.db import database_sync_to_async
from channels.generic.websocket import AsyncJsonWebsocketConsumer

from knowledge.api import bases_of
from knowledge.live import base_group
from orchestrator import metrics
from orchestrator.revocation import access_group
from orchestrator.socket_auth import user_of

CLOSE_FORBIDDEN = 4403


class KnowledgeBaseConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    base_id: str | None = None
    workspace_id: int | None = None
    group: str | None = None
    access: str | None = None

    async def connect(self) -> None:
        await self.accept()
        metrics.WEBSOCKETS_OPEN.labels("knowledge").inc()
        user = await user_of(self.scope)
        if user is None or not getattr(user, "is_authenticated", False):
            await self.close(code=CLOSE_FORBIDDEN)
            return
        try:
            self.base_id = str(uuid.UUID(str(self.scope["url_route"]["kwargs"]["base_id"])))
        except ValueError:  # a malformed id is simply not a base the person can see
            await self.close(code=CLOSE_FORBIDDEN)
            return
        # Joined before the check: a removal committed between the check and the join would
        # otherwise go unheard and leave this socket open.
        self.access = access_group(user.pk)
        await self.channel_layer.group_add(self.access, self.channel_name)
        self.workspace_id = await self._workspace()
        if self.workspace_id is None:
            await self._leave_groups()
            await self.close(code=CLOSE_FORBIDDEN)
            return
        self.group = base_group(self.base_id)
        await self.channel_layer.group_add(self.group, self.channel_name)
        await self.send_json({"type": "ready"})

    async def disconnect(self, code: int) -> None:
        metrics.WEBSOCKETS_OPEN.labels("knowledge").dec()
        await self._leave_groups()

    async def _leave_groups(self) -> None:
        group, access = self.group, self.access
        self.group = self.access = None  # cleared first: not one more push goes out
        if group is not None:
            await self.channel_layer.group_discard(group, self.channel_name)
        if access is not None:
            await self.channel_layer.group_discard(access, self.channel_name)

    @database_sync_to_async
    def _workspace(self) -> int | None:
        """The base's workspace if the person is a member of it, else None."""
        found = (
            bases_of(self.scope["user"])
            .filter(pk=self.base_id)
            .values_list("workspace_id", flat=True)
        )
        return next(iter(found), None)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def access_changed(self, message: dict[str, Any]) -> None:
        """The person's membership of some workspace changed: still allowed to watch?"""
        if self.group is None or message.get("workspace") != self.workspace_id:
            return
        if await self._workspace() is None:
            await self._leave_groups()
            await self.close(code=CLOSE_FORBIDDEN)

    async def document_progress(self, message: dict[str, Any]) -> None:
        if self.group is not None:
            await self.send_json(message)

    async def documents_changed(self, message: dict[str, Any]) -> None:
        if self.group is not None:
            await self.send_json(message)
