"""A workflow tool call whose worker process dies mid-call, on the real stack: the step's next
attempt ends the call and the steps the lost attempt left open, and calls the workflow again.

In a module of its own: its worker must be the only one listening (the other workflow tool tests'
module-scoped worker would take the step, and the process killed here must be the one running it).
"""

from __future__ import annotations

import os
import signal

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator.models import Event, Step
from tests.orchestrator.conftest import finished, make_workflow, start_run
from tests.support.stack import Stack, wait_until
from tests.support.vendor_server import Completion, Delay, ToolCalls, VendorServer
from tests.tools.test_workflow_tool_steps import calling_flow, lookup_flow, rows

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_a_call_whose_worker_died_is_cancelled_when_the_step_runs_again(
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
    vendor: VendorServer,
    stack: Stack,
) -> None:
    lookup = make_workflow(alice, alice_workspace, lookup_flow(), name="Lookup")
    flow = make_workflow(
        alice, alice_workspace, calling_flow(f"workflow:{lookup.pk}"), name="Caller"
    )
    call = ToolCalls([{"id": "w", "name": "Lookup", "arguments": {"q": "tides"}}])
    vendor.push(
        call,
        Delay(30.0, Completion("never delivered")),  # the nested call the process dies in
        call,  # the step's second attempt calls the workflow again
        Completion("Twice a day."),
        Completion("Answered on the second attempt."),
    )
    # A lease far longer than the test: the worker's parent process releases the step.
    with stack.worker(concurrency=1, env={"STEP_LEASE_SECONDS": "120"}) as worker:
        run_id = start_run(api, flow, {})
        wait_until(
            lambda: Step.objects.filter(
                run_id=run_id, key="agent/Lookup.1/look", status="running"
            ).exists(),
            30,
            "the nested step to be running",
        )
        wait_until(lambda: len(vendor.requests) >= 2, 10, "the nested model call")
        pid = int(Step.objects.get(run_id=run_id, key="agent").worker.rsplit(":", 1)[1])
        assert pid in worker.pool_pids()
        os.kill(pid, signal.SIGKILL)  # the pool process only: its parent lives on
        run = finished(run_id, timeout=60, what="the run to finish after the process died")
    assert run.status == "succeeded", run.error
    assert run.output == "Answered on the second attempt."
    found = rows(run_id)
    assert found["agent"].attempt == 2
    # The lost attempt's call and its running step were ended; the new call ran in full.
    assert found["agent/Lookup.1"].status == "cancelled"
    assert found["agent/Lookup.1/look"].status == "cancelled"
    assert found["agent/Lookup.2"].status == "succeeded"
    assert found["agent/Lookup.2/look"].output == "Twice a day."
    assert not [s.key for s in found.values() if s.status in ("pending", "queued", "running")]
    reasons = [
        e.data.get("reason")
        for e in Event.objects.filter(run_id=run_id, type="step.cancelled")
        if e.step_key in ("agent/Lookup.1", "agent/Lookup.1/look")
    ]
    assert reasons == ["the attempt that made this call was lost"] * 2
