"""Many sockets of one run on one Daphne share the process's one subscription to the run
(orchestrator/fanout.py). Each must still get the whole log, in order, once: also when an event's
broadcast never came (the next broadcast shows the gap, and each socket reads what it missed from
the database before anything after it), and when sockets come and go while the run goes on."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from editor.models import Workspace
from orchestrator.models import Approval, Event, Run, Step
from tests.orchestrator.conftest import (
    chain,
    edge,
    event_log,
    finished,
    make_workflow,
    node,
    session_of,
    start_run,
)
from tests.support.stack import CeleryWorker, Daphne, RunSocket, wait_until
from tests.support.vendor_server import Completion, Delay, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"
WATCHERS = 25


def gated_then_worker() -> dict[str, Any]:
    return {
        "nodes": [
            node("brief", "input"),
            node("gate", "approval", prompt="Go on with {{ input.topic }}?"),
            node("writer", "worker", model=MODEL, instructions="{{ input.topic }}", stream=False),
            node("result", "output"),
        ],
        "edges": [
            edge("brief", "gate"),
            edge("gate", "writer", "approved"),
            edge("writer", "result"),
        ],
    }


def waiting_at_its_gate(api: httpx.Client, alice: User, workspace: Workspace) -> str:
    """A run of gated_then_worker, started and waiting at its gate: its id."""
    workflow = make_workflow(alice, workspace, gated_then_worker(), name="Gated writer")
    run_id = start_run(api, workflow, {"topic": "owls"})
    wait_until(
        lambda: Step.objects.filter(run_id=run_id, key="gate", status="waiting").exists(),
        15,
        "the run to wait at its gate",
    )
    return run_id


def approve(api: httpx.Client, run_id: str) -> None:
    approval = Approval.objects.get(run_id=run_id)
    decided = api.post(f"/api/approvals/{approval.pk}/decide/", json={"decision": "approve"})
    assert decided.status_code == 200, decided.text


def commit_unbroadcast_event(run_id: str) -> int:
    """An event committed the way the run side commits one, whose broadcast is lost: nothing
    is sent for it. Its seq."""
    with transaction.atomic():
        run = Run.objects.select_for_update().get(pk=run_id)
        seq = run.last_seq + 1
        Event.objects.create(
            run=run,
            seq=seq,
            type="run.note",
            data={"note": "this event's broadcast was lost"},
            ts=timezone.now(),
        )
        Run.objects.filter(pk=run_id).update(last_seq=seq)
    return seq


def test_every_socket_of_a_run_reads_an_event_whose_broadcast_was_lost_before_the_next_one(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    stack_daphne: Daphne,
    stack_worker: CeleryWorker,
    vendor: VendorServer,
) -> None:
    vendor.push(Completion("written"))
    run_id = waiting_at_its_gate(api, alice, alice_workspace)
    session = session_of(alice)
    sockets = [RunSocket(stack_daphne, run_id, after=0, session=session) for _ in range(WATCHERS)]
    try:
        for socket in sockets:
            socket.read_until_type("step.waiting", timeout=15, step="gate")
            socket.read_quiet(quiet=0.2, timeout=5)
        lost = commit_unbroadcast_event(run_id)
        for socket in sockets:
            # Nothing was sent for it, and the sockets do not ping: only a later broadcast can
            # show them the gap.
            assert socket.recv(timeout=0.05) is None
        approve(api, run_id)
        for socket in sockets:
            socket.read_until_type("run.succeeded", timeout=30)
            socket.read_quiet(quiet=0.5, timeout=5)  # nothing may follow the end (no duplicate)
    finally:
        for socket in sockets:
            socket.close()
    run = finished(run_id)
    assert run.status == "succeeded", run.error
    expected = [(e["seq"], e["type"], e["step"]) for e in event_log(run)]
    assert expected[lost - 1] == (lost, "run.note", None)
    for socket in sockets:
        assert [(e["seq"], e["type"], e["step"]) for e in socket.events] == expected


def test_sockets_that_come_and_go_while_a_run_goes_on_each_end_with_the_whole_log(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    stack_daphne: Daphne,
    stack_worker: CeleryWorker,
    vendor: VendorServer,
) -> None:
    """The last socket of a run leaving ends the process's subscription; the next one opening
    starts it again. Whatever the timing, a socket gets every event once, in order."""
    vendor.push(*(Delay(0.4, Completion(f"part {i}")) for i in range(4)))
    workflow = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("brief", "input"),
            *(node(f"w{i}", "worker", model=MODEL, stream=False) for i in range(4)),
            node("result", "output"),
        ),
    )
    session = session_of(alice)
    run_id = start_run(api, workflow, {"topic": "tides"})
    logs: list[list[int]] = []
    stayed = RunSocket(stack_daphne, run_id, after=0, session=session)
    try:
        # Waves of sockets, each wave closed before the next opens: the first opens beside one
        # that stays, the others alone on the run with it closed too.
        for wave in range(3):
            if wave == 1:
                stayed.read_until_type("step.started", timeout=15, step="w1")
                stayed.close()
                logs.append([e["seq"] for e in stayed.events])
            group = [RunSocket(stack_daphne, run_id, after=0, session=session) for _ in range(5)]
            for socket in group:
                socket.read_until_type("step.started", timeout=20, step=f"w{wave + 1}")
                socket.close()
                logs.append([e["seq"] for e in socket.events])
        with RunSocket(stack_daphne, run_id, after=0, session=session) as last:
            last.read_until_type("run.succeeded", timeout=30)
            last.read_quiet(quiet=0.5, timeout=5)
    finally:
        stayed.close()
    run = finished(run_id)
    assert run.status == "succeeded", run.error
    everything = list(range(1, run.last_seq + 1))
    assert [e["seq"] for e in last.events] == everything
    for log in logs:
        assert log == everything[: len(log)]  # a prefix: in order, no gap, no duplicate


def test_an_event_too_long_for_a_websocket_message_goes_out_clipped_and_is_read_whole(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    stack_daphne: Daphne,
    stack_worker: CeleryWorker,
    vendor: VendorServer,
) -> None:
    """Daphne sends no message over 1 MiB: a map's output of thousands of items made such
    events, and sending one failed the socket at every try. Such an event now goes out without
    its data, and the socket goes on with the events after it; the events API has it whole."""
    text = "a long answer " * 90_000  # 1.26 MB
    vendor.push(Completion(text))
    run_id = waiting_at_its_gate(api, alice, alice_workspace)
    session = session_of(alice)
    with RunSocket(stack_daphne, run_id, after=0, session=session) as live:
        live.read_until_type("step.waiting", timeout=15, step="gate")
        approve(api, run_id)
        ended = live.read_until_type("run.succeeded", timeout=30)
        live.read_quiet(quiet=0.3, timeout=5)
    run = finished(run_id)
    assert run.status == "succeeded", run.error
    assert [e["seq"] for e in live.events] == list(range(1, run.last_seq + 1))
    written = next(
        e for e in live.events if e["type"] == "step.succeeded" and e["step"] == "writer"
    )
    for clipped in (written, ended):  # the step's output, and the run's
        assert clipped["data"] == {} and clipped["clipped"] > len(text), clipped["type"]
    # A socket opening later reads them from the database: clipped the same way.
    with RunSocket(stack_daphne, run_id, after=0, session=session) as later:
        assert later.read_until_type("run.succeeded", timeout=15)["clipped"] == ended["clipped"]
    assert [e.get("clipped") for e in later.events] == [e.get("clipped") for e in live.events]
    page = api.get(f"/api/runs/{run_id}/events/", params={"after": written["seq"] - 1, "limit": 1})
    assert page.status_code == 200, page.text
    assert [e["seq"] for e in page.json()["events"]] == [written["seq"]]
    assert page.json()["events"][0]["data"]["output"] == text
    refused = api.get(f"/api/runs/{run_id}/events/", params={"limit": 0})
    assert refused.status_code == 400 and "limit" in refused.text
