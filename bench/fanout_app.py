"""What bench/fanout.py's Daphne serves: the product, and two anchors.

``/ws/naive/<run>/`` is what Channels gives out of the box, its auth middleware included: each
socket joins the run's group with a channel of its own, and every broadcast reaches it as a
channel-layer message dispatched to a handler that encodes and sends each event. No membership
check, no catch-up: it only forwards.

``/ws/bare/<run>/`` is the floor of opening a socket on this machine: a plain ASGI app that
accepts and answers pings, nothing else (no middleware, no database, no Redis). What the product
takes above it is what its own connect costs.

``GET /bench/spans/`` answers (and forgets) when each socket opened since the last call reached
the application, was accepted, sent its first message and got its pong, and how long the
process spent collecting garbage meanwhile: where a connect's time goes, from inside Daphne.
"""

from __future__ import annotations

import cProfile
import gc
import json
import os
import time
from typing import Any

from channels.auth import AuthMiddlewareStack
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.routing import ProtocolTypeRouter, URLRouter
from channels.security.websocket import AllowedHostsOriginValidator
from django.urls import path

from orchestrator.asgi import application as product  # sets Django up first
from orchestrator.asgi import http_app
from orchestrator.publisher import run_group

if os.environ.get("FANOUT_BENCH_LAYER") == "pubsub":
    from django.conf import settings

    # Before any socket asks for the layer (the layers are made on first use).
    settings.CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {"hosts": [{"address": settings.REDIS_URL}]},
        }
    }


class NaiveRunConsumer(AsyncJsonWebsocketConsumer):  # type: ignore[misc]
    group: str | None = None

    async def connect(self) -> None:
        await self.accept()
        self.group = run_group(self.scope["url_route"]["kwargs"]["run_id"])
        await self.channel_layer.group_add(self.group, self.channel_name)

    async def disconnect(self, code: int) -> None:
        if self.group is not None:
            await self.channel_layer.group_discard(self.group, self.channel_name)

    async def receive_json(self, content: Any, **kwargs: Any) -> None:
        if isinstance(content, dict) and content.get("type") == "ping":
            await self.send_json({"type": "pong"})

    async def run_events(self, message: dict[str, Any]) -> None:
        for event in message["events"]:
            await self.send_json(event)

    async def run_event(self, message: dict[str, Any]) -> None:
        await self.send_json(message["event"])


naive = AllowedHostsOriginValidator(
    AuthMiddlewareStack(URLRouter([path("ws/naive/<str:run_id>/", NaiveRunConsumer.as_asgi())]))
)


async def bare(scope: Any, receive: Any, send: Any) -> None:
    while True:
        message = await receive()
        if message["type"] == "websocket.connect":
            await send({"type": "websocket.accept"})
        elif message["type"] == "websocket.receive":
            if '"ping"' in (message.get("text") or ""):
                await send({"type": "websocket.send", "text": '{"type": "pong"}'})
        elif message["type"] == "websocket.disconnect":
            return


class LoopProfile:
    """With ``FANOUT_BENCH_PROFILE=<dir>``: cProfile of the event loop's thread from the first
    socket after each ``/bench/spans/`` until the next, written there as ``<n>.prof``."""

    def __init__(self, directory: str | None) -> None:
        self.directory = directory
        self.profiler: cProfile.Profile | None = None
        self.taken = 0

    def socket_opened(self) -> None:
        if self.directory and self.profiler is None:
            self.profiler = cProfile.Profile()
            self.profiler.enable()

    def take(self) -> None:
        if self.profiler is None:
            return
        self.profiler.disable()
        self.taken += 1
        self.profiler.dump_stats(os.path.join(str(self.directory), f"{self.taken}.prof"))
        self.profiler = None


profile = LoopProfile(os.environ.get("FANOUT_BENCH_PROFILE"))


def timed_trips() -> dict[str, list[tuple[int, float, float]]]:
    """The database trips of the sockets (logins, run reads), timed where they run, on the
    database thread: (sockets, start, seconds) of each."""
    from orchestrator import run_reads, socket_auth

    trips: dict[str, list[tuple[int, float, float]]] = {"logins": [], "reads": []}

    def timing(name: str, work: Any) -> Any:
        def timed(batch: list[Any]) -> Any:
            started = time.time()
            try:
                return work(batch)
            finally:
                trips[name].append((len(batch), started, time.time() - started))

        return timed

    run_reads.read_all = timing("reads", run_reads.read_all)
    socket_auth.users_of = timing("logins", socket_auth.users_of)
    return trips


trips = timed_trips() if os.environ.get("FANOUT_BENCH_TRIPS") else None


class Spans:
    """Per socket: when it reached the application, was accepted, sent its first message (the
    client's ping) and got its pong; and the garbage collector's time, by generation."""

    def __init__(self) -> None:
        self.sockets: list[dict[str, float]] = []
        self.gc: dict[str, float] = {}
        self._gc_started = 0.0
        gc.callbacks.append(self._collecting)

    def _collecting(self, phase: str, info: dict[str, Any]) -> None:
        if phase == "start":
            self._gc_started = time.perf_counter()
        else:
            key = f"gen{info['generation']}"
            self.gc[key] = self.gc.get(key, 0.0) + time.perf_counter() - self._gc_started

    def take(self) -> dict[str, Any]:
        # Objects the collector tracks (those frozen at the start left out): what its full
        # passes walk, most of it the open sockets'.
        tracked = len(gc.get_objects())
        taken = {"sockets": self.sockets, "gc": self.gc, "tracked": tracked}
        self.sockets, self.gc = [], {}
        return taken

    def wrap(self, app: Any) -> Any:
        async def timed(scope: Any, receive: Any, send: Any) -> Any:
            span = {"app": time.time()}
            self.sockets.append(span)
            profile.socket_opened()

            async def timed_receive() -> Any:
                message = await receive()
                if message["type"] == "websocket.receive":
                    span.setdefault("ping", time.time())
                return message

            async def timed_send(message: dict[str, Any]) -> Any:
                if message["type"] == "websocket.accept":
                    span["accept"] = time.time()
                elif (
                    message["type"] == "websocket.send"
                    and "pong" not in span
                    and '"pong"' in (message.get("text") or "")
                ):
                    span["pong"] = time.time()
                return await send(message)

            return await app(scope, timed_receive, timed_send)

        return timed


spans = Spans()


async def websocket_app(scope: Any, receive: Any, send: Any) -> None:
    """The anchors; everything else as the product serves it."""
    if scope["path"].startswith("/ws/naive/"):
        await naive(scope, receive, send)
    elif scope["path"].startswith("/ws/bare/"):
        await bare(scope, receive, send)
    else:
        await product(scope, receive, send)


async def bench_http(scope: Any, receive: Any, send: Any) -> None:
    if scope["path"] != "/bench/spans/":
        await http_app(scope, receive, send)
        return
    profile.take()
    taken = spans.take()
    if trips is not None:
        taken["trips"] = {name: list(done) for name, done in trips.items()}
        for done in trips.values():
            done.clear()
    body = json.dumps(taken).encode()
    await send(
        {
            "type": "http.response.start",
            "status": 200,
            "headers": [(b"content-type", b"application/json")],
        }
    )
    await send({"type": "http.response.body", "body": body})


application = ProtocolTypeRouter({"http": bench_http, "websocket": spans.wrap(websocket_app)})
