"""Fixtures for the run side: the web app's people and clients, graphs that exercise the
scheduler, and ``drive`` (execute queued steps in this process, as a worker would).

The stack fixtures (real Celery workers, Daphne, Redis) come from :mod:`tests.support.stack`;
the helpers for talking to that stack as a user (``api``, ``client_of``, ``session_of``,
``start_run``, ``finished``, ``notifications``) are here, shared by the stack tests.
"""

from __future__ import annotations

import contextlib
import copy
import itertools
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client
from websockets.sync.client import ClientConnection, connect

from editor import operations as editor_operations
from editor.models import Workflow, Workspace
from editor.tokens import issue_token
from orchestrator.execution import execute_step
from orchestrator.models import Event, Run, Step
from tests.support.stack import (  # noqa: F401  (fixtures, registered by being imported here)
    Daphne,
    stack,
    stack_daphne,
    stack_database_url,
    stack_vendor,
    stack_worker,
    vendor,
    wait_until,
)
from tests.web.conftest import (  # noqa: F401  (fixtures, registered by being imported here)
    alice,
    alice_client,
    alice_workspace,
    anon_client,
    bob,
    bob_client,
    charlie,
    charlie_client,
    fast_password_hashing,
    invalid_graph,
    valid_graph,
    workflow,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def research_graph() -> dict[str, Any]:
    """examples/research.json: input → plan → (research ∥ critic) → merge → router → outputs."""
    return json.loads((EXAMPLES / "research.json").read_text())


def node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "label": node_id.title(), "config": config}


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": f"{source}-{target}", "source": source, "target": target}
    if handle:
        found["source_handle"] = handle
    return found


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """Nodes wired one after the other."""
    return {
        "nodes": list(nodes),
        "edges": [edge(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)],
    }


def make_workflow(
    user: User, workspace: Workspace, graph: dict[str, Any], name: str = "Flow"
) -> Workflow:
    return editor_operations.create_workflow(
        user=user, workspace=workspace, name=name, graph=copy.deepcopy(graph)
    )


def drive(run: Run | Any, limit: int = 100) -> Run:
    """Execute the run's queued steps in this process (the real task body) until none is left."""
    run_id = run.pk if isinstance(run, Run) else run
    for _ in range(limit):
        queued = list(
            Step.objects.filter(run_id=run_id, status="queued")
            .order_by("id")
            .values_list("pk", flat=True)
        )
        if not queued:
            return Run.objects.get(pk=run_id)
        for step_id in queued:
            execute_step(step_id)
    raise AssertionError(f"run {run_id} still has queued steps after {limit} rounds")


def event_log(run: Run | Any) -> list[dict[str, Any]]:
    run_id = run.pk if isinstance(run, Run) else run
    return [e.to_message() for e in Event.objects.filter(run_id=run_id).order_by("seq")]


@pytest.fixture
def research_workflow(alice: User, alice_workspace: Workspace) -> Workflow:  # noqa: F811
    return make_workflow(alice, alice_workspace, research_graph(), name="Research")


# -- talking to the stack as a user ----------------------------------------------------------------


def session_of(user: User) -> str:
    """A Django session for ``user`` (committed), as the browser's sessionid cookie."""
    client = Client()
    client.force_login(user)
    return str(client.cookies["sessionid"].value)


def client_of(user: User, daphne: Daphne) -> httpx.Client:
    """An HTTP client for Daphne with a fresh API token of ``user`` (close it, or use ``with``)."""
    _, token = issue_token(user, "tests")
    return httpx.Client(
        base_url=daphne.url,
        headers={"Authorization": f"Token {token}"},
        timeout=15,
        trust_env=False,
    )


@pytest.fixture
def api(alice: User, stack_daphne: Daphne) -> Iterator[httpx.Client]:  # noqa: F811
    """Alice's HTTP client for Daphne (token auth). A module whose tests need workers up first
    overrides it: ``def api(api, workers): return api``."""
    with client_of(alice, stack_daphne) as client:
        yield client


def start_run(api: httpx.Client, flow: Workflow | Any, run_input: Any, **extra: Any) -> str:
    """Start a run of the workflow ``flow`` (or of the workflow with that id) through the API;
    the run's id."""
    workflow_id = flow.id if isinstance(flow, Workflow) else flow
    response = api.post(f"/api/workflows/{workflow_id}/runs/", json={"input": run_input, **extra})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def finished(
    run_id: Any,
    timeout: float = 30,
    what: str | None = None,
    statuses: tuple[str, ...] = ("succeeded", "failed", "cancelled"),
) -> Run:
    """Wait (on the database) until the run is in one of ``statuses``; the run."""
    return wait_until(
        lambda: Run.objects.filter(pk=run_id, status__in=statuses).first(),
        timeout,
        what or f"run {run_id} to finish",
    )


def log_of(run_id: Any) -> list[tuple[str, str | None]]:
    """The run's events as (type, step key), in order."""
    return list(Event.objects.filter(run_id=run_id).order_by("seq").values_list("type", "step_key"))


@contextlib.contextmanager
def notifications(daphne: Daphne, session: str | None) -> Iterator[ClientConnection]:
    """The notification socket, with the browser's session cookie (none: anonymous)."""
    headers = {"Cookie": f"sessionid={quote(session)}"} if session else {}
    with connect(
        daphne.ws_url("/ws/notifications/"),
        origin=daphne.origin,  # type: ignore[arg-type]
        additional_headers=headers,
        open_timeout=10,
        ping_interval=None,
        proxy=None,
    ) as socket:
        yield socket


def read_until(
    socket: ClientConnection,
    found: str | Callable[[dict[str, Any]], bool],
    timeout: float,
    seen: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """Read messages (kept in ``seen``) until one of type ``found``, or one for which
    ``found(message)`` is true; that message."""
    matches = (lambda message: message.get("type") == found) if isinstance(found, str) else found
    seen = [] if seen is None else seen
    deadline = time.monotonic() + timeout
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            raise AssertionError(f"nothing matching {found!r} within {timeout} s; saw {seen}")
        try:
            message: dict[str, Any] = json.loads(socket.recv(timeout=left))
        except TimeoutError:
            continue
        seen.append(message)
        if matches(message):
            return message
