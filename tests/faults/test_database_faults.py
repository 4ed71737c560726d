"""PostgreSQL ends the workers' sessions mid-step (a failover, an administrator's
``pg_terminate_backend``): the worker reconnects and the step goes on, instead of being lost
until its lease runs out and then run (and paid for) again."""

from __future__ import annotations

from collections import Counter

import httpx
import pytest
from django.contrib.auth.models import User
from django.db import connection

from editor.models import Workspace
from orchestrator.models import Step
from tests.orchestrator.conftest import (
    chain,
    event_log,
    finished,
    make_workflow,
    node,
    start_run,
)
from tests.support.stack import CeleryWorker, Stack, wait_until
from tests.support.vendor_server import Completion, Delay, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"


def terminate_worker_sessions() -> int:
    """End every session of a Celery worker process on the test database; how many."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
            "WHERE datname = current_database() AND application_name = 'flowbuilder-worker'"
        )
        (count,) = cursor.fetchone()
    return int(count)


def test_a_step_survives_its_worker_s_database_session_being_terminated(
    stack: Stack,
    stack_worker: CeleryWorker,
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
) -> None:
    # Long enough for the lease to be renewed (every second here) on a dead session.
    vendor.push(Delay(3.0, Completion("forty-two")))
    workflow = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("brief", "input"),
            node("slow", "worker", model=MODEL, stream=False, retry={"max_attempts": 1}),
            node("result", "output"),
        ),
    )
    run_id = start_run(api, workflow, {"topic": "x"})
    wait_until(lambda: vendor.requests, 20, "the slow step to call the vendor")
    assert terminate_worker_sessions() >= 1
    run = finished(run_id, timeout=30)

    assert run.status == "succeeded", (run.error, stack.logs())
    assert run.output == "forty-two"
    slow = Step.objects.get(run=run, key="slow")
    # The same attempt finished: nothing was re-queued and the model was called once.
    assert slow.attempt == 1
    assert len(vendor.requests) == 1
    log = event_log(run)
    assert [e["seq"] for e in log] == list(range(1, run.last_seq + 1))
    assert Counter(e["step"] for e in log if e["type"] == "step.succeeded") == Counter(
        {"brief": 1, "slow": 1, "result": 1}
    )
