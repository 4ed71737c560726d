"""The channel layer: channels_redis, with a connection pool that waits instead of refusing and a
group send in fewer round trips.

channels_redis builds redis-py's plain pool, which holds at most 100 connections and raises
``MaxConnectionsError`` for the 101st: a burst of sockets joining their groups at once (a team
opening a shared run, a reconnect storm after a deploy) made some joins fail, and those sockets
were closed with 1011. A blocking pool of the same size queues the extra commands for a free
connection instead; each takes well under a millisecond, so a thousand joins wait briefly rather
than fail.

Its ``group_send`` waits for four round trips to Redis one after the other (drop the group's
expired members, read the members, drop each member channel's expired messages, run the script
that adds the message), two when nobody is in the group. Every run transaction of a worker sends
one (orchestrator.publisher), on the process loop its model steps run on. Here the same commands
go in two pipelines, one when nobody listens.
"""

from __future__ import annotations

import logging
import time
from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

log = logging.getLogger(__name__)

# Connections per pool (the layer keeps one pool per event loop and host) and how long a command
# may wait for one before it fails after all.
MAX_CONNECTIONS = 100
WAIT_SECONDS = 20

# channels_redis's script that puts the message on each member channel's key that is below its
# capacity, and counts those that are not (channels_redis 4.3's group_send, word for word).
GROUP_SEND_LUA = """
    local over_capacity = 0
    local current_time = ARGV[#ARGV - 1]
    local expiry = ARGV[#ARGV]
    for i=1,#KEYS do
        if redis.call('ZCOUNT', KEYS[i], '-inf', '+inf') < tonumber(ARGV[i + #KEYS]) then
            redis.call('ZADD', KEYS[i], current_time, ARGV[i])
            redis.call('EXPIRE', KEYS[i], expiry)
        else
            over_capacity = over_capacity + 1
        end
    end
    return over_capacity
"""


class ChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("max_connections", MAX_CONNECTIONS)
        host.setdefault("timeout", WAIT_SECONDS)
        return BlockingConnectionPool.from_url(address, **host)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Send ``message`` to every channel of ``group``: what channels_redis's own does, in
        the same order, each step's commands in one pipeline."""
        assert self.require_valid_group_name(group), "Group name not valid"
        key = self._group_key(group)
        connection = self.connection(self.consistent_hash(group))
        async with connection.pipeline(transaction=False) as pipe:
            pipe.zremrangebyscore(key, min=0, max=int(time.time()) - self.group_expiry)
            pipe.zrange(key, 0, -1)
            _, members = await pipe.execute()
        if not members:
            return
        channel_names = [member.decode("utf8") for member in members]
        by_connection, messages, capacities = self._map_channel_keys_to_connection(
            channel_names, message
        )
        for index, channel_keys in by_connection.items():
            async with self.connection(index).pipeline(transaction=False) as pipe:
                for channel_key in channel_keys:
                    pipe.zremrangebyscore(
                        channel_key, min=0, max=int(time.time()) - int(self.expiry)
                    )
                pipe.eval(
                    GROUP_SEND_LUA,
                    len(channel_keys),
                    *channel_keys,
                    *(messages[channel_key] for channel_key in channel_keys),
                    *(capacities[channel_key] for channel_key in channel_keys),
                    time.time(),
                    self.expiry,
                )
                over_capacity = (await pipe.execute())[-1]
            if over_capacity > 0:
                log.info(
                    "%s of %s channels over capacity in group %s",
                    over_capacity,
                    len(channel_names),
                    group,
                )
