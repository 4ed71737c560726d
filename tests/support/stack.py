"""Real processes for tests and benchmarks: Celery workers, beat and Daphne, started against one
PostgreSQL database and one Redis database, stopped (and reaped) for sure.

Outside pytest (a benchmark)::

    stack = Stack(database_url="postgres://postgres@127.0.0.1:5432/flowbench",
                  redis_url="redis://127.0.0.1:6379/6", env={"STEP_LEASE_SECONDS": "15"})
    stack.flush_redis()                       # before any process starts: no stale tasks
    try:
        workers = [stack.worker(concurrency=4, wait=False) for _ in range(2)]
        web = stack.daphne()                  # started and answering /healthz
        for worker in workers:
            worker.wait_ready()
        ...                                   # web.url, web.ws_url("/ws/runs/<id>/")
    finally:
        stack.close()                         # SIGTERM, then SIGKILL after a timeout; reaped

In pytest, import the fixtures below into a conftest: ``stack`` (session: the Stack on the
pytest-django test database and Redis db 5 — or STACK_REDIS_URL — flushed at start; skipped
without PostgreSQL or Redis; refuses to start if other workers listen there), ``stack_daphne``
(session), ``stack_worker`` (module: one worker, two prefork processes), ``stack_vendor``
(session: the scripted LLM vendor every process of the stack talks to: OPENAI_BASE_URL) and
``vendor`` (the same server, emptied around each test). Other workers are started by the tests
themselves, e.g. ``with stack.worker(concurrency=1) as a, stack.beat() as beat: ...``.

Tests that use the stack need ``@pytest.mark.django_db(transaction=True)``: the processes only
see committed rows. :class:`RunSocket` is a WebSocket client for ``/ws/runs/<id>/``.
"""

from __future__ import annotations

import contextlib
import glob
import itertools
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar
from urllib.parse import quote

import httpx
import psutil
import pytest
import redis
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from tests.support.vendor_server import VendorServer

REPO = Path(__file__).resolve().parents[2]
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/5"
T = TypeVar("T")

# What every stack process gets unless the caller says otherwise: short leases so a killed worker's
# step is re-queued within seconds, and a sweeper that runs every second.
STACK_DEFAULTS = {
    "STEP_LEASE_SECONDS": "3",
    "SWEEP_SECONDS": "1",
    "SECRET_KEY": "stack-test-secret-key-not-for-production-0123456789abcdef",
    "DJANGO_SETTINGS_MODULE": "orchestrator.settings",
    "PYTHONUNBUFFERED": "1",
    "DEBUG": "0",
}


class StackError(RuntimeError):
    """A stack process did not start, or died: the message carries the end of its log."""


def wait_until(check: Callable[[], T], timeout: float, what: str, interval: float = 0.05) -> T:
    """Poll ``check`` until it returns something truthy; AssertionError naming ``what`` if not."""
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout} s waiting for {what}")
        time.sleep(interval)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _executable(name: str) -> str:
    beside = Path(sys.executable).parent / name
    if beside.exists():
        return str(beside)
    found = shutil.which(name)
    if found is None:
        raise StackError(f"{name} is not installed in this environment")
    return found


# -- one process -----------------------------------------------------------------------------------


class ManagedProcess:
    """A child process in its own session (so its whole tree can be signalled), logging to a file.

    ``stop()`` sends SIGTERM, waits, then SIGKILLs everything left of the tree; ``kill()``
    SIGKILLs the tree at once (a crash). Both reap. Usable as a context manager.
    """

    ready_timeout = 30.0

    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_path: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = log_path
        self.popen: subprocess.Popen[bytes] | None = None
        self._log: Any = None
        self._known: dict[int, psutil.Process] = {}

    # lifecycle

    def start(self) -> ManagedProcess:
        if self.popen is not None:
            return self
        self._log = open(self.log_path, "ab")  # noqa: SIM115 - closed in _reaped()
        self.popen = subprocess.Popen(
            self.argv,
            env=self.env,
            cwd=REPO,
            stdin=subprocess.DEVNULL,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        return self

    def is_ready(self) -> bool:
        return True

    def wait_ready(self, timeout: float | None = None) -> ManagedProcess:
        timeout = self.ready_timeout if timeout is None else timeout
        deadline = time.monotonic() + timeout
        while True:
            if not self.alive:
                raise StackError(f"{self.name} exited with {self.returncode}:\n{self.log_tail()}")
            try:
                if self.is_ready():
                    return self
            except Exception:  # not answering yet
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise StackError(f"{self.name} not ready after {timeout} s:\n{self.log_tail()}")
            time.sleep(0.1)

    @property
    def pid(self) -> int:
        if self.popen is None:
            raise StackError(f"{self.name} was never started")
        return self.popen.pid

    @property
    def alive(self) -> bool:
        return self.popen is not None and self.popen.poll() is None

    @property
    def returncode(self) -> int | None:
        return None if self.popen is None else self.popen.poll()

    def tree(self) -> list[psutil.Process]:
        """The process and all its descendants (also remembered, so stop() can find orphans)."""
        if not self.alive:
            return []
        try:
            root = psutil.Process(self.pid)
            found = [root, *root.children(recursive=True)]
        except psutil.NoSuchProcess:
            return []
        for proc in found:
            self._known[proc.pid] = proc
        return found

    def tree_pids(self) -> list[int]:
        """PIDs of the process and its descendants, the main process first."""
        return [proc.pid for proc in self.tree()]

    def child_pids(self) -> list[int]:
        """PIDs of the descendants only (a Celery worker's pool processes)."""
        return self.tree_pids()[1:]

    def kill(self) -> None:
        """SIGKILL the whole tree at once, as a crash (or the OOM killer) would; then reap."""
        procs = self.tree()
        # The group id is ours only while its leader (our child) is not yet reaped.
        if self.popen is not None and self.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.popen.pid, signal.SIGKILL)
        for proc in procs:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        self._reaped(timeout=10)

    def stop(self, timeout: float = 10.0) -> None:
        """SIGTERM (a Celery worker finishes its tasks first), then SIGKILL whatever is left."""
        if self.popen is None:
            return
        self.tree()
        if self.alive:
            with contextlib.suppress(ProcessLookupError):
                self.popen.send_signal(signal.SIGTERM)
            with contextlib.suppress(subprocess.TimeoutExpired):
                self.popen.wait(timeout)
        self.kill()

    def _reaped(self, timeout: float) -> None:
        assert self.popen is not None
        try:
            self.popen.wait(timeout)
        except subprocess.TimeoutExpired as exc:  # pragma: no cover - SIGKILL is not ignorable
            raise StackError(f"{self.name} (pid {self.pid}) survived SIGKILL") from exc
        # Descendants of a killed parent are orphans now; none may outlive the stack.
        leftovers = [proc for proc in self._known.values() if proc.is_running()]
        for proc in leftovers:
            with contextlib.suppress(psutil.NoSuchProcess):
                proc.kill()
        psutil.wait_procs(leftovers, timeout=5)
        if self._log is not None:
            self._log.close()
            self._log = None

    def log_tail(self, chars: int = 6000) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except FileNotFoundError:
            return "(no log)"
        return text[-chars:]

    def __enter__(self) -> ManagedProcess:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = "running" if self.alive else f"exited {self.returncode}"
        return f"<{type(self).__name__} {self.name} pid={self.popen and self.popen.pid} {state}>"


class CeleryWorker(ManagedProcess):
    """``celery -A orchestrator worker --pool prefork``; ready when it answers a ping."""

    def __init__(self, stack: Stack, name: str, argv: list[str], env: dict[str, str]) -> None:
        super().__init__(name, argv, env, stack.workdir / f"{name}.log")
        self.stack = stack
        self.nodename = f"{name}@{socket.gethostname()}"

    def is_ready(self) -> bool:
        replies = self.stack.control.control.ping(destination=[self.nodename], timeout=0.5)
        return any(self.nodename in reply for reply in replies or [])

    def pool_pids(self) -> list[int]:
        """The prefork pool's processes: the ones that run tasks (and name themselves in
        ``Step.worker`` as ``<host>:<pid>``)."""
        return self.child_pids()

    def __enter__(self) -> CeleryWorker:
        return self


class Beat(ManagedProcess):
    """``celery -A orchestrator beat``: sends the sweeper task every SWEEP_SECONDS."""

    def __init__(self, stack: Stack, name: str, argv: list[str], env: dict[str, str]) -> None:
        super().__init__(name, argv, env, stack.workdir / f"{name}.log")
        self.schedule = str(stack.workdir / f"{name}-schedule")

    def is_ready(self) -> bool:
        # Beat opens its schedule file (a shelve: the name plus a suffix on some dbm modules)
        # once it has loaded the app and is about to tick.
        return bool(glob.glob(self.schedule + "*"))

    def __enter__(self) -> Beat:
        return self


class Daphne(ManagedProcess):
    """Daphne (``orchestrator.web_server``) on a free loopback port; ready when /healthz is 200
    (so the database and Redis answer it too)."""

    ready_timeout = 20.0

    def __init__(self, stack: Stack, name: str, port: int, env: dict[str, str]) -> None:
        # As the Procfile and `flowbuilder web` start it (the listen backlog included).
        argv = [sys.executable, "-m", "orchestrator.web_server", "--port", str(port)]
        super().__init__(name, argv, env, stack.workdir / f"{name}.log")
        self.port = port

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def origin(self) -> str:
        """An Origin header the WebSocket origin check accepts (127.0.0.1 is in ALLOWED_HOSTS)."""
        return self.url

    def ws_url(self, path: str) -> str:
        return f"ws://127.0.0.1:{self.port}{path}"

    def is_ready(self) -> bool:
        return httpx.get(f"{self.url}/healthz", timeout=1.0, trust_env=False).status_code == 200

    def __enter__(self) -> Daphne:
        return self


# -- the stack -------------------------------------------------------------------------------------


class Stack:
    """Starts stack processes that share one database, one Redis database and one environment.

    ``env`` is added to (and overrides) the defaults; OPENAI_*/ANTHROPIC_* variables of the
    calling shell are not passed on unless given, so no test ever reaches a real vendor.
    """

    _names = itertools.count(1)

    def __init__(
        self,
        database_url: str,
        redis_url: str = DEFAULT_REDIS_URL,
        *,
        env: dict[str, str] | None = None,
        workdir: Path | None = None,
    ) -> None:
        self.database_url = database_url
        self.redis_url = redis_url
        self.workdir = Path(workdir or tempfile.mkdtemp(prefix="flow-stack-"))
        self.workdir.mkdir(parents=True, exist_ok=True)
        inherited = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("OPENAI_", "ANTHROPIC_"))
        }
        self.env: dict[str, str] = {
            **inherited,
            **STACK_DEFAULTS,
            "DATABASE_URL": database_url,
            "REDIS_URL": redis_url,
            "VAR_DIR": str(self.workdir / "var"),
            # The stack's own metrics files: the test process's settings put its checkout's
            # var/metrics in the environment, which every test session of that checkout shares,
            # and a metrics test then counted another session's worker steps as its own.
            "PROMETHEUS_MULTIPROC_DIR": str(self.workdir / "var" / "metrics"),
            # One knowledge store for every process of the stack, named rather than left to the
            # default (which depends on whether the test database has pgvector): a document one
            # worker ingests is searched by every Daphne, whichever worker took the task.
            "KNOWLEDGE_STORE_URL": f"sqlite:///{self.workdir / 'var' / 'knowledge.sqlite3'}",
            **(env or {}),
        }
        self.processes: list[ManagedProcess] = []
        self._control: Any = None
        self._token = uuid.uuid4().hex[:6]

    @property
    def control(self) -> Any:
        """A Celery app on the stack's broker, for remote control (ping) from this process.

        Not set as the current app: the project's own app (and its tasks) stay untouched."""
        if self._control is None:
            from celery import Celery

            self._control = Celery("stack-control", broker=self.redis_url, set_as_current=False)
            self._control.conf.broker_connection_retry_on_startup = True
        return self._control

    def redis(self) -> redis.Redis:
        return redis.Redis.from_url(self.redis_url, socket_connect_timeout=2)

    def strays(self) -> list[str]:
        """Celery workers already answering on this Redis database (say, left over from a run
        that was killed): they would take this stack's tasks, so a stack must not start."""
        replies = self.control.control.ping(timeout=0.5) or []
        return sorted(name for reply in replies for name in reply)

    def flush_redis(self) -> None:
        """Empty the stack's Redis database: no stale task of an earlier run can be delivered.

        Only before any process starts: Kombu keeps its queue bindings in the same database."""
        client = self.redis()
        try:
            client.flushdb()
        finally:
            client.close()

    def _name(self, kind: str) -> str:
        return f"{kind}{next(self._names)}-{self._token}"

    def _env(self, extra: dict[str, str] | None) -> dict[str, str]:
        # Each process names its role (FLOWBUILDER_PROCESS, as the Procfile does; Daphne's is set
        # by orchestrator/asgi.py), so a role in this process's environment never reaches them.
        return {**self.env, **(extra or {})}

    def _track(self, process: T) -> T:
        self.processes.append(process)  # type: ignore[arg-type]
        return process

    def worker(
        self,
        concurrency: int = 2,
        *,
        name: str | None = None,
        beat: bool = False,
        env: dict[str, str] | None = None,
        wait: bool = True,
        log_level: str = "warning",
    ) -> CeleryWorker:
        """Start ``celery worker --pool prefork --concurrency N`` (with ``-B``: beat inside it);
        with ``wait``, return once it answers a ping."""
        name = name or self._name("worker")
        argv = [
            _executable("celery"),
            "-A",
            "orchestrator",
            "worker",
            "--pool",
            "prefork",
            "--concurrency",
            str(concurrency),
            "-l",
            log_level,
            "-n",
            f"{name}@%h",
            "-O",
            "fair",
            # Startup in about a second: no waiting for other workers to sync with.
            "--without-mingle",
            "--without-gossip",
        ]
        if beat:
            argv += ["-B", "-s", str(self.workdir / f"{name}-schedule")]
        env = {"FLOWBUILDER_PROCESS": "worker", **(env or {})}
        worker = self._track(CeleryWorker(self, name, argv, self._env(env)))
        worker.start()
        if wait:
            worker.wait_ready()
        return worker

    def beat(self, *, env: dict[str, str] | None = None, wait: bool = True) -> Beat:
        """Start ``celery beat`` on its own (so killing a worker does not kill the sweeper)."""
        name = self._name("beat")
        schedule = str(self.workdir / f"{name}-schedule")
        argv = [
            _executable("celery"),
            "-A",
            "orchestrator",
            "beat",
            "-l",
            "warning",
            "-s",
            schedule,
            "--pidfile",
            str(self.workdir / f"{name}.pid"),
        ]
        env = {"FLOWBUILDER_PROCESS": "beat", **(env or {})}
        process = self._track(Beat(self, name, argv, self._env(env)))
        process.start()
        if wait:
            process.wait_ready()
        return process

    def daphne(self, *, env: dict[str, str] | None = None, wait: bool = True) -> Daphne:
        """Start Daphne on a free port; with ``wait``, return once /healthz answers 200."""
        process = self._track(Daphne(self, self._name("daphne"), free_port(), self._env(env)))
        process.start()
        if wait:
            process.wait_ready()
        return process

    def close(self) -> None:
        """Stop every process this stack started (in reverse order) and reap them."""
        errors = []
        for process in reversed(self.processes):
            try:
                process.stop()
            except Exception as exc:  # keep stopping the others
                errors.append(exc)
        self.processes.clear()
        if self._control is not None:
            self._control.close()
            self._control = None
        if errors:
            raise errors[0]

    def logs(self) -> str:
        """The end of every process's log: attach it to a failing assertion."""
        return "\n".join(f"== {p.name} ==\n{p.log_tail(3000)}" for p in self.processes)

    def __enter__(self) -> Stack:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- a WebSocket client for /ws/runs/<id>/ ---------------------------------------------------------


class RunSocket:
    """``/ws/runs/<id>/?after=<seq>`` over a real socket, with the Origin the server checks and
    (optionally) a Django session cookie. Collects logged events (``events``, those with a seq)
    apart from streamed chunks (``chunks``, seq null)."""

    def __init__(
        self,
        daphne: Daphne,
        run_id: Any,
        *,
        after: int | str | None = None,
        session: str | None = None,
        origin: str | None = None,
        open_timeout: float = 10.0,
    ) -> None:
        path = f"/ws/runs/{run_id}/"
        if after is not None:
            path += f"?after={after}"
        headers = {"Cookie": f"sessionid={quote(session)}"} if session else {}
        # Entered as a context manager (websockets ≥ 17.1 wants that); left by close().
        self.connection: ClientConnection = connect(
            daphne.ws_url(path),
            origin=origin or daphne.origin,  # type: ignore[arg-type]
            additional_headers=headers,
            open_timeout=open_timeout,
            # No client pings: an idle socket must stay open on the server's account alone.
            ping_interval=None,
            max_queue=None,
            proxy=None,
        ).__enter__()
        self.messages: list[dict[str, Any]] = []  # everything, in arrival order
        self.events: list[dict[str, Any]] = []
        self.chunks: list[dict[str, Any]] = []

    def recv(self, timeout: float) -> dict[str, Any] | None:
        """The next message (also recorded), or None if nothing came within ``timeout``."""
        try:
            raw = self.connection.recv(timeout=timeout)
        except TimeoutError:
            return None
        message: dict[str, Any] = json.loads(raw)
        self.messages.append(message)
        if message.get("seq") is not None:
            self.events.append(message)
        elif message.get("type") == "step.chunk":
            self.chunks.append(message)
        return message

    def read_until(
        self, predicate: Callable[[dict[str, Any]], bool], timeout: float
    ) -> dict[str, Any]:
        """Read until a message satisfies ``predicate``; return it."""
        deadline = time.monotonic() + timeout
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                seen = [(e["seq"], e["type"], e.get("step")) for e in self.events]
                raise AssertionError(f"no matching message within {timeout} s; saw {seen}")
            message = self.recv(left)
            if message is not None and predicate(message):
                return message

    def read_until_type(
        self, type_: str, timeout: float, step: str | None = None
    ) -> dict[str, Any]:
        return self.read_until(
            lambda m: m.get("type") == type_ and (step is None or m.get("step") == step), timeout
        )

    def read_quiet(self, quiet: float, timeout: float) -> None:
        """Read until nothing arrives for ``quiet`` seconds (at most ``timeout`` in all)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.recv(min(quiet, max(deadline - time.monotonic(), 0.01))) is None:
                return

    def close_code(self, timeout: float = 10.0) -> int | None:
        """Wait for the server to close the socket; its close code."""
        deadline = time.monotonic() + timeout
        try:
            while time.monotonic() < deadline:
                self.recv(max(deadline - time.monotonic(), 0.01))
        except ConnectionClosed as closed:
            return closed.rcvd.code if closed.rcvd is not None else None
        raise AssertionError(f"the server kept the socket open for {timeout} s")

    def close(self) -> None:
        with contextlib.suppress(OSError):  # the server may have hung up first
            self.connection.close()

    def __enter__(self) -> RunSocket:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


# -- pytest fixtures -------------------------------------------------------------------------------


@pytest.fixture(scope="session")
def stack_database_url(django_db_setup: None) -> str:
    """The pytest-django test database as a DATABASE_URL for other processes."""
    from django.db import connection

    settings = connection.settings_dict
    if "postgresql" not in settings["ENGINE"]:
        pytest.skip("stack tests need PostgreSQL: set DATABASE_URL=postgres://...")
    user = quote(settings.get("USER") or "", safe="")
    password = quote(settings.get("PASSWORD") or "", safe="")
    auth = f"{user}:{password}@" if password else f"{user}@" if user else ""
    host = settings.get("HOST") or "127.0.0.1"
    port = settings.get("PORT") or 5432
    return f"postgres://{auth}{host}:{port}/{settings['NAME']}"


@pytest.fixture(scope="session")
def stack_vendor() -> Iterator[VendorServer]:
    """The scripted LLM vendor of the whole stack (workers get OPENAI_BASE_URL=its url)."""
    with VendorServer() as server:
        yield server


@pytest.fixture
def vendor(stack_vendor: VendorServer) -> Iterator[VendorServer]:
    """The stack's vendor with nothing scripted and no requests recorded."""
    stack_vendor.reset()
    yield stack_vendor
    stack_vendor.reset()


@pytest.fixture(scope="session")
def stack(
    stack_database_url: str, stack_vendor: VendorServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Stack]:
    """Starts nothing by itself; every process started through it is stopped at the end."""
    redis_url = os.environ.get("STACK_REDIS_URL", DEFAULT_REDIS_URL)
    try:
        client = redis.Redis.from_url(redis_url, socket_connect_timeout=1)
        client.ping()
        client.close()
    except redis.RedisError as exc:
        pytest.skip(f"stack tests need Redis at {redis_url}: {exc}")
    from django.conf import settings

    env = {
        "OPENAI_BASE_URL": stack_vendor.url,
        "OPENAI_API_KEY": "test",
        # Sessions made in this process (force_login) are signed with this process's key.
        "SECRET_KEY": settings.SECRET_KEY,
    }
    with Stack(
        stack_database_url, redis_url, env=env, workdir=tmp_path_factory.mktemp("stack")
    ) as started:
        strays = started.strays()
        if strays:
            raise StackError(
                f"Celery workers already listen on {redis_url}: {', '.join(strays)}. Stop them, "
                "or give these tests another Redis database with STACK_REDIS_URL."
            )
        started.flush_redis()
        yield started


@pytest.fixture(scope="session")
def stack_daphne(stack: Stack) -> Iterator[Daphne]:
    """Daphne on a free port, answering /healthz, for the whole session."""
    with stack.daphne() as daphne:
        yield daphne


@pytest.fixture(scope="module")
def stack_worker(stack: Stack) -> Iterator[CeleryWorker]:
    """One Celery worker with two prefork processes, for the module that asks for it (stopped at
    the module's end, so the next module's own workers are the only ones taking tasks)."""
    with stack.worker(concurrency=2) as worker:
        yield worker
