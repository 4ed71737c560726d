"""A thousand browsers open the same run at once on one Daphne: every socket that opens gets the
run's whole event log, in order, once, and nothing fails inside the application (no
channel-layer connection limit turns a join into a close).

How fast they open is not asserted (bench/fanout.py measures it): Daphne refuses a handshake its
application has not accepted within 5 s, which a burst on a loaded machine can outwait. A browser
then opens the socket again, and so does this test; a socket closed or failing *after* it opened
is never retried, it fails the test.
"""

from __future__ import annotations

import asyncio
import json
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.contrib.auth.models import User
from websockets.asyncio.client import connect
from websockets.exceptions import InvalidHandshake

from editor.models import Workspace
from orchestrator.models import Run
from tests.orchestrator.conftest import chain, finished, make_workflow, node, session_of, start_run
from tests.support.stack import Daphne, Stack

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

SOCKETS = 1000
# Opening a socket again after its handshake was refused or dropped, as a browser would: a bound
# only so a server that never accepts fails the test instead of hanging it.
ATTEMPTS = 20
# Not dropped by the application: the handshake was refused (Daphne's 403 after 5 s), answered
# with nothing, or the connection refused or reset, before the socket opened.
HANDSHAKE_FAILED = (InvalidHandshake, OSError, TimeoutError)


async def watch(daphne: Daphne, run_id: str, session: str, last_seq: int) -> tuple[Any, int]:
    """The seqs one socket receives up to the run's last event (or why it got fewer), and how
    many times it had to be opened again."""
    failed: BaseException | None = None
    for attempt in range(ATTEMPTS):
        try:
            socket = await connect(
                daphne.ws_url(f"/ws/runs/{run_id}/"),
                origin=daphne.origin,  # type: ignore[arg-type]
                additional_headers={"Cookie": f"sessionid={quote(session)}"},
                open_timeout=60,
                ping_interval=None,
                proxy=None,
            )
        except HANDSHAKE_FAILED as exc:
            failed = exc
            await asyncio.sleep(0.5)
            continue
        seqs: list[int] = []
        try:
            async with socket:
                while not seqs or seqs[-1] < last_seq:
                    # A guard against a hang, not a speed limit.
                    message: dict[str, Any] = json.loads(await asyncio.wait_for(socket.recv(), 120))
                    if message.get("seq") is not None:
                        seqs.append(message["seq"])
        except Exception as exc:  # closed by the server, or nothing more came: the test says which
            return f"{type(exc).__name__}: {exc}", attempt
        return seqs, attempt
    return f"never opened in {ATTEMPTS} attempts: {type(failed).__name__}: {failed}", ATTEMPTS


async def burst(daphne: Daphne, run_id: str, session: str, last_seq: int) -> list[Any]:
    return await asyncio.gather(*(watch(daphne, run_id, session, last_seq) for _ in range(SOCKETS)))


def test_a_thousand_sockets_opening_at_once_each_get_the_whole_log_once(
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
    log_before = stack_daphne.log_path.stat().st_size

    results = asyncio.run(burst(stack_daphne, str(run.pk), session_of(alice), run.last_seq))

    failures = [seqs for seqs, _ in results if isinstance(seqs, str)]
    assert failures == [], f"{len(failures)} of {SOCKETS} sockets failed, e.g. {failures[:3]}"
    assert all(seqs == list(range(1, run.last_seq + 1)) for seqs, _ in results)
    with stack_daphne.log_path.open("rb") as log:
        log.seek(log_before)
        written = log.read().decode(errors="replace")
    assert "Exception inside application" not in written, written[-4000:]
    again = sum(attempts for _, attempts in results)
    print(f"{SOCKETS} sockets: {again} handshakes refused or dropped and opened again")
