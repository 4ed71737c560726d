"""A real HTTP server that plays an LLM vendor, scripted per test.

Provider tests talk to this over loopback TCP instead of mocking httpx, so status codes, headers,
chunked SSE framing, timeouts and refused connections all go through the real client stack.

A test queues *scripted responses*, which are vendor-neutral (a ``Completion`` is "answer this
text"); the route for the request's path renders them in that vendor's wire format. Only the
OpenAI chat-completions route exists so far; an Anthropic ``/v1/messages`` route belongs in
``_ROUTES`` next to it.

    with VendorServer() as server:
        server.push(Completion("hi", prompt_tokens=3, completion_tokens=1))
        server.push(HTTPError(429, headers={"Retry-After": "7"}))
        ...  # point a provider at server.url
        assert server.requests[0].body["model"] == "gpt-4o-mini"

When the queue is empty the server answers a completion echoing the last user message.
"""

from __future__ import annotations

import contextlib
import json
import math
import socket
import sys
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

# -- scripted responses ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Completion:
    """A normal answer. Rendered as a stream (one content chunk) when the request asks to stream,
    as a real server would; use :class:`Stream` to control chunk boundaries."""

    text: str = "Hello!"
    prompt_tokens: int = 5
    completion_tokens: int = 2
    finish_reason: str = "stop"
    model: str | None = None  # None: echo the requested model


@dataclass(frozen=True)
class Stream:
    """A streamed answer: one SSE event per chunk, then a usage event, then ``[DONE]``.

    Always rendered as SSE, even for a non-streaming request, so a test can check what a client
    does with a stream it did not ask for.
    """

    chunks: Sequence[str] = ("Hel", "lo", "!")
    prompt_tokens: int = 5
    completion_tokens: int | None = None  # None: one token per chunk
    # None: usage only if the request asked for it (stream_options.include_usage), like OpenAI.
    include_usage: bool | None = None
    finish_reason: str | None = "stop"  # None: no finish_reason at all (a cut-off answer)
    send_done: bool = True  # False: close the stream without "data: [DONE]"
    chunk_delay: float = 0.0  # seconds between chunks
    model: str | None = None


@dataclass(frozen=True)
class HTTPError:
    """An error status with the vendor's JSON error body (``{"error": {"message": ...}}``)."""

    status: int
    message: str | None = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str = "invalid_request_error"
    body: str | bytes | None = None  # a raw body instead of the JSON one


@dataclass(frozen=True)
class Delay:
    """Wait before answering (longer than the client's timeout, to provoke one)."""

    seconds: float
    then: Scripted | None = None  # what to send if the client is still there; None: Completion()


@dataclass(frozen=True)
class MalformedJSON:
    """A 200 whose body is not JSON."""

    body: str = '{"choices": [ this is not json'
    content_type: str = "application/json"


@dataclass(frozen=True)
class MalformedSSE:
    """A 200 event stream with a broken ``data:`` line after some good chunks."""

    before: Sequence[str] = ("Hel",)
    line: str = "data: {not json"


@dataclass(frozen=True)
class Raw:
    """Exactly this status, body and headers: for shapes the other types don't cover."""

    status: int = 200
    body: str | bytes = b""
    headers: dict[str, str] = field(default_factory=dict)
    content_type: str = "application/json"


@dataclass(frozen=True)
class Disconnect:
    """Read the request, then close the connection without answering."""


Scripted = Completion | Stream | HTTPError | Delay | MalformedJSON | MalformedSSE | Raw | Disconnect


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON, or None when the body was not JSON
    raw: bytes


# -- the server ------------------------------------------------------------------------------------


class VendorServer:
    """A scripted vendor on 127.0.0.1, on a free port, served from a background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Scripted] = deque()
        self._requests: list[RecordedRequest] = []
        # Set on close so a Delay in a handler thread ends at once instead of outliving the test.
        self._closing = threading.Event()
        self._httpd: _Server | None = None
        self._thread: threading.Thread | None = None

    # lifecycle

    def start(self) -> VendorServer:
        if self._httpd is not None:
            return self
        self._httpd = _Server(("127.0.0.1", 0), _Handler, self)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever,
            kwargs={"poll_interval": 0.05},
            name="vendor-server",
            daemon=True,
        )
        self._thread.start()
        return self

    def close(self) -> None:
        if self._httpd is None:
            return
        self._closing.set()
        self._httpd.shutdown()
        self._httpd.hang_up_all()
        self._httpd.server_close()  # joins the handler threads, which now all end promptly
        if self._thread is not None:
            self._thread.join(timeout=5)
        self._httpd = None
        self._thread = None

    def __enter__(self) -> VendorServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # what tests use

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("VendorServer is not running; use it as a context manager")
        return int(self._httpd.server_address[1])

    @property
    def base(self) -> str:
        """``http://127.0.0.1:<port>``, without a vendor path."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def url(self) -> str:
        """The OpenAI-style base URL, ending in ``/v1``."""
        return f"{self.base}/v1"

    def push(self, *responses: Scripted) -> VendorServer:
        """Append responses; each request takes the next one."""
        with self._lock:
            self._queue.extend(responses)
        return self

    def script(self, *responses: Scripted) -> VendorServer:
        """Replace whatever is still queued with these responses."""
        with self._lock:
            self._queue.clear()
            self._queue.extend(responses)
        return self

    @property
    def requests(self) -> list[RecordedRequest]:
        """Every request received so far, oldest first (a copy)."""
        with self._lock:
            return list(self._requests)

    @property
    def last_request(self) -> RecordedRequest:
        with self._lock:
            if not self._requests:
                raise AssertionError("the vendor server received no request")
            return self._requests[-1]

    @property
    def pending(self) -> int:
        """How many scripted responses are still unused."""
        with self._lock:
            return len(self._queue)

    def reset(self) -> None:
        with self._lock:
            self._queue.clear()
            self._requests.clear()

    # used by the handler thread

    def _record(self, request: RecordedRequest, *, take: bool) -> Scripted | None:
        with self._lock:
            self._requests.append(request)
            return self._queue.popleft() if take and self._queue else None


def unused_port_url() -> str:
    """A base URL on a loopback port nothing listens on, for connection-refused tests."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    # Closed again: connecting now is refused (another process could grab it, but not this fast).
    return f"http://127.0.0.1:{port}/v1"


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    # Tests run sequentially against their own server; a bigger backlog hides nothing.
    request_queue_size = 16

    def __init__(
        self,
        address: tuple[str, int],
        handler: type[BaseHTTPRequestHandler],
        vendor: VendorServer,
    ) -> None:
        self.vendor = vendor
        self._open: set[socket.socket] = set()
        self._open_lock = threading.Lock()
        super().__init__(address, handler)

    # server_close() joins every handler thread, and a thread serving an idle keep-alive
    # connection sits in readline() until the client hangs up. Tracking the open sockets lets
    # close() hang up on them first, so no thread (and no socket) outlives the server.

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._open_lock:
            self._open.add(request)
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        with self._open_lock:
            self._open.discard(request)
        super().shutdown_request(request)

    def hang_up_all(self) -> None:
        with self._open_lock:
            sockets = list(self._open)
        for sock in sockets:
            with contextlib.suppress(OSError):  # already closed by its own thread
                sock.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # A client that timed out and hung up is what half these tests are about; don't print a
        # traceback for it. Anything else is a bug in this file and should be loud.
        exc = sys.exc_info()[1]
        if isinstance(exc, (ConnectionError, TimeoutError)):
            return
        super().handle_error(request, client_address)


# -- the handler -----------------------------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    # HTTP/1.1 so clients keep connections alive and streams go out chunked, as real vendors do.
    protocol_version = "HTTP/1.1"
    server: _Server
    # An idle keep-alive connection ends after this many seconds, so no handler thread lingers.
    timeout = 10

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet: pytest shows failures, not access logs

    def do_GET(self) -> None:
        self._dispatch()

    def do_POST(self) -> None:
        self._dispatch()

    def _dispatch(self) -> None:
        length = int(self.headers.get("Content-Length") or 0)
        raw = self.rfile.read(length) if length else b""
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        path = self.path.split("?", 1)[0]
        recorded = RecordedRequest(
            method=self.command,
            path=path,
            headers={k.lower(): v for k, v in self.headers.items()},
            body=body,
            raw=raw,
        )
        route = _ROUTES.get((self.command, path))
        # Record every request, but let only routed ones consume the script: a test that hits a
        # wrong path should see the 404 and still find its scripted answer unused.
        scripted = self.server.vendor._record(recorded, take=route is not None)
        if route is None:
            self._send_json(404, {"error": {"message": f"no route for {self.command} {path}"}})
            return
        try:
            route(self, recorded, scripted)
        except (BrokenPipeError, ConnectionResetError):
            # The client gave up (usually its timeout, on purpose); nobody is left to answer.
            self.close_connection = True

    # -- building blocks for routes

    def _send_json(self, status: int, payload: Any, headers: dict[str, str] | None = None) -> None:
        self._send_raw(status, json.dumps(payload).encode(), "application/json", headers)

    def _send_raw(
        self,
        status: int,
        body: bytes,
        content_type: str,
        headers: dict[str, str] | None = None,
    ) -> None:
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)
        self.wfile.flush()

    def _start_sse(self) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()

    def _send_chunk(self, text: str) -> None:
        data = text.encode()
        self.wfile.write(f"{len(data):x}\r\n".encode() + data + b"\r\n")
        self.wfile.flush()

    def _end_chunks(self) -> None:
        self.wfile.write(b"0\r\n\r\n")
        self.wfile.flush()

    def _wait(self, seconds: float) -> bool:
        """Sleep, but wake when the server closes; True if the server is closing."""
        return self.server.vendor._closing.wait(seconds)


# -- OpenAI chat completions -----------------------------------------------------------------------


def _openai_chat(handler: _Handler, request: RecordedRequest, scripted: Scripted | None) -> None:
    body = request.body if isinstance(request.body, dict) else {}
    wants_stream = bool(body.get("stream"))
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    model = str(body.get("model") or "scripted-model")

    if scripted is None:
        scripted = _echo(body)

    if isinstance(scripted, Delay):
        if handler._wait(scripted.seconds):
            handler.close_connection = True
            return
        scripted = scripted.then if scripted.then is not None else Completion()

    if isinstance(scripted, Completion):
        if wants_stream:
            scripted = Stream(
                chunks=[scripted.text],
                prompt_tokens=scripted.prompt_tokens,
                completion_tokens=scripted.completion_tokens,
                finish_reason=scripted.finish_reason,
                model=scripted.model,
            )
        else:
            handler._send_json(
                200,
                {
                    "id": "chatcmpl-scripted",
                    "object": "chat.completion",
                    "created": int(time.time()),
                    "model": scripted.model or model,
                    "choices": [
                        {
                            "index": 0,
                            "message": {"role": "assistant", "content": scripted.text},
                            "finish_reason": scripted.finish_reason,
                        }
                    ],
                    "usage": {
                        "prompt_tokens": scripted.prompt_tokens,
                        "completion_tokens": scripted.completion_tokens,
                        "total_tokens": scripted.prompt_tokens + scripted.completion_tokens,
                    },
                },
            )
            return

    if isinstance(scripted, Stream):
        _openai_stream(handler, scripted, model, wants_usage)
    elif isinstance(scripted, HTTPError):
        if scripted.body is not None:
            raw = scripted.body.encode() if isinstance(scripted.body, str) else scripted.body
            handler._send_raw(scripted.status, raw, "application/json", scripted.headers)
        else:
            error: dict[str, Any] = {
                "message": scripted.message,
                "type": scripted.error_type,
                "param": None,
                "code": None,
            }
            handler._send_json(scripted.status, {"error": error}, scripted.headers)
    elif isinstance(scripted, MalformedJSON):
        handler._send_raw(200, scripted.body.encode(), scripted.content_type)
    elif isinstance(scripted, MalformedSSE):
        handler._start_sse()
        for index, text in enumerate(scripted.before):
            handler._send_chunk(_sse(_openai_chunk(model, {"content": text}, index == 0)))
        handler._send_chunk(scripted.line + "\n\n")
        handler._send_chunk("data: [DONE]\n\n")
        handler._end_chunks()
    elif isinstance(scripted, Raw):
        raw = scripted.body.encode() if isinstance(scripted.body, str) else scripted.body
        handler._send_raw(scripted.status, raw, scripted.content_type, scripted.headers)
    elif isinstance(scripted, Disconnect):
        handler.close_connection = True
        # Shut the socket down so the client sees the close now, not when the thread ends.
        handler.connection.shutdown(socket.SHUT_RDWR)
    else:  # pragma: no cover - a new Scripted type without a rendering here
        raise TypeError(f"cannot render {scripted!r} as an OpenAI chat completion")


def _openai_stream(handler: _Handler, stream: Stream, model: str, wants_usage: bool) -> None:
    model = stream.model or model
    handler._start_sse()
    for index, text in enumerate(stream.chunks):
        if index and stream.chunk_delay and handler._wait(stream.chunk_delay):
            return
        handler._send_chunk(_sse(_openai_chunk(model, {"content": text}, first=index == 0)))
    if stream.finish_reason is not None:
        final = _openai_chunk(model, {}, first=not stream.chunks)
        final["choices"][0]["finish_reason"] = stream.finish_reason
        handler._send_chunk(_sse(final))
    include_usage = wants_usage if stream.include_usage is None else stream.include_usage
    if include_usage:
        completion_tokens = (
            len(stream.chunks) if stream.completion_tokens is None else stream.completion_tokens
        )
        usage_chunk = _openai_chunk(model, {}, first=False)
        # OpenAI's usage chunk: empty choices, totals for the whole answer.
        usage_chunk["choices"] = []
        usage_chunk["usage"] = {
            "prompt_tokens": stream.prompt_tokens,
            "completion_tokens": completion_tokens,
            "total_tokens": stream.prompt_tokens + completion_tokens,
        }
        handler._send_chunk(_sse(usage_chunk))
    if stream.send_done:
        handler._send_chunk("data: [DONE]\n\n")
    handler._end_chunks()


def _openai_chunk(model: str, delta: dict[str, Any], first: bool) -> dict[str, Any]:
    if first:
        delta = {"role": "assistant", **delta}
    return {
        "id": "chatcmpl-scripted",
        "object": "chat.completion.chunk",
        "created": int(time.time()),
        "model": model,
        "choices": [{"index": 0, "delta": delta, "finish_reason": None}],
        "usage": None,
    }


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _echo(body: dict[str, Any]) -> Completion:
    raw_messages = body.get("messages")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    text = str(user[-1].get("content", "")) if user else ""
    prompt_chars = sum(len(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    return Completion(
        text=text,
        prompt_tokens=math.ceil(prompt_chars / 4),
        completion_tokens=math.ceil(len(text) / 4),
    )


Route = Callable[[_Handler, RecordedRequest, "Scripted | None"], None]

# (method, path) -> renderer. The Anthropic Messages API goes here as ("POST", "/v1/messages").
_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/chat/completions"): _openai_chat,
}
