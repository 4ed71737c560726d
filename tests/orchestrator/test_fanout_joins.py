"""The hub's group joins made together (orchestrator.fanout.GroupJoins) on the real Redis layer:
each group a pipeline joined reaches the channel, as one joined by the layer itself does."""

from __future__ import annotations

import asyncio
import uuid

from channels.layers import get_channel_layer

from orchestrator.fanout import GroupJoins, group_add_many

GROUPS = 40


async def _received(layer: object, channel: str, count: int) -> set[str]:
    got: set[str] = set()
    async with asyncio.timeout(10):
        while len(got) < count:
            message = await layer.receive(channel)  # type: ignore[attr-defined]
            got.add(message["group"])
    return got


def test_groups_joined_together_each_reach_the_channel_as_the_layers_own_join() -> None:
    async def scenario() -> None:
        layer = get_channel_layer()
        tag = uuid.uuid4().hex[:8]
        piped = [f"joins.{tag}.p{i}" for i in range(GROUPS)]
        one_by_one = f"joins.{tag}.own"
        channel = await layer.new_channel()
        await group_add_many(layer, [(group, channel) for group in piped])
        await layer.group_add(one_by_one, channel)
        for group in [*piped, one_by_one]:
            await layer.group_send(group, {"type": "note", "group": group})
        assert await _received(layer, channel, GROUPS + 1) == {*piped, one_by_one}
        # Expiring as the layer's own join does (the group's key has the layer's expiry).
        connection = layer.connection(layer.consistent_hash(piped[0]))
        ttl = await connection.ttl(layer._group_key(piped[0]))
        assert 0 < ttl <= layer.group_expiry
        for group in [*piped, one_by_one]:
            await layer.group_discard(group, channel)

    asyncio.run(scenario())


def test_joins_asked_at_once_each_reach_the_channel_and_a_bad_name_fails_alone() -> None:
    async def scenario() -> None:
        layer = get_channel_layer()
        tag = uuid.uuid4().hex[:8]
        channel = await layer.new_channel()
        joins = GroupJoins(layer)
        groups = [f"joins.{tag}.t{i}" for i in range(GROUPS)]
        results = await asyncio.gather(
            *(joins.add(group, channel) for group in groups),
            joins.add("not a valid group name!", channel),
            return_exceptions=True,
        )
        assert results[:GROUPS] == [None] * GROUPS
        assert isinstance(results[GROUPS], TypeError)
        # And a join asked after those trips ended starts a trip of its own.
        await joins.add(f"joins.{tag}.late", channel)
        for group in [*groups, f"joins.{tag}.late"]:
            await layer.group_send(group, {"type": "note", "group": group})
        assert await _received(layer, channel, GROUPS + 1) == {*groups, f"joins.{tag}.late"}
        for group in [*groups, f"joins.{tag}.late"]:
            await layer.group_discard(group, channel)

    asyncio.run(scenario())
