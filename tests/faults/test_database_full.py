"""The database server itself is at ``max_connections``: something else holds every slot its
clients may use, and a web process (re)starts into it.

The web side answers 503 with ``Retry-After`` — at once after its pool's wait
(WEB_DB_POOL_TIMEOUT), never a hang and never a 500 — and stores nothing for the requests it
refused; the runs already under way go on, on the workers' own connections. Once the
connections are released, the same requests (with the same Idempotency-Keys) succeed, every run
completes, and no step is lost or completed twice.

The shared PostgreSQL of the machine must never be filled (everyone's tests use it), so this test
runs a cluster of its own: initdb into a temporary directory, a free port, ``max_connections=12``
(3 of them reserved for superusers, so the test can still look inside while it is full), and its
own Redis. Both are stopped and deleted at the end.
"""

from __future__ import annotations

import contextlib
import glob
import json
import os
import pwd
import shutil
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest

from tests.orchestrator.conftest import chain, node
from tests.support.broker import Broker
from tests.support.stack import REPO, Stack, free_port, wait_until
from tests.support.vendor_server import Delay, VendorServer

pytestmark = [pytest.mark.stack]

MAX_CONNECTIONS = 12
RESERVED_FOR_SUPERUSERS = 3
APP_ROLE = "flowbuilder"
POOL_TIMEOUT = 2.0  # WEB_DB_POOL_TIMEOUT of the web processes here
MODEL = "openai/gpt-4o-mini"
REFUSALS = ("too many clients", "remaining connection slots are reserved")


def postgres_bindir() -> Path | None:
    """The directory with initdb and pg_ctl: Debian's newest, or the ones on PATH."""
    found = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"), key=lambda p: int(Path(p).parts[4])
    )
    initdb = found[-1] if found else shutil.which("initdb")
    return Path(initdb).parent if initdb else None


class PrivatePostgres:
    """A PostgreSQL cluster of this test's own in a temporary directory, listening on a free
    loopback port (and a Unix socket in that directory), trusting local connections.

    Run as root, the server runs as the ``postgres`` user (initdb refuses root)."""

    def __init__(self, bindir: Path, max_connections: int) -> None:
        self.bindir = bindir
        self.max_connections = max_connections
        self.root = Path(tempfile.mkdtemp(prefix="flow-pg-full-"))
        self.data = self.root / "data"
        self.log = self.root / "server.log"
        self.port = free_port()
        self.user: str | None = None
        if os.geteuid() == 0:
            self.user = "postgres"
            try:
                owner = pwd.getpwnam(self.user)
            except KeyError:
                owner = pwd.getpwnam("nobody")
                self.user = "nobody"
            os.chown(self.root, owner.pw_uid, owner.pw_gid)

    def _run(self, tool: str, *args: str) -> None:
        done = subprocess.run(
            [str(self.bindir / tool), *args],
            user=self.user,
            capture_output=True,
            text=True,
            timeout=120,
        )
        if done.returncode != 0:
            log = self.log.read_text(errors="replace")[-3000:] if self.log.exists() else ""
            raise RuntimeError(f"{tool} failed ({done.returncode}): {done.stderr}\n{log}")

    def start(self) -> None:
        self._run("initdb", "-D", str(self.data), "-A", "trust", "-U", "postgres")
        options = [
            f"-p {self.port}",
            "-c listen_addresses=127.0.0.1",
            f"-c unix_socket_directories={self.root}",
            f"-c max_connections={self.max_connections}",
            f"-c superuser_reserved_connections={RESERVED_FOR_SUPERUSERS}",
            # A throwaway cluster: nothing needs to survive a crash.
            "-c fsync=off",
            "-c synchronous_commit=off",
            "-c full_page_writes=off",
        ]
        self._run(
            "pg_ctl",
            "-D",
            str(self.data),
            "-l",
            str(self.log),
            "-o",
            " ".join(options),
            "-w",
            "-t",
            "60",
            "start",
        )

    def stop(self) -> None:
        with contextlib.suppress(Exception):  # never started, or already gone
            self._run("pg_ctl", "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)

    def url(self, user: str, database: str) -> str:
        return f"postgres://{user}@127.0.0.1:{self.port}/{database}"

    def connect(
        self, user: str = "postgres", database: str = "postgres"
    ) -> psycopg.Connection[Any]:
        return psycopg.connect(
            host="127.0.0.1",
            port=self.port,
            user=user,
            dbname=database,
            autocommit=True,
            connect_timeout=5,
            application_name="flowbuilder-test-probe",
        )


@pytest.fixture(scope="module")
def cluster() -> Iterator[PrivatePostgres]:
    bindir = postgres_bindir()
    if bindir is None or not (bindir / "pg_ctl").exists():
        pytest.skip(
            "initdb is not installed (Debian: apt-get install postgresql): this test runs a "
            "PostgreSQL cluster of its own, so that it never fills the shared server"
        )
    server = PrivatePostgres(bindir, MAX_CONNECTIONS)
    try:
        server.start()
        with server.connect() as admin:
            admin.execute(f"CREATE ROLE {APP_ROLE} LOGIN")  # not a superuser: the app's role
            admin.execute(f"CREATE DATABASE {APP_ROLE} OWNER {APP_ROLE}")
        yield server
    finally:
        server.stop()


@pytest.fixture
def private_broker(tmp_path: Path) -> Iterator[Broker]:
    server = Broker(tmp_path)
    server.start()
    yield server
    server.stop()


SEED = """
import json, sys
import django
django.setup()
from django.contrib.auth.models import User
from editor import operations, webhooks
from editor.tokens import issue_token
alice = User.objects.create_user("alice", "alice@example.org", "not-used-here")
workspace = operations.ensure_personal_workspace(alice)
workflow = operations.create_workflow(
    user=alice, workspace=workspace, name="Slow", graph=json.loads(sys.argv[1])
)
_, token = issue_token(alice, "full")
_, hook = webhooks.create_or_rotate_webhook(workflow, user=alice)
print(json.dumps({"token": token, "workflow": str(workflow.pk), "hook": hook}))
"""


def run_python(stack: Stack, *argv: str) -> str:
    """Run Python with the stack's environment (its database); its last line of output."""
    done = subprocess.run(
        [sys.executable, *argv],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout.strip().splitlines()[-1] if done.stdout.strip() else ""


class Hog:
    """Takes every connection slot the app's role may have, as another client would."""

    def __init__(self, cluster: PrivatePostgres) -> None:
        self.cluster = cluster
        self.held: list[psycopg.Connection[Any]] = []
        self.refusal = ""

    def fill(self) -> None:
        while True:
            try:
                self.held.append(self.cluster.connect(APP_ROLE, APP_ROLE))
            except psycopg.OperationalError as exc:
                self.refusal = str(exc)
                return
            if len(self.held) > MAX_CONNECTIONS:
                raise AssertionError("the server took more connections than max_connections")

    def release(self) -> None:
        for held in self.held:
            held.close()
        self.held.clear()


def connections_by_role(cluster: PrivatePostgres) -> dict[str, int]:
    with cluster.connect() as admin:
        rows = admin.execute(
            "SELECT usename, count(*) FROM pg_stat_activity "
            "WHERE backend_type = 'client backend' GROUP BY usename"
        ).fetchall()
    return {str(user): int(count) for user, count in rows}


def finished_model_steps(cluster: PrivatePostgres) -> int:
    with cluster.connect(database=APP_ROLE) as admin:
        (count,) = admin.execute(
            "SELECT count(*) FROM orchestrator_step WHERE key = 'slow' AND status = 'succeeded'"
        ).fetchone()
    return int(count)


Request = tuple[str, str, Any, dict[str, str]]  # method, path, JSON body, headers


def requests(secret: str, workflow_id: str) -> list[Request]:
    """What clients send: the API (a listing, a run start) and the webhook; each start with an
    Idempotency-Key, which it sends again when it retries."""
    return [
        ("GET", "/api/workflows/", None, {}),
        (
            "POST",
            f"/api/workflows/{workflow_id}/runs/",
            {"input": {"topic": "api"}},
            {"Idempotency-Key": "start-1"},
        ),
        ("POST", f"/hooks/{secret}/", {"topic": "hook"}, {"Idempotency-Key": "hook-1"}),
    ]


def send_all(client: httpx.Client, batch: list[Request]) -> list[tuple[httpx.Response, float]]:
    """Every request at once; each answer with the seconds it took."""

    def one(request: Request) -> tuple[httpx.Response, float]:
        method, path, body, headers = request
        started = time.monotonic()
        response = client.request(method, path, json=body, headers=headers)
        return response, time.monotonic() - started

    with ThreadPoolExecutor(max_workers=len(batch)) as pool:
        return list(pool.map(one, batch))


def answers(url: str) -> bool:
    """Whether anything answers at ``url`` (whatever the status)."""
    try:
        httpx.get(url, timeout=POOL_TIMEOUT + 5, trust_env=False)
    except httpx.HTTPError:
        return False
    return True


def test_a_full_database_server_gets_503_with_retry_after_and_loses_no_run(
    cluster: PrivatePostgres,
    private_broker: Broker,
    vendor: VendorServer,
    tmp_path: Path,
) -> None:
    # Each model call takes a while: runs started before the server fills are still under way
    # while it is full.
    vendor.respond_with(lambda request: Delay(3.0))
    env = {
        "OPENAI_BASE_URL": vendor.url,
        "OPENAI_API_KEY": "test",
        "WEB_DB_POOL_SIZE": "3",
        "WEB_DB_POOL_TIMEOUT": str(POOL_TIMEOUT),
    }
    graph = chain(
        node("brief", "input"),
        node("slow", "worker", model=MODEL, stream=False, retry={"max_attempts": 1}),
        node("result", "output"),
    )
    with Stack(
        cluster.url(APP_ROLE, APP_ROLE), private_broker.url, env=env, workdir=tmp_path / "stack"
    ) as stack:
        run_python(stack, "manage.py", "migrate", "--noinput", "-v", "0")
        seeded = json.loads(run_python(stack, "-c", SEED, json.dumps(graph)))
        token, workflow_id, secret = seeded["token"], seeded["workflow"], seeded["hook"]
        headers = {"Authorization": f"Token {token}"}
        stack.worker(concurrency=2)
        stack.beat()

        # Before: three runs start and their model calls are under way.
        first = stack.daphne()
        with httpx.Client(base_url=first.url, headers=headers, timeout=15, trust_env=False) as api:
            before = [
                api.post(f"/api/workflows/{workflow_id}/runs/", json={"input": {"n": n}})
                for n in range(3)
            ]
        assert [r.status_code for r in before] == [201] * 3, [r.text for r in before]
        wait_until(lambda: len(vendor.requests) >= 2, 20, "the first model calls")
        # The web process restarts (a deploy, a crash) ...
        first.stop()

        # ... while something else takes every connection the app's role may open.
        hog = Hog(cluster)
        try:
            hog.fill()
            time.sleep(0.5)  # a slot that was still being given back
            hog.fill()
            assert any(text in hog.refusal for text in REFUSALS), hog.refusal
            print(f"\nfull: {connections_by_role(cluster)}; the hog holds {len(hog.held)}")
            done_when_full = finished_model_steps(cluster)

            web = stack.daphne(wait=False)
            wait_until(lambda: answers(f"{web.url}/healthz"), 30, "Daphne to answer", interval=0.2)
            # A request that waited for ever would fail on the client's timeout.
            with httpx.Client(
                base_url=web.url, headers=headers, timeout=POOL_TIMEOUT + 10, trust_env=False
            ) as client:
                refused = send_all(client, requests(secret, workflow_id) * 4)
                for response, _ in refused:
                    assert response.status_code == 503, (response.text, web.log_tail())
                    assert int(response.headers["Retry-After"]) > 0
                    assert response.json()["error"]["code"] == "database_unavailable"
                slowest = max(seconds for _, seconds in refused)
                print(f"{len(refused)} requests refused with 503, the slowest in {slowest:.2f} s")
                health = client.get("/readyz")
                assert health.status_code == 503
                # Nothing of the refused starts was stored.
                with cluster.connect(database=APP_ROLE) as admin:
                    (stored,) = admin.execute("SELECT count(*) FROM orchestrator_run").fetchone()
                assert stored == 3
            # The runs under way go on meanwhile, on the connections their workers hold.
            wait_until(
                lambda: finished_model_steps(cluster) > done_when_full,
                30,
                "a model step to finish while the server is full",
                interval=0.2,
            )
        finally:
            hog.release()

        # The connections are back: the same requests succeed, once each.
        released = time.monotonic()
        with httpx.Client(base_url=web.url, headers=headers, timeout=30, trust_env=False) as client:
            wait_until(
                lambda: client.get("/api/workflows/").status_code == 200,
                60,
                "the web process to reconnect",
                interval=0.25,
            )
            print(f"the web process answered again {time.monotonic() - released:.1f} s after")
            again = send_all(client, requests(secret, workflow_id) * 2)
            assert sorted(r.status_code for r, _ in again) == [200, 200, 201, 201, 202, 202], [
                r.text for r, _ in again
            ]
            replayed = [r for r, _ in again if r.headers.get("Idempotent-Replayed") == "true"]
            assert len(replayed) == 2  # the second of each start is the first's run

        with cluster.connect(database=APP_ROLE) as admin:

            def unfinished() -> int:
                (count,) = admin.execute(
                    "SELECT count(*) FROM orchestrator_run "
                    "WHERE status NOT IN ('succeeded', 'failed', 'cancelled')"
                ).fetchone()
                return int(count)

            wait_until(lambda: unfinished() == 0, 60, "every run to finish", interval=0.5)
            runs = dict(admin.execute("SELECT id, status FROM orchestrator_run").fetchall())
            steps = admin.execute("SELECT run_id, key, status FROM orchestrator_step").fetchall()
            events = admin.execute(
                "SELECT run_id, seq, type, step_key FROM orchestrator_event ORDER BY run_id, seq"
            ).fetchall()
            last_seq = dict(admin.execute("SELECT id, last_seq FROM orchestrator_run").fetchall())

    assert len(runs) == 5, runs  # three before, one run start and one webhook call after
    assert set(runs.values()) == {"succeeded"}, (runs, stack.logs())
    assert Counter(status for _, _, status in steps) == {"succeeded": 15}, steps
    succeeded = Counter((run, key) for run, _, kind, key in events if kind == "step.succeeded")
    assert succeeded == Counter(
        {(run, key): 1 for run in runs for key in ("brief", "slow", "result")}
    )
    for run in runs:
        seqs = [seq for run_id, seq, _, _ in events if run_id == run]
        assert seqs == list(range(1, last_seq[run] + 1)), run
    assert len(vendor.requests) == 5  # each run's model step was called once
