"""Approvals on real processes: a Celery worker runs the flow to the gate, the approver's
notification socket on Daphne hears ``approval.opened``, and a decision over Daphne's HTTP API
resumes the run on the worker to the end."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from websockets.exceptions import ConnectionClosed

from editor.models import Membership, Role, Workspace
from orchestrator.models import Approval, Run, Step
from tests.orchestrator.conftest import (
    client_of,
    finished,
    make_workflow,
    notifications,
    read_until,
    session_of,
    start_run,
)
from tests.orchestrator.test_approvals import gated_graph
from tests.support.stack import CeleryWorker, Daphne, Stack, wait_until

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_it_notifies_the_approver_and_resumes_the_run_on_the_worker_after_the_decision(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne, stack_worker: CeleryWorker
) -> None:
    dave = User.objects.create_user("dave", "dave@example.org", "pw")
    Membership.objects.create(user=dave, workspace=alice_workspace, role=Role.APPROVER)
    workflow = make_workflow(alice, alice_workspace, gated_graph(editable=True), name="Gated")

    with (
        notifications(stack_daphne, session_of(dave)) as socket,
        client_of(alice, stack_daphne) as alice_api,
        client_of(dave, stack_daphne) as dave_api,
    ):
        assert read_until(socket, "ready", timeout=10)  # joined the group: nothing is missed
        run_id = start_run(alice_api, workflow, {"topic": "tides"})

        opened = read_until(socket, "approval.opened", timeout=30)["approval"]
        assert opened["run"] == run_id
        assert opened["status"] == "pending"
        assert opened["prompt"] == "Publish 'Draft on tides'?"
        assert opened["can_decide"] is True
        assert opened["workflow"]["name"] == "Gated"
        run = Run.objects.get(pk=run_id)
        assert run.status == "waiting"
        assert not Step.objects.filter(run=run, status__in=("queued", "running")).exists()

        decided = dave_api.post(
            f"/api/approvals/{opened['id']}/decide/",
            json={"decision": "approve", "comment": "fine", "output": "Edited draft"},
        )
        assert decided.status_code == 200, decided.text
        assert decided.json()["status"] == "approved"
        told = read_until(socket, "approval.decided", timeout=15)["approval"]
        assert (told["id"], told["status"], told["can_decide"]) == (opened["id"], "approved", False)

    run = finished(run_id, statuses=("succeeded", "failed"), what="the run to finish")
    assert run.status == "succeeded", run.error
    assert run.output == {"output_a": "published: Edited draft"}
    gate = Step.objects.get(run=run, key="gate")
    assert (gate.status, gate.branch, gate.round) == ("succeeded", "approved", 1)
    assert gate.worker  # it ran (both times) on the worker
    assert Approval.objects.get(pk=opened["id"]).status == "approved"


def test_an_anonymous_notification_socket_is_closed_with_4403(stack_daphne: Daphne) -> None:
    with notifications(stack_daphne, None) as socket:
        with pytest.raises(ConnectionClosed) as closed:
            socket.recv(timeout=10)
        assert closed.value.rcvd is not None and closed.value.rcvd.code == 4403


def test_a_waiting_run_survives_a_restart_of_the_worker_and_of_daphne(
    alice: User, alice_workspace: Workspace, stack: Stack
) -> None:
    workflow = make_workflow(alice, alice_workspace, gated_graph(), name="Gated")
    with stack.worker(concurrency=1) as first_worker, stack.daphne() as first_web:
        with client_of(alice, first_web) as api:
            run_id = start_run(api, workflow, {"topic": "tides"})
        wait_until(
            lambda: Run.objects.filter(pk=run_id, status="waiting").exists(),
            30,
            "the run to wait at the gate",
        )
        first_pids = set(first_worker.tree_pids())
    # Both are stopped now: nothing holds the waiting run, and nothing was lost.
    assert not first_worker.alive and not first_web.alive
    gate = Step.objects.get(run_id=run_id, key="gate")
    assert gate.status == "waiting" and gate.lease_expires_at is None
    approval = Approval.objects.get(step=gate)
    assert approval.status == "pending"

    with stack.worker(concurrency=1) as second_worker, stack.daphne() as second_web:
        assert not first_pids & set(second_worker.tree_pids())
        with client_of(alice, second_web) as api:
            decided = api.post(
                f"/api/approvals/{approval.pk}/decide/", json={"decision": "approve"}
            )
            assert decided.status_code == 200, decided.text
        run = finished(
            run_id, statuses=("succeeded", "failed"), what="the run to finish after the restart"
        )
    assert run.status == "succeeded", run.error
    assert run.output == {"output_a": "published: Draft on tides"}
