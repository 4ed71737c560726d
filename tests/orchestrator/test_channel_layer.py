"""The layer's group send (orchestrator.channel_layer) on the real Redis: what channels_redis's
own does, step for step, in fewer round trips."""

from __future__ import annotations

import asyncio
import time
import uuid
from typing import Any

from channels_redis.core import RedisChannelLayer
from django.conf import settings

from orchestrator.channel_layer import ChannelLayer


def layer(**config: Any) -> ChannelLayer:
    return ChannelLayer(hosts=[{"address": settings.REDIS_URL}], **config)


async def drained(of: Any, channel: str) -> list[dict[str, Any]]:
    """Every message waiting on ``channel``, in order."""
    got = []
    while True:
        try:
            async with asyncio.timeout(0.2):
                got.append(await of.receive(channel))
        except TimeoutError:
            return got


def test_every_member_gets_the_message_as_from_the_librarys_own_send() -> None:
    async def scenario() -> None:
        ours = layer()
        group = f"send.{uuid.uuid4().hex[:8]}"
        channels = [await ours.new_channel() for _ in range(3)]
        for channel in channels:
            await ours.group_add(group, channel)
        await ours.group_send(group, {"type": "note", "n": 1})
        await RedisChannelLayer.group_send(ours, group, {"type": "note", "n": 2})
        await ours.group_send(group, {"type": "note", "n": 3})
        for channel in channels:
            assert [m["n"] for m in await drained(ours, channel)] == [1, 2, 3]
            await ours.group_discard(group, channel)
        await ours.close_pools()

    asyncio.run(scenario())


def test_a_group_nobody_is_in_takes_the_message_without_a_word() -> None:
    async def scenario() -> None:
        ours = layer()
        await ours.group_send(f"send.{uuid.uuid4().hex[:8]}", {"type": "note"})
        await ours.close_pools()

    asyncio.run(scenario())


def test_a_full_channel_misses_the_message_and_the_others_get_it() -> None:
    async def scenario() -> None:
        # Two processes' layers: a process's channels share one Redis key, and its capacity.
        ours, theirs = layer(capacity=2), layer(capacity=2)
        group = f"send.{uuid.uuid4().hex[:8]}"
        full, free = await ours.new_channel(), await theirs.new_channel()
        await ours.group_add(group, full)
        await ours.group_add(group, free)
        await ours.send(full, {"type": "note", "n": "a"})
        await ours.send(full, {"type": "note", "n": "b"})
        await ours.group_send(group, {"type": "note", "n": "c"})
        assert [m["n"] for m in await drained(ours, full)] == ["a", "b"]
        assert [m["n"] for m in await drained(theirs, free)] == ["c"]
        await ours.group_discard(group, full)
        await ours.group_discard(group, free)
        await ours.close_pools()
        await theirs.close_pools()

    asyncio.run(scenario())


def test_a_member_past_the_groups_expiry_is_dropped_and_gets_nothing() -> None:
    async def scenario() -> None:
        ours = layer(group_expiry=60)
        group = f"send.{uuid.uuid4().hex[:8]}"
        gone, here = await ours.new_channel(), await ours.new_channel()
        await ours.group_add(group, here)
        await ours.group_add(group, gone)
        connection = ours.connection(ours.consistent_hash(group))
        # ``gone`` joined two minutes ago and never renewed: past the group's expiry.
        await connection.zadd(ours._group_key(group), {gone: int(time.time()) - 120})
        await ours.group_send(group, {"type": "note", "n": "fresh"})
        members = await connection.zrange(ours._group_key(group), 0, -1)
        assert [member.decode() for member in members] == [here]
        assert [m["n"] for m in await drained(ours, here)] == ["fresh"]
        assert await drained(ours, gone) == []
        await ours.group_discard(group, here)
        await ours.close_pools()

    asyncio.run(scenario())
