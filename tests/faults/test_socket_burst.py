"""A thousand browsers open the same run at once on one Daphne: every socket is accepted and
gets the run's whole event log (no channel-layer connection limit turns a join into a close)."""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.contrib.auth.models import User
from websockets.asyncio.client import connect

from editor.models import Workspace
from orchestrator.models import Run
from tests.orchestrator.conftest import chain, finished, make_workflow, node, session_of, start_run
from tests.support.stack import Daphne, Stack

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

SOCKETS = 1000


async def watch(daphne: Daphne, run_id: str, session: str, last_seq: int) -> list[int] | str:
    """The seqs one socket receives up to the run's last event, or why it got fewer."""
    seqs: list[int] = []
    try:
        async with connect(
            daphne.ws_url(f"/ws/runs/{run_id}/"),
            origin=daphne.origin,  # type: ignore[arg-type]
            additional_headers={"Cookie": f"sessionid={quote(session)}"},
            open_timeout=60,
            ping_interval=None,
            proxy=None,
        ) as socket:
            while not seqs or seqs[-1] < last_seq:
                message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 60))
                if message.get("seq") is not None:
                    seqs.append(message["seq"])
    except Exception as exc:  # refused, closed by the server, timed out: the test says which
        return f"{type(exc).__name__}: {exc}"
    return seqs


async def burst(daphne: Daphne, run_id: str, session: str, last_seq: int) -> list[Any]:
    return await asyncio.gather(*(watch(daphne, run_id, session, last_seq) for _ in range(SOCKETS)))


def test_a_thousand_sockets_opening_at_once_are_all_accepted_and_caught_up(
    stack: Stack,
    stack_daphne: Daphne,
    stack_worker: Any,
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
) -> None:
    workflow = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("brief", "input"),
            node("shout", "transform", template="{{ input.topic | upper }}"),
            node("result", "output"),
        ),
    )
    run: Run = finished(start_run(api, workflow, {"topic": "owls"}))
    assert run.status == "succeeded"
    results = asyncio.run(burst(stack_daphne, str(run.pk), session_of(alice), run.last_seq))
    failures = [result for result in results if isinstance(result, str)]
    assert failures == [], f"{len(failures)} of {SOCKETS} sockets failed, e.g. {failures[:3]}"
    assert all(seqs == list(range(1, run.last_seq + 1)) for seqs in results)
