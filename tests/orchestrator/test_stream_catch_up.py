"""A page opened (or reconnected) while a worker step streams gets the text streamed so far.

On real processes: a Celery worker streams a slow answer from the scripted vendor server; a
WebSocket client that joins mid-stream must receive one snapshot of the text so far, then exactly
the chunks after it, so that snapshot plus live chunks is the step's stored output.
"""

from __future__ import annotations

import asyncio
import os
import socket
import uuid
from typing import Any

import httpx
import pytest
import redis
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator import stream_buffer
from orchestrator.models import Step
from tests.orchestrator.conftest import finished, make_workflow, session_of
from tests.orchestrator.conftest import start_run as start
from tests.orchestrator.test_stack_e2e import one_llm_step
from tests.support.stack import DEFAULT_REDIS_URL, CeleryWorker, Daphne, RunSocket
from tests.support.vendor_server import Delay, Stream, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# 40 chunks a fifth of a second apart: about 8 s of streaming, so a socket opened after the
# first few chunks surely joins long before the last one.
WORDS = [f"w{i} " for i in range(39)] + ["the end."]


@pytest.fixture
def api(api: httpx.Client, stack_worker: CeleryWorker) -> httpx.Client:
    """Alice's client (conftest), once the workers are up."""
    return api


def writer_chunks(ws: RunSocket) -> list[dict[str, Any]]:
    return [c for c in ws.chunks if c["step"] == "writer"]


def read_live_chunks(ws: RunSocket, count: int) -> None:
    """Read until ``count`` live (not snapshot) chunks of the writer have arrived."""
    ws.read_until(
        lambda m: (
            m.get("type") == "step.chunk"
            and not m["data"].get("snapshot")
            and len([c for c in writer_chunks(ws) if not c["data"].get("snapshot")]) >= count
        ),
        timeout=20,
    )


def check_joined_mid_stream(ws: RunSocket, output: str) -> dict[str, Any]:
    """One snapshot, after the step started (if sent) and before any live chunk; then the live
    chunks from the snapshot's end on, none missing, none twice: together the stored output."""
    chunks = writer_chunks(ws)
    snapshots = [c for c in chunks if c["data"].get("snapshot")]
    assert len(snapshots) == 1, [c["data"] for c in chunks]
    snapshot = snapshots[0]
    assert chunks[0] is snapshot, "a live chunk came before the snapshot"
    order = [(m["type"], m.get("step"), m["data"].get("snapshot")) for m in ws.messages]
    if ("step.started", "writer", None) in order:  # not sent again to a socket that reconnects
        started = order.index(("step.started", "writer", None))
        assert started < order.index(("step.chunk", "writer", True))
    data = snapshot["data"]
    assert (data["attempt"], data["round"], data["truncated"]) == (1, 0, False)
    assert (snapshot["seq"], snapshot["status"]) == (None, "running")
    held = data["chunks"]
    assert data["text"] == "".join(WORDS[:held])
    live = chunks[1:]
    assert live, "the snapshot already held the whole answer: the socket joined too late"
    assert [c["data"]["index"] for c in live] == list(range(held, len(WORDS)))
    assert data["text"] + "".join(c["data"]["text"] for c in live) == output
    return snapshot


def test_a_socket_opened_mid_stream_gets_the_text_so_far_then_the_rest(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    stack_daphne: Daphne,
    vendor: VendorServer,
) -> None:
    vendor.push(Delay(1.0, Stream(chunks=WORDS, chunk_delay=0.2)))
    workflow = make_workflow(alice, alice_workspace, one_llm_step(), name="Late viewer")
    run_id = start(api, workflow, {"topic": "owls"})
    session = session_of(alice)
    with RunSocket(stack_daphne, run_id, after=0, session=session) as early:
        # The early socket sees chunks go out live; only then does the late one connect.
        read_live_chunks(early, 5)
        with RunSocket(stack_daphne, run_id, after=0, session=session) as late:
            late.read_until_type("run.succeeded", timeout=30)
        early.read_until_type("run.succeeded", timeout=30)
    run = finished(run_id)
    assert run.status == "succeeded"
    output = Step.objects.get(run=run, key="writer").output
    assert output == "".join(WORDS) == run.output
    snapshot = check_joined_mid_stream(late, output)
    assert snapshot["data"]["chunks"] >= 5  # at least what the early socket had seen
    # A socket there from the start gets no snapshot, and every chunk once, in order.
    assert [c["data"]["index"] for c in writer_chunks(early)] == list(range(len(WORDS)))
    assert [e["seq"] for e in late.events] == list(range(1, run.last_seq + 1))


def test_a_socket_that_reconnects_mid_stream_gets_the_text_so_far_again(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    stack_daphne: Daphne,
    vendor: VendorServer,
) -> None:
    vendor.push(Delay(1.0, Stream(chunks=WORDS, chunk_delay=0.2)))
    workflow = make_workflow(alice, alice_workspace, one_llm_step(), name="Reconnect")
    run_id = start(api, workflow, {"topic": "owls"})
    session = session_of(alice)
    with RunSocket(stack_daphne, run_id, after=0, session=session) as first:
        read_live_chunks(first, 3)
    seen = "".join(c["data"]["text"] for c in writer_chunks(first))
    last_seq = first.events[-1]["seq"]
    # Back with the last seq applied, as the browser does: no stored event is sent again, and
    # the streamed text comes whole, including what the first socket had already shown.
    with RunSocket(stack_daphne, run_id, after=last_seq, session=session) as again:
        again.read_until_type("run.succeeded", timeout=30)
    run = finished(run_id)
    output = Step.objects.get(run=run, key="writer").output
    snapshot = check_joined_mid_stream(again, output)
    assert snapshot["data"]["text"].startswith(seen)
    assert [e["seq"] for e in again.events] == list(range(last_seq + 1, run.last_seq + 1))


def test_the_stored_text_stops_at_the_cap_but_the_chunk_count_goes_on() -> None:
    """The cap keeps a prefix of whole chunks and says so; later chunks are still counted, so a
    socket still knows which live chunks come after the snapshot."""
    client = redis.Redis.from_url(os.environ.get("STACK_REDIS_URL", DEFAULT_REDIS_URL))
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis: {exc}")
    key = stream_buffer.stream_key(uuid.uuid4(), "writer:a", 0, 1)

    async def scenario() -> list[stream_buffer.Snapshot | None]:
        url = os.environ.get("STACK_REDIS_URL", DEFAULT_REDIS_URL)
        async with stream_buffer.Redis.from_url(url) as aredis:
            appender = stream_buffer.Appender(key, limit=10)
            for index, text in enumerate(["abcd", "éfg", "hijk", "l", "m"]):
                await appender.append(aredis, index, text)
            missing = stream_buffer.stream_key(uuid.uuid4(), "writer:a", 0, 1)
            return await stream_buffer.read(aredis, [key, missing])

    try:
        snapshot, missing = asyncio.run(scenario())
        # "abcd" + "éfg" is 8 bytes; "hijk" would make 12: stored text stops before it, and
        # the small chunks after are not stored either (the text stays a prefix).
        assert snapshot == stream_buffer.Snapshot(text="abcdéfg", chunks=5, truncated=True)
        assert missing is None
        assert 0 < client.ttl(f"{key}:text") <= stream_buffer.TTL_SECONDS
        assert 0 < client.ttl(f"{key}:meta") <= stream_buffer.TTL_SECONDS
    finally:
        client.delete(f"{key}:text", f"{key}:meta")
        client.close()


def test_a_chunk_that_could_not_be_stored_ends_the_stored_text_there() -> None:
    """Storing later chunks after a failed one would leave a hole mid-text: the stored text stays
    the prefix before it, marked truncated, while the count goes on."""
    url = os.environ.get("STACK_REDIS_URL", DEFAULT_REDIS_URL)
    client = redis.Redis.from_url(url)
    try:
        client.ping()
    except redis.RedisError as exc:
        pytest.skip(f"needs Redis: {exc}")
    key = stream_buffer.stream_key(uuid.uuid4(), "writer", 0, 1)
    with socket.socket() as sock:  # a port nothing listens on: connecting is refused
        sock.bind(("127.0.0.1", 0))
        dead_url = f"redis://127.0.0.1:{sock.getsockname()[1]}/0"

    async def scenario() -> stream_buffer.Snapshot | None:
        appender = stream_buffer.Appender(key)
        async with (
            stream_buffer.Redis.from_url(url) as good,
            stream_buffer.Redis.from_url(dead_url) as dead,
        ):
            await appender.append(good, 0, "one ")
            with pytest.raises(redis.ConnectionError):
                await appender.append(dead, 1, "two ")
            await appender.append(good, 2, "three")
            (snapshot,) = await stream_buffer.read(good, [key])
            return snapshot

    try:
        snapshot = asyncio.run(scenario())
        assert snapshot == stream_buffer.Snapshot(text="one ", chunks=3, truncated=True)
    finally:
        client.delete(f"{key}:text", f"{key}:meta")
        client.close()
