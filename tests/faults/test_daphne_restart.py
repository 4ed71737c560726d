"""Daphne is killed while sockets watch a run and comes back: each socket, reconnecting with
``?after=`` its last seq, ends with the run's whole log, nothing lost or doubled."""

from __future__ import annotations

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator.models import Event, Step
from tests.orchestrator.conftest import (
    chain,
    event_log,
    finished,
    make_workflow,
    node,
    session_of,
    start_run,
)
from tests.support.stack import CeleryWorker, RunSocket, Stack, wait_until
from tests.support.vendor_server import Completion, Delay, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"
WATCHERS = 20


def test_sockets_watching_a_run_lose_nothing_when_daphne_is_killed_and_restarted(
    stack: Stack,
    stack_worker: CeleryWorker,
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
) -> None:
    vendor.push(Delay(1.0, Completion("one")), Delay(1.5, Completion("two")))
    workflow = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("brief", "input"),
            node("first", "worker", model=MODEL, stream=False),
            node("second", "worker", model=MODEL, stream=False),
            node("result", "output"),
        ),
    )
    session = session_of(alice)
    daphne = stack.daphne()
    run_id = start_run(api, workflow, {"topic": "owls"})
    sockets = [RunSocket(daphne, run_id, after=0, session=session) for _ in range(WATCHERS)]
    for socket in sockets:
        socket.read_until_type("step.started", timeout=15, step="first")

    daphne.kill()  # every socket drops with it; the run goes on on the workers
    for socket in sockets:
        socket.close()
    wait_until(
        lambda: Step.objects.filter(run_id=run_id, key="second", status="running").exists(),
        15,
        "the second step to start while no Daphne runs",
    )
    assert Event.objects.filter(run_id=run_id, step_key="first", type="step.succeeded").exists()

    again = stack.daphne()
    logs = []
    for socket in sockets:
        seen = list(socket.events)
        with RunSocket(again, run_id, after=seen[-1]["seq"], session=session) as rejoined:
            rejoined.read_until_type("run.succeeded", timeout=20)
            rejoined.read_quiet(quiet=0.3, timeout=5)
        logs.append([e["seq"] for e in seen + rejoined.events])

    run = finished(run_id)
    assert run.status == "succeeded"
    expected = [e["seq"] for e in event_log(run)]
    assert expected == list(range(1, run.last_seq + 1))
    assert all(log == expected for log in logs)
