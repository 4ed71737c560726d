"""The web process's PostgreSQL connections, on a real Daphne and a real PostgreSQL.

Daphne runs each request in a thread of its own; connections kept per thread (CONN_MAX_AGE) were
never reused, so bursts of requests took the server's last slots and run starts failed with 500.
The web process now borrows from a pool of WEB_DB_POOL_SIZE connections (orchestrator/settings.py):
these tests fire bursts of concurrent requests at Daphne and count, in ``pg_stat_activity``, the
backends that Daphne's own sockets lead to; and they make the pool refuse a request to see the
503 with ``Retry-After`` that takes the place of a 500.
"""

from __future__ import annotations

import asyncio
import collections
import contextlib
import json
import os
import shutil
import subprocess
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from django.contrib.auth.models import User
from django.db import connection

from editor.models import Workflow, Workspace
from orchestrator.models import Run
from orchestrator.web_server import DEFAULT_BACKLOG
from tests.orchestrator.conftest import chain, client_of, make_workflow, node
from tests.support.stack import CeleryWorker, ManagedProcess, Stack, wait_until

REPO = Path(__file__).resolve().parents[2]


# -- counting a process's connections --------------------------------------------------------------


@dataclass(frozen=True)
class Backend:
    pid: int  # our process (Daphne, a worker's pool process) that holds the connection
    application_name: str
    state: str | None
    wait_event_type: str | None


@contextlib.contextmanager
def probe() -> Iterator[psycopg.Connection[Any]]:
    """A connection of this test's own to the test database (autocommit: every query sees
    ``pg_stat_activity`` afresh), closed at the end."""
    settings = connection.settings_dict
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        autocommit=True,
        application_name="flowbuilder-test-probe",
    ) as conn:
        yield conn


def backends(db: psycopg.Connection[Any], process: ManagedProcess) -> list[Backend]:
    """The PostgreSQL backends on the test database that ``process`` (and its children) holds a
    socket to: matched by the client port of each of the process tree's TCP connections."""
    server_port = int(connection.settings_dict.get("PORT") or 5432)
    owner: dict[int, int] = {}
    for proc in process.tree():
        with contextlib.suppress(Exception):  # a process that just went away holds nothing
            for sock in proc.net_connections(kind="tcp"):
                if sock.raddr and sock.raddr.port == server_port:
                    owner[sock.laddr.port] = proc.pid
    if not owner:
        return []
    rows = db.execute(
        "SELECT client_port, application_name, state, wait_event_type FROM pg_stat_activity "
        "WHERE datname = %s AND client_port = ANY(%s)",
        [connection.settings_dict["NAME"], list(owner)],
    ).fetchall()
    return [Backend(owner[port], name, state, wait) for port, name, state, wait in rows]


class PeakWatcher:
    """Samples a process's backends in a thread until stopped; remembers the most seen at once."""

    def __init__(self, process: ManagedProcess) -> None:
        self.process = process
        self.peak = 0
        self.names: set[str] = set()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        with probe() as db:
            while not self._stop.is_set():
                found = backends(db, self.process)
                self.peak = max(self.peak, len(found))
                self.names.update(backend.application_name for backend in found)
                self._stop.wait(0.02)

    def __enter__(self) -> PeakWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join(timeout=10)


# -- bursts of requests ----------------------------------------------------------------------------


def burst(
    base_url: str, headers: httpx.Headers, requests: list[tuple[str, str, Any]]
) -> list[httpx.Response]:
    """All ``requests`` (method, path, JSON body or None) sent at once, each on its own HTTP
    connection; their responses, in order."""

    async def fire() -> list[httpx.Response]:
        limits = httpx.Limits(max_connections=len(requests), max_keepalive_connections=0)
        async with httpx.AsyncClient(
            base_url=base_url, headers=headers, timeout=120, limits=limits, trust_env=False
        ) as client:
            return await asyncio.gather(
                *(client.request(method, path, json=body) for method, path, body in requests)
            )

    return asyncio.run(fire())


def statuses(responses: list[httpx.Response]) -> dict[int, int]:
    return dict(collections.Counter(response.status_code for response in responses))


@pytest.fixture
def quick_flow(alice: User, alice_workspace: Workspace) -> Workflow:
    return make_workflow(
        alice, alice_workspace, chain(node("brief", "input"), node("result", "output")), "Quick"
    )


# -- the pool bounds the web process ---------------------------------------------------------------


POOL = 4


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_bursts_of_200_requests_all_succeed_on_no_more_connections_than_the_pool(
    stack: Stack, stack_worker: CeleryWorker, alice: User, quick_flow: Workflow
) -> None:
    # What this checks is that every request of a burst is served on the pool's connections, not
    # how fast: a loaded machine (load 14 in one full run) kept some waiting past the default 10 s
    # and the pool answered them 503, as it should. The refusal has a test of its own below.
    env = {"WEB_DB_POOL_SIZE": str(POOL), "WEB_DB_POOL_TIMEOUT": "60"}
    with stack.daphne(env=env) as web, client_of(alice, web) as api:
        listing = [("GET", "/api/workflows/", None)] * 200
        runs_path = f"/api/workflows/{quick_flow.id}/runs/"
        mixed = [
            ("POST", runs_path, {"input": {"n": i}}) if i % 2 else ("GET", "/api/workflows/", None)
            for i in range(200)
        ]
        with PeakWatcher(web) as watcher:
            first = burst(web.url, api.headers, listing)
            second = burst(web.url, api.headers, mixed)
        assert statuses(first) == {200: 200}, [r.text for r in first if r.status_code != 200][:3]
        assert statuses(second) == {200: 100, 201: 100}, [
            r.text for r in second if r.status_code >= 300
        ][:3]
        # Daphne used its pool, and never more than its pool, whatever the burst.
        assert 1 <= watcher.peak <= POOL, stack.logs()
        assert watcher.names == {"flowbuilder-web"}
        with probe() as db:
            assert len(backends(db, web)) <= POOL  # and it keeps no more once it is idle

        run_ids = [response.json()["id"] for response in second if response.status_code == 201]
        wait_until(
            lambda: (
                not Run.objects.filter(pk__in=run_ids)
                .exclude(status__in=["succeeded", "failed", "cancelled"])
                .exists()
            ),
            120,
            "the 100 runs to finish",
            interval=0.5,
        )
        assert set(Run.objects.filter(pk__in=run_ids).values_list("status", flat=True)) == {
            "succeeded"
        }

    # The workers took no pool: each pool process kept (at most) one connection across its tasks.
    with probe() as db:
        held = backends(db, stack_worker)
    per_process = collections.Counter(backend.pid for backend in held)
    assert per_process, "the workers ran 100 runs but hold no connection"
    assert set(per_process) <= set(stack_worker.tree_pids())
    assert max(per_process.values()) == 1, held
    assert {backend.application_name for backend in held} == {"flowbuilder-worker"}


# -- the listen backlog ----------------------------------------------------------------------------


def listen_backlog(port: int) -> int:
    """The backlog of the socket listening on ``port``, as the kernel reports it (``ss``: a
    listening socket's Send-Q is its backlog)."""
    shown = subprocess.run(
        ["ss", "-ltnH", f"sport = :{port}"], capture_output=True, text=True, check=True
    ).stdout.split()
    assert shown and shown[0] == "LISTEN", shown
    return int(shown[2])


@pytest.mark.stack
@pytest.mark.skipif(not shutil.which("ss"), reason="needs ss (iproute2)")
def test_daphne_listens_with_the_configured_backlog_not_twisteds_50(stack: Stack) -> None:
    with stack.daphne() as web:
        assert listen_backlog(web.port) == min(DEFAULT_BACKLOG, somaxconn())
    with stack.daphne(env={"WEB_LISTEN_BACKLOG": "333"}) as web:
        assert listen_backlog(web.port) == 333


def somaxconn() -> int:
    return int(Path("/proc/sys/net/core/somaxconn").read_text())


@pytest.mark.parametrize(
    ("value", "said"),
    [("lots", "must be a whole number, not 'lots'"), ("0", "must be at least 1, not 0")],
)
def test_a_bad_backlog_stops_the_web_process_with_a_clear_error(value: str, said: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "orchestrator.web_server", "--port", "1"],
        env={**os.environ, "WEB_LISTEN_BACKLOG": value},
        capture_output=True,
        text=True,
        timeout=60,
        cwd=REPO,
    )
    assert done.returncode != 0
    assert f"WEB_LISTEN_BACKLOG {said}" in done.stderr


# -- a database that cannot take the request -------------------------------------------------------


def assert_database_unavailable(response: httpx.Response) -> None:
    assert response.status_code == 503, response.text
    assert int(response.headers["Retry-After"]) > 0
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "database_unavailable"
    assert body["error"]["message"]


@pytest.mark.stack
@pytest.mark.django_db(transaction=True)
def test_a_request_that_gets_no_connection_in_time_is_answered_503_with_retry_after(
    stack: Stack, alice: User, quick_flow: Workflow
) -> None:
    env = {"WEB_DB_POOL_SIZE": "1", "WEB_DB_POOL_TIMEOUT": "0.5"}
    with (
        stack.daphne(env=env) as web,
        client_of(alice, web) as api,
        probe() as db,
        ThreadPoolExecutor(max_workers=1) as pool,
    ):
        assert api.get("/api/workflows/").status_code == 200
        # Hold the pool's only connection busy: a listing that waits for a lock this test holds.
        with probe() as locker, locker.transaction():
            locker.execute(f"LOCK TABLE {Workflow._meta.db_table} IN ACCESS EXCLUSIVE MODE")
            held = pool.submit(api.get, "/api/workflows/")
            wait_until(
                lambda: any(b.wait_event_type == "Lock" for b in backends(db, web)),
                15,
                "Daphne's request to wait on the lock",
            )
            assert_database_unavailable(api.get("/api/workflows/"))
            assert_database_unavailable(
                api.post(f"/api/workflows/{quick_flow.id}/runs/", json={"input": {}})
            )
        # The lock is gone with its transaction: the held request goes through.
        assert held.result(timeout=30).status_code == 200
        # Once a connection is free again, the same requests succeed.
        assert api.get("/api/workflows/").status_code == 200
        assert len(backends(db, web)) <= 1
    assert not Run.objects.filter(workflow=quick_flow).exists()


# -- which processes pool --------------------------------------------------------------------------

ROLE_PROBE = """
import json, os, sys
if sys.argv[1] == "asgi":
    import orchestrator.asgi  # what Daphne loads
else:
    import django
    django.setup()
from django.conf import settings
db = settings.DATABASES["default"]
print(json.dumps({"max_age": db["CONN_MAX_AGE"], "options": db.get("OPTIONS", {})}))
"""


def database_settings(entry: str, **env: str) -> dict[str, Any]:
    """The database settings of a fresh process started through ``entry`` ("asgi": as Daphne
    loads the app; "django": as a worker, beat or manage.py does), with ``env``."""
    environ = {
        key: value for key, value in os.environ.items() if key not in {"FLOWBUILDER_PROCESS"}
    }
    environ.update(
        DJANGO_SETTINGS_MODULE="orchestrator.settings",
        DATABASE_URL="postgres://flows@127.0.0.1:5432/flows",
        **env,
    )
    done = subprocess.run(
        [sys.executable, "-c", ROLE_PROBE, entry],
        cwd=REPO,
        env=environ,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    result: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return result


def test_only_the_asgi_process_pools_its_connections() -> None:
    web = database_settings("asgi")
    assert web["max_age"] == 0
    assert web["options"]["application_name"] == "flowbuilder-web"
    assert web["options"]["pool"]["max_size"] == 10
    assert web["options"]["pool"]["timeout"] == 10

    sized = database_settings("asgi", WEB_DB_POOL_SIZE="3", WEB_DB_POOL_TIMEOUT="2.5")
    assert (sized["options"]["pool"]["max_size"], sized["options"]["pool"]["timeout"]) == (3, 2.5)

    # 0: no pool, but still no connection kept past its request.
    unpooled = database_settings("asgi", WEB_DB_POOL_SIZE="0")
    assert unpooled["max_age"] == 0
    assert "pool" not in unpooled["options"]

    # Workers (and beat, manage.py) keep one connection per process, and never get a pool.
    worker = database_settings("django", FLOWBUILDER_PROCESS="worker")
    assert worker["max_age"] == 60
    assert worker["options"] == {"application_name": "flowbuilder-worker"}
    assert database_settings("django")["options"] == {"application_name": "flowbuilder"}


def test_importing_the_asgi_app_into_a_running_django_changes_nothing() -> None:
    """A test (or shell) that imports orchestrator.asgi is not the web process: its settings stay,
    and the processes it starts inherit no web role."""
    before = os.environ.get("FLOWBUILDER_PROCESS")
    import orchestrator.asgi  # noqa: F401

    assert os.environ.get("FLOWBUILDER_PROCESS") == before
    assert "pool" not in connection.settings_dict.get("OPTIONS", {})
