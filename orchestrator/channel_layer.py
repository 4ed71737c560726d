"""The channel layer: channels_redis with a connection pool that waits instead of refusing.

channels_redis builds redis-py's plain pool, which holds at most 100 connections and raises
``MaxConnectionsError`` for the 101st: a burst of sockets joining their groups at once (a team
opening a shared run, a reconnect storm after a deploy) made some joins fail, and those sockets
were closed with 1011. A blocking pool of the same size queues the extra commands for a free
connection instead; each takes well under a millisecond, so a thousand joins wait briefly rather
than fail.
"""

from __future__ import annotations

from typing import Any

from channels_redis.core import RedisChannelLayer
from redis.asyncio import BlockingConnectionPool

# Connections per pool (the layer keeps one pool per event loop and host) and how long a command
# may wait for one before it fails after all.
MAX_CONNECTIONS = 100
WAIT_SECONDS = 20


class ChannelLayer(RedisChannelLayer):  # type: ignore[misc]
    def create_pool(self, index: int) -> Any:
        host = dict(self.hosts[index])
        address = host.pop("address")
        host.setdefault("max_connections", MAX_CONNECTIONS)
        host.setdefault("timeout", WAIT_SECONDS)
        return BlockingConnectionPool.from_url(address, **host)
