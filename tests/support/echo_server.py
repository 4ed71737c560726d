"""A real HTTP server on loopback for outbound-request tests: it echoes, fails, redirects, floods.

    with EchoServer() as server:                # or EchoServer(host="127.0.0.2")
        server.url("/echo?x=1")                 # http://127.0.0.1:<port>/echo?x=1
        server.requests[-1].headers["authorization"]

Routes (any method):

- ``/echo``: 200 JSON ``{method, path, query, headers, body, json}`` of the request;
- ``/status/<n>``: status ``n`` with a JSON body ``{"status": n, "authorization": <header>}``;
- ``/flaky/<key>/<n>``: 500 the first ``n`` times for ``key``, then 200 JSON ``{"ok": true}``;
- ``/redirect?to=<url>&status=302``: a redirect to ``to``;
- ``/bytes/<n>?chunked=1``: ``n`` bytes of ``x`` (chunked without Content-Length when asked);
- ``/gzip``: a gzip-compressed text body, sent whatever the request accepts;
- ``/text``: ``text/plain`` ``hello``.
"""

from __future__ import annotations

import gzip
import json
import ssl
import threading
from collections import Counter
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class SeenRequest:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]  # lower-cased names
    body: bytes


class EchoServer:
    def __init__(self, host: str = "127.0.0.1", tls: ssl.SSLContext | None = None) -> None:
        self.host = host
        self.scheme = "https" if tls else "http"
        self.requests: list[SeenRequest] = []
        self._flaky: Counter[str] = Counter()
        self._lock = threading.Lock()
        self._server = ThreadingHTTPServer((host, 0), _make_handler(self))
        self._server.daemon_threads = True
        if tls is not None:
            self._server.socket = tls.wrap_socket(self._server.socket, server_side=True)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> EchoServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(timeout=5)

    @property
    def port(self) -> int:
        return int(self._server.server_address[1])

    def url(self, path: str = "/") -> str:
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def record(self, request: SeenRequest) -> None:
        with self._lock:
            self.requests.append(request)

    def flaky_failure(self, key: str, failures: int) -> bool:
        with self._lock:
            self._flaky[key] += 1
            return self._flaky[key] <= failures


def _make_handler(server: EchoServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, format: str, *args: Any) -> None:
            pass

        def do_GET(self) -> None:
            self._handle()

        do_POST = do_PUT = do_PATCH = do_DELETE = do_HEAD = do_GET

        def _handle(self) -> None:
            split = urlsplit(self.path)
            length = int(self.headers.get("content-length") or 0)
            body = self.rfile.read(length) if length else b""
            seen = SeenRequest(
                method=self.command,
                path=split.path,
                query=parse_qs(split.query),
                headers={k.lower(): v for k, v in self.headers.items()},
                body=body,
            )
            server.record(seen)
            parts = [p for p in split.path.split("/") if p]
            route = parts[0] if parts else ""
            if route == "echo":
                try:
                    parsed: Any = json.loads(body) if body else None
                except ValueError:
                    parsed = None
                self._json(
                    200,
                    {
                        "method": seen.method,
                        "path": seen.path,
                        "query": seen.query,
                        "headers": seen.headers,
                        "body": body.decode("utf-8", "replace"),
                        "json": parsed,
                    },
                )
            elif route == "status":
                # Quotes the Authorization header back, as a careless API's error page might.
                status = int(parts[1])
                self._json(
                    status, {"status": status, "authorization": seen.headers.get("authorization")}
                )
            elif route == "flaky":
                if server.flaky_failure(parts[1], int(parts[2])):
                    self._json(500, {"error": "try again"})
                else:
                    self._json(200, {"ok": True})
            elif route == "redirect":
                status = int(seen.query.get("status", ["302"])[0])
                self.send_response(status)
                self.send_header("Location", seen.query["to"][0])
                self.send_header("Content-Length", "0")
                self.end_headers()
            elif route == "bytes":
                self._bytes(int(parts[1]), chunked="chunked" in seen.query)
            elif route == "gzip":
                data = gzip.compress(b"z" * 100_000)
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.send_header("Content-Encoding", "gzip")
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            elif route == "text":
                self._send(200, b"hello", "text/plain; charset=utf-8")
            else:
                self._json(404, {"error": "no such route"})

        def _json(self, status: int, payload: Any) -> None:
            self._send(status, json.dumps(payload).encode(), "application/json")

        def _send(self, status: int, data: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(data)))
            self.send_header("X-Served-By", "echo")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(data)

        def _bytes(self, count: int, *, chunked: bool) -> None:
            self.send_response(200)
            self.send_header("Content-Type", "application/octet-stream")
            if not chunked:
                self.send_header("Content-Length", str(count))
                self.end_headers()
                self.wfile.write(b"x" * count)
                return
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            sent = 0
            try:
                while sent < count:
                    piece = min(4096, count - sent)
                    self.wfile.write(f"{piece:x}\r\n".encode() + b"x" * piece + b"\r\n")
                    sent += piece
                self.wfile.write(b"0\r\n\r\n")
            except (BrokenPipeError, ConnectionResetError):
                pass  # the client stopped reading, as it should past its cap

    return Handler
