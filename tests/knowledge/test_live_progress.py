"""Document progress pushed live over ``/ws/knowledge/<base>/``, on real processes: Daphne serves
the socket, a Celery worker ingests the upload and pushes each progress write through Redis.
Only members of the base's workspace may open it; one removed meanwhile is closed with 4403.
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.contrib.auth.models import User
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from editor.models import Membership, Workspace
from knowledge import stores
from tests.orchestrator.conftest import client_of, read_until, session_of
from tests.support.stack import (  # noqa: F401  (fixtures, registered by being imported here)
    CeleryWorker,
    Daphne,
    Stack,
    stack,
    stack_database_url,
    stack_vendor,
)

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def daphne(
    kb_processes: tuple[Daphne, CeleryWorker], shared_store: str, settings: Any
) -> Iterator[Daphne]:
    settings.KNOWLEDGE_STORE_URL = shared_store
    yield kb_processes[0]
    stores.close_all()


@contextlib.contextmanager
def base_socket(daphne: Daphne, base_id: str, user: User | None) -> Iterator[ClientConnection]:
    headers = {"Cookie": f"sessionid={quote(session_of(user))}"} if user else {}
    with connect(
        daphne.ws_url(f"/ws/knowledge/{base_id}/"),
        origin=daphne.origin,
        additional_headers=headers,
        open_timeout=10,
        ping_interval=None,
        proxy=None,
    ) as socket:
        yield socket


def closed_with(socket: ClientConnection) -> int | None:
    with contextlib.suppress(ConnectionClosed, TimeoutError):
        while True:
            socket.recv(timeout=10)
    return socket.close_code


def make_base(api: httpx.Client, workspace: Workspace) -> str:
    made = api.post(
        "/api/knowledge/",
        json={"workspace": workspace.pk, "name": "Logs", "chunk_size": 200, "chunk_overlap": 0},
    )
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


def test_each_stage_of_an_upload_is_pushed_to_the_page_socket(
    daphne: Daphne, alice: User, alice_workspace: Workspace
) -> None:
    with client_of(alice, daphne) as api:
        base_id = make_base(api, alice_workspace)
        with base_socket(daphne, base_id, alice) as socket:
            assert json.loads(socket.recv(timeout=10)) == {"type": "ready"}
            text = "\n\n".join(f"Entry {i}: ship {i} docked at pier {i % 7}." for i in range(1000))
            answer = api.post(
                f"/api/knowledge/{base_id}/documents/",
                files=[("files", ("log.txt", text.encode(), "text/plain"))],
            )
            assert answer.status_code == 201, answer.text
            document_id = answer.json()[0]["id"]
            seen: list[dict[str, Any]] = []
            final = read_until(
                socket,
                lambda m: m.get("document", {}).get("status") in ("ready", "failed"),
                120,
                seen,
            )
    assert seen[0] == {"type": "documents.changed"}  # the upload, for the base's other pages
    progress = [m["document"] for m in seen if m["type"] == "document.progress"]
    assert {p["id"] for p in progress} == {document_id}
    stages = [p["status"] for p in progress]
    assert stages[:3] == ["parsing", "chunking", "embedding"]
    assert "indexing" in stages and stages[-1] == "ready"
    total = final["document"]["chunks_total"]
    assert total == final["document"]["chunks_done"] > 100  # some seconds of embedding
    embedded = [p["chunks_done"] for p in progress if p["status"] == "embedding"]
    assert embedded == sorted(embedded) and embedded[-1] == total
    assert any(0 < done < total for done in embedded)  # batches arrive as they are stored
    assert final["document"]["error_code"] == ""


def test_only_members_may_watch_a_base_and_a_removed_one_is_closed(
    daphne: Daphne, alice: User, charlie: User, alice_workspace: Workspace
) -> None:
    with client_of(alice, daphne) as api:
        base_id = make_base(api, alice_workspace)
    with base_socket(daphne, base_id, None) as anonymous:
        assert closed_with(anonymous) == 4403
    with base_socket(daphne, base_id, charlie) as stranger:
        assert closed_with(stranger) == 4403
    with base_socket(daphne, "not-a-uuid", alice) as malformed:
        assert closed_with(malformed) == 4403

    # Removed through Daphne, whose channel layer is the stack's (this process's is not).
    Membership.objects.create(user=charlie, workspace=alice_workspace, role="viewer")
    with base_socket(daphne, base_id, charlie) as member, client_of(alice, daphne) as api:
        assert json.loads(member.recv(timeout=10)) == {"type": "ready"}
        removed = api.delete(f"/api/workspaces/{alice_workspace.pk}/members/{charlie.pk}/")
        assert removed.status_code == 204, removed.text
        assert closed_with(member) == 4403
