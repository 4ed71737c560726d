"""The broker (Redis) goes away and comes back empty.

A run started while Redis is down is stored with its first steps and answered as started (the
queued steps are the outbox); once Redis answers again, the sweeper sends them and the run
completes, each step once. Nothing of it depends on a message sent while Redis was away.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator.models import Event, Run, Step
from tests.orchestrator.conftest import chain, client_of, make_workflow, node, start_run
from tests.support.broker import Broker
from tests.support.stack import Stack, wait_until
from tests.support.vendor_server import VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(tmp_path)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def outage_stack(
    broker: Broker, stack_database_url: str, stack_vendor: VendorServer, tmp_path: Path
) -> Iterator[Stack]:
    from django.conf import settings

    env = {
        "OPENAI_BASE_URL": stack_vendor.url,
        "OPENAI_API_KEY": "test",
        "SECRET_KEY": settings.SECRET_KEY,
        "STEP_RESEND_SECONDS": "1",
    }
    with Stack(stack_database_url, broker.url, env=env, workdir=tmp_path / "stack") as stack:
        stack.worker(concurrency=1)
        stack.beat()
        yield stack


def flow() -> dict:
    return chain(
        node("brief", "input"),
        node("shout", "transform", template="{{ input.topic | upper }}"),
        node("result", "output"),
    )


def test_a_run_started_while_redis_is_down_is_answered_and_runs_once_redis_is_back(
    outage_stack: Stack, broker: Broker, alice: User, alice_workspace: Workspace
) -> None:
    daphne = outage_stack.daphne()
    workflow = make_workflow(alice, alice_workspace, flow())
    with client_of(alice, daphne) as api:
        before = start_run(api, workflow, {"topic": "before"})
        wait_until(
            lambda: Run.objects.filter(pk=before, status="succeeded").exists(), 30, "a first run"
        )

        broker.stop()
        answer = api.post(
            f"/api/workflows/{workflow.id}/runs/",
            json={"input": {"topic": "owls"}},
            timeout=httpx.Timeout(30),
        )
        assert answer.status_code == 201, answer.text
        run_id = answer.json()["id"]
        # Stored with its first step queued: the outbox the sweeper drains.
        assert Step.objects.filter(run_id=run_id, key="brief", status="queued").exists()

        broker.start()
        back = time.monotonic()
        run = wait_until(
            lambda: Run.objects.filter(pk=run_id, status__in=("succeeded", "failed")).first(),
            60,
            "the run started during the outage to finish",
        )
        print(f"\nran {time.monotonic() - back:.1f} s after Redis answered again")

    assert run.status == "succeeded", run.error
    assert run.output == "OWLS"
    steps = Step.objects.filter(run=run)
    assert {(s.key, s.status, s.attempt) for s in steps} == {
        ("brief", "succeeded", 1),
        ("shout", "succeeded", 1),
        ("result", "succeeded", 1),
    }
    events = list(
        Event.objects.filter(run=run).order_by("seq").values_list("seq", "type", "step_key")
    )
    assert [seq for seq, _, _ in events] == list(range(1, len(events) + 1))
    finished = Counter(key for _, kind, key in events if kind == "step.succeeded")
    assert finished == Counter({"brief": 1, "shout": 1, "result": 1})
