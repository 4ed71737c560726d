"""Real MCP servers the tool tests run against, none of them ours: the protocol's reference
server (``@modelcontextprotocol/server-everything``, npm, in tests/support/mcp), ``mcp-server-time``
(PyPI, stdio) and a server built with the official SDK (tests/support/mcp/python_server.py).

HTTP servers start on a free loopback port and are waited for; :meth:`HttpServer.kill` stops
one for good mid-test (SIGKILL), as a crash would.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
MCP_DIR = REPO / "tests" / "support" / "mcp"
EVERYTHING_JS = MCP_DIR / "node_modules" / "@modelcontextprotocol" / "server-everything" / "dist"
PYTHON_SERVER = MCP_DIR / "python_server.py"
TIME_SERVER = Path(sys.executable).with_name("mcp-server-time")


def ensure_everything_installed() -> Path:
    """The reference server's entry point, installed from the lock file when missing."""
    entry = EVERYTHING_JS / "index.js"
    if not entry.exists():
        npm = shutil.which("npm")
        if npm is None:
            raise RuntimeError("npm is needed for @modelcontextprotocol/server-everything")
        subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--silent"], cwd=MCP_DIR, check=True)
    return entry


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _wait_for_port(port: int, process: subprocess.Popen[bytes], timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the MCP server exited with {process.returncode} before listening")
        with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
            return
        time.sleep(0.05)
    raise RuntimeError(f"the MCP server did not listen on port {port} within {timeout}s")


class HttpServer:
    def __init__(
        self, command: list[str], port: int, path: str = "/mcp", env: dict[str, str] | None = None
    ) -> None:
        self.port = port
        self.url = f"http://127.0.0.1:{port}{path}"
        self.process = subprocess.Popen(
            command,
            env={**os.environ, **(env or {})},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        try:
            _wait_for_port(port, self.process)
        except BaseException:
            self.kill()
            raise

    def kill(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)


@contextlib.contextmanager
def everything_http() -> Iterator[HttpServer]:
    entry = ensure_everything_installed()
    port = free_port()
    server = HttpServer(["node", str(entry), "streamableHttp"], port, env={"PORT": str(port)})
    try:
        yield server
    finally:
        server.kill()


@contextlib.contextmanager
def python_http(token: str | None = None, extra: int = 0) -> Iterator[HttpServer]:
    port = free_port()
    command = [sys.executable, str(PYTHON_SERVER), "--port", str(port), "--extra", str(extra)]
    if token:
        command += ["--token", token]
    server = HttpServer(command, port)
    try:
        yield server
    finally:
        server.kill()


def everything_stdio_command() -> tuple[str, tuple[str, ...]]:
    return "node", (str(ensure_everything_installed()), "stdio")
