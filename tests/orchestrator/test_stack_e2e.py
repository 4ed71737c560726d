"""The run side end to end on real processes: Redis, a Celery worker with two prefork processes,
Daphne, and WebSocket clients (the ``websockets`` library) logged in with a Django session.

Runs are started and cancelled through Daphne's HTTP API (token auth), exactly as a script
would; slow, streaming LLM steps come from the scripted vendor server the workers talk to.
"""

from __future__ import annotations

import time
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from websockets.exceptions import InvalidStatus

from editor.models import Workflow, Workspace
from orchestrator.models import Event, Step
from tests.orchestrator.conftest import (
    chain,
    edge,
    finished,
    make_workflow,
    node,
    research_graph,
    session_of,
    start_run,
)
from tests.support.stack import CeleryWorker, Daphne, RunSocket, wait_until
from tests.support.vendor_server import Completion, Delay, HTTPError, Stream, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"  # the vendor server, through the OpenAI-compatible provider


@pytest.fixture
def api(api: httpx.Client, stack_worker: CeleryWorker) -> httpx.Client:
    """Alice's client (conftest), once the workers are up."""
    return api


@pytest.fixture
def alice_session(alice: User) -> str:
    return session_of(alice)


def db_log(run_id: str) -> list[tuple[int, str, str | None]]:
    return [
        (seq, type_, step)
        for seq, type_, step in Event.objects.filter(run_id=run_id)
        .order_by("seq")
        .values_list("seq", "type", "step_key")
    ]


def wire_log(events: list[dict[str, Any]]) -> list[tuple[int, str, str | None]]:
    return [(event["seq"], event["type"], event["step"]) for event in events]


def pid_of(step: Step) -> int:
    """``Step.worker`` is ``<host>:<pid namespace>:<pid>`` of the process that ran the step."""
    return int(step.worker.rsplit(":", 1)[1])


def two_slow_branches() -> dict[str, Any]:
    return {
        "nodes": [
            node("brief", "input"),
            node("left", "worker", model=MODEL, instructions="left {{ input.topic }}"),
            node("right", "worker", model=MODEL, instructions="right {{ input.topic }}"),
            node("join", "transform", template="{{ nodes.left.output }}+{{ nodes.right.output }}"),
            node("result", "output"),
        ],
        "edges": [
            edge("brief", "left"),
            edge("brief", "right"),
            edge("left", "join"),
            edge("right", "join"),
            edge("join", "result"),
        ],
    }


def one_llm_step(**config: Any) -> dict[str, Any]:
    return chain(
        node("brief", "input"),
        node("writer", "worker", model=MODEL, instructions="{{ input.topic }}", **config),
        node("result", "output"),
    )


# -- (a) a whole example on the workers, every event over the socket -------------------------------


def test_it_runs_the_research_example_on_the_workers_and_the_socket_gets_every_event(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    alice_session: str,
    stack_daphne: Daphne,
    stack_worker: CeleryWorker,
) -> None:
    workflow = make_workflow(alice, alice_workspace, research_graph(), name="Research")
    run_id = start_run(api, workflow, {"topic": "owls"})
    with RunSocket(stack_daphne, run_id, after=0, session=alice_session) as ws:
        ws.read_until_type("run.succeeded", timeout=30)
        ws.read_quiet(quiet=0.5, timeout=5)  # nothing may follow the end (no duplicate)
    run = finished(run_id)
    assert run.status == "succeeded", run.error
    assert [e["seq"] for e in ws.events] == list(range(1, run.last_seq + 1))
    assert ws.events[-1]["type"] == "run.succeeded"
    assert wire_log(ws.events) == db_log(run_id)
    assert ws.events[-1]["data"]["output"] == run.output
    statuses = dict(Step.objects.filter(run_id=run_id).values_list("key", "status"))
    assert statuses.pop("too_short") == "skipped"
    assert set(statuses.values()) == {"succeeded"}
    # Every step that ran, ran in one of the worker's pool processes.
    ran = Step.objects.filter(run_id=run_id, status="succeeded")
    assert {pid_of(step) for step in ran} <= set(stack_worker.pool_pids())


# -- (b) independent branches at the same time on different processes ------------------------------


def test_independent_branches_run_at_the_same_time_on_different_worker_processes(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    stack_worker: CeleryWorker,
) -> None:
    vendor.push(
        Delay(1.5, Completion("alpha", prompt_tokens=5, completion_tokens=2)),
        Delay(1.5, Completion("beta", prompt_tokens=5, completion_tokens=2)),
    )
    workflow = make_workflow(alice, alice_workspace, two_slow_branches(), name="Fan out")
    run = finished(start_run(api, workflow, {"topic": "owls"}))
    assert run.status == "succeeded", run.error
    left = Step.objects.get(run=run, key="left")
    right = Step.objects.get(run=run, key="right")
    assert left.status == right.status == "succeeded"
    assert {left.output, right.output} == {"alpha", "beta"}
    # The two intervals overlap: each started before the other finished.
    assert left.started_at < right.finished_at
    assert right.started_at < left.finished_at
    assert left.worker != right.worker
    assert {pid_of(left), pid_of(right)} <= set(stack_worker.pool_pids())
    assert len(vendor.requests) == 2
    # Usage went through the real provider and was added up on the run.
    assert run.tokens_in == 10 and run.tokens_out == 4
    assert run.cost > 0
    assert set(run.by_model) == {MODEL}


# -- (b2) a failed attempt retried on the workers --------------------------------------------------


def test_a_step_whose_vendor_fails_once_is_retried_on_the_workers_after_its_delay(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    vendor.push(HTTPError(503, "overloaded"), Completion("second time lucky"))
    retry = {"max_attempts": 3, "initial_delay": 0.5}
    graph = chain(
        node("brief", "input"),
        node("writer", "worker", model=MODEL, stream=False, retry=retry),
        node("result", "output"),
    )
    workflow = make_workflow(alice, alice_workspace, graph, name="Retry")
    run = finished(start_run(api, workflow, {"topic": "owls"}))
    assert run.status == "succeeded", run.error
    assert run.output == "second time lucky"
    writer = Step.objects.get(run=run, key="writer")
    assert writer.attempt == 2
    assert len(vendor.requests) == 2
    log = Event.objects.filter(run=run, step_key="writer").order_by("seq")
    kinds = [(e.type, e.data.get("attempt")) for e in log]
    assert kinds == [
        ("step.queued", None),
        ("step.started", 1),
        ("step.retrying", 1),
        ("step.started", 2),
        ("step.succeeded", 2),
    ]
    retrying, second = log[2], log[3]
    assert retrying.data["delay"] == 0.5
    assert retrying.data["error"]["code"] == "provider_unavailable"
    # The second attempt was sent with the delay as its countdown, not at once.
    assert (second.ts - retrying.ts).total_seconds() >= 0.5


# -- (c) a socket that drops mid-run and comes back with ?after= -----------------------------------


def test_a_socket_that_reconnects_with_after_ends_with_the_full_sequence(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    alice_session: str,
    stack_daphne: Daphne,
    vendor: VendorServer,
) -> None:
    graph = chain(
        node("brief", "input"),
        node("first", "worker", model=MODEL, instructions="one {{ input.topic }}"),
        node("second", "worker", model=MODEL, instructions="two {{ nodes.first.output }}"),
        node("result", "output"),
    )
    vendor.push(Delay(1.0, Completion("one")), Delay(1.5, Completion("two")))
    workflow = make_workflow(alice, alice_workspace, graph, name="Two slow steps")
    run_id = start_run(api, workflow, {"topic": "owls"})

    with RunSocket(stack_daphne, run_id, after=0, session=alice_session) as ws:
        ws.read_until_type("step.started", timeout=15, step="first")
    seen_first = list(ws.events)
    last_seen = seen_first[-1]["seq"]
    # Away while the first step finishes and the second one starts.
    wait_until(
        lambda: Step.objects.filter(run_id=run_id, key="second", status="running").exists(),
        15,
        "the second step to start",
    )
    assert Event.objects.filter(run_id=run_id, seq__gt=last_seen).exists()

    with RunSocket(stack_daphne, run_id, after=last_seen, session=alice_session) as again:
        again.read_until_type("run.succeeded", timeout=15)
        again.read_quiet(quiet=0.5, timeout=5)
    assert again.events[0]["seq"] == last_seen + 1
    # Some of the second connection's events came from the table, some live.
    assert any(e["type"] == "step.succeeded" and e["step"] == "second" for e in again.events)
    combined = seen_first + again.events
    run = finished(run_id)
    assert run.status == "succeeded"
    assert [e["seq"] for e in combined] == list(range(1, run.last_seq + 1))
    assert wire_log(combined) == db_log(run_id)


# -- (d) only members may watch --------------------------------------------------------------------


def test_a_non_member_is_closed_with_4403(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    charlie: User,
    stack_daphne: Daphne,
    workflow: Workflow,
) -> None:
    run_id = start_run(api, workflow, {"topic": "owls"})
    with RunSocket(stack_daphne, run_id, after=0, session=session_of(charlie)) as ws:
        assert ws.close_code() == 4403
    assert ws.events == []  # not one event leaked before the close
    with RunSocket(stack_daphne, run_id) as anonymous:
        assert anonymous.close_code() == 4403
    with RunSocket(stack_daphne, "not-a-run", session=session_of(charlie)) as nonsense:
        assert nonsense.close_code() == 4403
    with RunSocket(stack_daphne, run_id, session=session_of(alice)) as member:
        member.read_until_type("run.started", timeout=10)
    finished(run_id)


def test_a_socket_with_a_malformed_after_is_closed_with_4400(
    api: httpx.Client, alice_session: str, stack_daphne: Daphne, workflow: Workflow
) -> None:
    run_id = start_run(api, workflow, {"topic": "owls"})
    with RunSocket(stack_daphne, run_id, after="seven", session=alice_session) as ws:
        assert ws.close_code() == 4400
    finished(run_id)


def test_a_socket_from_another_origin_is_refused(
    api: httpx.Client, alice_session: str, stack_daphne: Daphne, workflow: Workflow
) -> None:
    run_id = start_run(api, workflow, {"topic": "owls"})
    with pytest.raises(InvalidStatus) as refused:
        RunSocket(stack_daphne, run_id, session=alice_session, origin="http://evil.example.org")
    assert refused.value.response.status_code == 403
    finished(run_id)


# -- (e) an idle socket stays open -----------------------------------------------------------------


def test_an_idle_socket_stays_open_past_7_seconds_and_still_gets_the_next_event(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    alice_session: str,
    stack_daphne: Daphne,
    vendor: VendorServer,
) -> None:
    vendor.push(Delay(8.5, Completion("late but here")))
    workflow = make_workflow(alice, alice_workspace, one_llm_step(stream=False), name="Slow")
    run_id = start_run(api, workflow, {"topic": "owls"})
    wait_until(lambda: vendor.requests, 15, "the worker to call the vendor")
    with RunSocket(stack_daphne, run_id, after=0, session=alice_session) as ws:
        ws.read_until_type("step.started", timeout=10, step="writer")
        idle_from = time.monotonic()
        message = ws.recv(timeout=30)
        idle = time.monotonic() - idle_from
        assert message is not None, "the socket received nothing after going idle"
        assert idle > 7, f"something arrived after {idle:.1f} s; the socket was not idle long"
        assert (message["type"], message["step"]) == ("step.succeeded", "writer")
        assert message["data"]["output"] == "late but here"
        ws.read_until_type("run.succeeded", timeout=10)
    run = finished(run_id)
    assert [e["seq"] for e in ws.events] == list(range(1, run.last_seq + 1))


# -- (f) cancelling a running run tells its worker -------------------------------------------------


def test_cancelling_a_running_run_stops_its_worker_and_ends_cancelled(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    alice_session: str,
    stack_daphne: Daphne,
    vendor: VendorServer,
) -> None:
    words = [f"w{i} " for i in range(99)] + ["THE-END"]
    vendor.push(Stream(chunks=words, chunk_delay=0.1))  # about 10 s of streaming
    workflow = make_workflow(alice, alice_workspace, one_llm_step(), name="Long stream")
    run_id = start_run(api, workflow, {"topic": "owls"})
    with RunSocket(stack_daphne, run_id, after=0, session=alice_session) as ws:
        ws.read_until_type("step.chunk", timeout=15)
        response = api.post(f"/api/runs/{run_id}/cancel/")
        assert response.status_code == 202, response.text
        assert response.json()["status"] == "cancelled"
        ws.read_until_type("run.cancelled", timeout=10)
        # The worker learns of it when renewing its lease (every STEP_LEASE_SECONDS / 3 = 1 s)
        # and drops the call: the stream stops long before its 100 chunks.
        ws.read_quiet(quiet=3, timeout=15)
    texts = [chunk["data"]["text"] for chunk in ws.chunks]
    assert "THE-END" not in texts
    assert len(texts) < len(words)
    run = finished(run_id)
    assert run.status == "cancelled"
    writer = Step.objects.get(run=run, key="writer")
    assert writer.status == "cancelled"
    assert writer.claim is None and writer.output is None
    log = db_log(run_id)
    assert log[-1][1] == "run.cancelled"
    assert ("step.cancelled", "writer") in [(t, s) for _, t, s in log]
    assert not [t for _, t, s in log if s == "writer" and t in ("step.succeeded", "step.failed")]
    assert [e["seq"] for e in ws.events] == list(range(1, run.last_seq + 1))
    # A second cancel is refused: the run is over.
    assert api.post(f"/api/runs/{run_id}/cancel/").status_code == 409


# -- (g) streamed chunks arrive live ---------------------------------------------------------------


def test_streamed_chunks_of_a_worker_step_arrive_live_without_a_seq(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    alice_session: str,
    stack_daphne: Daphne,
    vendor: VendorServer,
) -> None:
    chunks = ["Once ", "upon ", "a ", "time"]
    # A second's pause first, so the socket is surely listening when the stream begins.
    vendor.push(Delay(1.0, Stream(chunks=chunks, chunk_delay=0.2)))
    workflow = make_workflow(alice, alice_workspace, one_llm_step(), name="Story")
    run_id = start_run(api, workflow, {"topic": "a story"})
    with RunSocket(stack_daphne, run_id, after=0, session=alice_session) as ws:
        ws.read_until_type("run.succeeded", timeout=20)
    run = finished(run_id)
    assert run.status == "succeeded"
    assert [c["data"]["text"] for c in ws.chunks] == chunks
    for chunk in ws.chunks:
        assert chunk["seq"] is None and chunk["ts"] is None
        assert (chunk["run"], chunk["step"], chunk["node"]) == (run_id, "writer", "writer")
        assert chunk["status"] == "running"
        assert chunk["data"]["attempt"] == 1
    # Live: every chunk came after the step started and before it succeeded.
    order = [(m["type"], m.get("step")) for m in ws.messages]
    started = order.index(("step.started", "writer"))
    succeeded = order.index(("step.succeeded", "writer"))
    chunk_positions = [i for i, kind in enumerate(order) if kind[0] == "step.chunk"]
    assert started < min(chunk_positions) and max(chunk_positions) < succeeded
    writer = Step.objects.get(run=run, key="writer")
    assert writer.output == "".join(chunks) == run.output
    # Chunks are for live viewers only: none is in the event log.
    assert not Event.objects.filter(run=run, type="step.chunk").exists()
    assert [e["seq"] for e in ws.events] == list(range(1, run.last_seq + 1))


# -- (h) a lost broadcast with nothing after it: the client's ping repairs it ----------------------


def test_a_ping_brings_an_event_whose_broadcast_was_lost_with_nothing_after_it(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    alice_session: str,
    stack_daphne: Daphne,
    settings: Any,
) -> None:
    """channels_redis drops a message when a channel is full. A gap is normally seen at the next
    event; when the lost one was the run's last, only the client's ping can bring it."""
    from orchestrator import transitions
    from tests.orchestrator.test_approvals import gated_graph

    workflow = make_workflow(alice, alice_workspace, gated_graph(), name="Gated")
    run_id = start_run(api, workflow, {"topic": "tides"})
    wait_until(
        lambda: Step.objects.filter(run_id=run_id, key="gate", status="waiting").exists(),
        15,
        "the run to wait at its gate",
    )
    with RunSocket(stack_daphne, run_id, after=0, session=alice_session) as ws:
        ws.read_until_type("step.waiting", timeout=10, step="gate")
        ws.read_quiet(quiet=0.5, timeout=5)
        # This process's broadcasts go nowhere (a layer of its own): the cancellation is
        # committed, and the socket is told nothing.
        settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
        assert transitions.cancel_run(run_id)
        assert ws.recv(timeout=1.5) is None  # nothing arrives by itself
        ws.connection.send('{"type": "ping"}')
        ws.read_until_type("run.cancelled", timeout=10)
        pong = ws.read_until_type("pong", timeout=10)
    last_seq = Event.objects.filter(run_id=run_id).order_by("-seq").values_list("seq", flat=True)[0]
    assert pong["last_seq"] == last_seq
    assert [e["seq"] for e in ws.events] == list(range(1, last_seq + 1))
