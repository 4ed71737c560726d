"""A real HTTP server that plays an LLM vendor, scripted per test.

Provider tests talk to this over loopback TCP instead of mocking httpx, so status codes, headers,
chunked SSE framing, timeouts and refused connections all go through the real client stack.

A test queues *scripted responses*, which are vendor-neutral (a ``Completion`` is "answer this
text"); the route for the request's path renders them in that vendor's wire format, so one
server stands in for both vendors (one queue, taken in request order):

- ``POST /v1/chat/completions``: OpenAI chat completions (point a provider at :attr:`url`);
- ``POST /v1/messages``: the Anthropic Messages API (point a provider at :attr:`base`).

    with VendorServer() as server:
        server.push(Completion("hi", prompt_tokens=3, completion_tokens=1))
        server.push(HTTPError(429, headers={"Retry-After": "7"}))
        server.push(ToolCalls([{"name": "search", "arguments": {"q": "tea"}}]))
        ...  # point a provider at server.url
        assert server.requests[0].body["model"] == "gpt-4o-mini"

When the queue is empty, a *responder* set with :meth:`VendorServer.respond_with` decides from the
request (the model asked for, the prompt), for answers that must not depend on the order in which
concurrent requests arrive; with no responder (or when it returns None) the server answers a
completion echoing the last user message.

    server.respond_with(lambda req: JSONAnswer({"n": 1}) if req.model == "big" else None)
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
from collections.abc import Callable, Mapping, Sequence
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
class ToolCalls:
    """The model calls tools: OpenAI ``message.tool_calls`` / Anthropic ``tool_use`` blocks.

    Each call is ``{"name": ..., "arguments": {...}}``, optionally with an ``"id"`` (default
    ``call_<n>`` on OpenAI, ``toolu_<n>`` on Anthropic). Streamed when the request streams, with
    each call's arguments JSON split into pieces of ``arg_chunk`` characters.
    """

    calls: Sequence[Mapping[str, Any]]
    prompt_tokens: int = 5
    completion_tokens: int = 5
    text: str = ""  # text the model says before the calls
    arg_chunk: int = 7
    model: str | None = None


@dataclass(frozen=True)
class JSONAnswer:
    """A structured answer: a completion whose text is ``json.dumps(value)``.

    On the Anthropic route, when the request forced the ``output`` tool (how structured output is
    asked for there), the answer is that tool's ``tool_use`` block with ``value`` as its input.
    """

    value: Any
    prompt_tokens: int = 5
    completion_tokens: int = 5
    model: str | None = None


@dataclass(frozen=True)
class HTTPError:
    """An error status with the vendor's JSON error body.

    OpenAI route: ``{"error": {"message", "type", ...}}``; Anthropic route: ``{"type": "error",
    "error": {"type", "message"}}``. ``error_type`` None picks the vendor's usual type for the
    status (OpenAI: always ``invalid_request_error``).
    """

    status: int
    message: str | None = "scripted error"
    headers: dict[str, str] = field(default_factory=dict)
    error_type: str | None = None
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


Scripted = (
    Completion
    | Stream
    | ToolCalls
    | JSONAnswer
    | HTTPError
    | Delay
    | MalformedJSON
    | MalformedSSE
    | Raw
    | Disconnect
)


@dataclass(frozen=True)
class RecordedRequest:
    method: str
    path: str
    headers: dict[str, str]  # keys lower-cased
    body: Any  # parsed JSON, or None when the body was not JSON
    raw: bytes

    @property
    def model(self) -> str | None:
        """The model the request asks for (the vendor's name: ``gpt-4o-mini``, no provider)."""
        model = self.body.get("model") if isinstance(self.body, dict) else None
        return model if isinstance(model, str) else None


# Decides the answer to a request when nothing is queued; None: the default echo.
Responder = Callable[[RecordedRequest], "Scripted | None"]


# -- the server ------------------------------------------------------------------------------------


class VendorServer:
    """A scripted vendor on 127.0.0.1, on a free port, served from a background thread."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[Scripted] = deque()
        self._requests: list[RecordedRequest] = []
        self._responder: Responder | None = None
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
        # What this process learned of the server (runtime.providers.capabilities) must not
        # carry over to a later server that happens to get the same port.
        from runtime.providers.capabilities import KNOWN

        KNOWN.forget(self.url)
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

    def respond_with(self, responder: Responder | None) -> VendorServer:
        """Answer requests that find the queue empty with ``responder(request)`` (None from it:
        the echo). It runs on the server's handler threads, so it must be thread-safe."""
        with self._lock:
            self._responder = responder
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
        """Forget queued answers, recorded requests and the responder."""
        with self._lock:
            self._queue.clear()
            self._requests.clear()
            self._responder = None

    # used by the handler thread

    def _record(self, request: RecordedRequest, *, take: bool) -> Scripted | None:
        with self._lock:
            self._requests.append(request)
            if not take:
                return None
            if self._queue:
                return self._queue.popleft()
            responder = self._responder
        # Outside the lock: the responder is the test's code and may take its time.
        return responder(request) if responder is not None else None


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


# -- what both routes share ------------------------------------------------------------------------


def _settle(handler: _Handler, scripted: Scripted) -> Scripted | None:
    """Handle the vendor-neutral parts: wait out a Delay, send Raw, hang up on Disconnect.

    Returns what is left to render in the vendor's shape, or None when the answer is sent.
    """
    while isinstance(scripted, Delay):
        if handler._wait(scripted.seconds):
            handler.close_connection = True
            return None
        scripted = scripted.then if scripted.then is not None else Completion()
    if isinstance(scripted, Raw):
        raw = scripted.body.encode() if isinstance(scripted.body, str) else scripted.body
        handler._send_raw(scripted.status, raw, scripted.content_type, scripted.headers)
        return None
    if isinstance(scripted, Disconnect):
        handler.close_connection = True
        # Shut the socket down so the client sees the close now, not when the thread ends.
        handler.connection.shutdown(socket.SHUT_RDWR)
        return None
    if isinstance(scripted, MalformedJSON):
        handler._send_raw(200, scripted.body.encode(), scripted.content_type)
        return None
    if isinstance(scripted, HTTPError) and scripted.body is not None:
        raw = scripted.body.encode() if isinstance(scripted.body, str) else scripted.body
        handler._send_raw(scripted.status, raw, "application/json", scripted.headers)
        return None
    return scripted


def _call_id(call: Mapping[str, Any], prefix: str, index: int) -> str:
    return str(call.get("id") or f"{prefix}_{index}")


def _pieces(text: str, size: int) -> list[str]:
    size = max(size, 1)
    return [text[i : i + size] for i in range(0, len(text), size)] or [""]


def _sse(payload: Any) -> str:
    return f"data: {json.dumps(payload)}\n\n"


def _text_of(content: Any) -> str:
    """The text of a message's content: a string, or (Anthropic) a list of content blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        parts: list[str] = []
        for block in content:
            if isinstance(block, dict) and block.get("type") == "text":
                parts.append(str(block.get("text", "")))
            elif isinstance(block, dict) and block.get("type") == "tool_result":
                parts.append(_text_of(block.get("content", "")))
        return "".join(parts)
    return "" if content is None else str(content)


def _echo(body: dict[str, Any]) -> Completion:
    raw_messages = body.get("messages")
    messages: list[Any] = raw_messages if isinstance(raw_messages, list) else []
    user = [m for m in messages if isinstance(m, dict) and m.get("role") == "user"]
    text = _text_of(user[-1].get("content", "")) if user else ""
    prompt_chars = sum(len(_text_of(m.get("content", ""))) for m in messages if isinstance(m, dict))
    if isinstance(body.get("system"), str):
        prompt_chars += len(body["system"])
    return Completion(
        text=text,
        prompt_tokens=math.ceil(prompt_chars / 4),
        completion_tokens=math.ceil(len(text) / 4),
    )


# -- OpenAI chat completions -----------------------------------------------------------------------


def _openai_chat(handler: _Handler, request: RecordedRequest, scripted: Scripted | None) -> None:
    body = request.body if isinstance(request.body, dict) else {}
    wants_stream = bool(body.get("stream"))
    options = body.get("stream_options")
    wants_usage = isinstance(options, dict) and bool(options.get("include_usage"))
    model = str(body.get("model") or "scripted-model")

    settled = _settle(handler, _echo(body) if scripted is None else scripted)
    if settled is None:
        return
    scripted = settled

    if isinstance(scripted, JSONAnswer):
        scripted = Completion(
            json.dumps(scripted.value),
            prompt_tokens=scripted.prompt_tokens,
            completion_tokens=scripted.completion_tokens,
            model=scripted.model,
        )

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
            message = {"role": "assistant", "content": scripted.text}
            _openai_completion(handler, scripted, model, message, scripted.finish_reason)
            return

    if isinstance(scripted, Stream):
        _openai_stream(handler, scripted, model, wants_usage)
    elif isinstance(scripted, ToolCalls):
        if wants_stream:
            _openai_tool_stream(handler, scripted, model, wants_usage)
        else:
            message = {
                "role": "assistant",
                "content": scripted.text or None,
                "tool_calls": [
                    {
                        "id": _call_id(call, "call", index),
                        "type": "function",
                        "function": {
                            "name": call["name"],
                            "arguments": json.dumps(call.get("arguments", {})),
                        },
                    }
                    for index, call in enumerate(scripted.calls)
                ],
            }
            _openai_completion(handler, scripted, model, message, "tool_calls")
    elif isinstance(scripted, HTTPError):
        error: dict[str, Any] = {
            "message": scripted.message,
            "type": scripted.error_type or "invalid_request_error",
            "param": None,
            "code": None,
        }
        handler._send_json(scripted.status, {"error": error}, scripted.headers)
    elif isinstance(scripted, MalformedSSE):
        handler._start_sse()
        for index, text in enumerate(scripted.before):
            handler._send_chunk(_sse(_openai_chunk(model, {"content": text}, index == 0)))
        handler._send_chunk(scripted.line + "\n\n")
        handler._send_chunk("data: [DONE]\n\n")
        handler._end_chunks()
    else:  # pragma: no cover - a new Scripted type without a rendering here
        raise TypeError(f"cannot render {scripted!r} as an OpenAI chat completion")


def _openai_completion(
    handler: _Handler,
    scripted: Completion | ToolCalls,
    model: str,
    message: dict[str, Any],
    finish_reason: str,
) -> None:
    handler._send_json(
        200,
        {
            "id": "chatcmpl-scripted",
            "object": "chat.completion",
            "created": int(time.time()),
            "model": scripted.model or model,
            "choices": [{"index": 0, "message": message, "finish_reason": finish_reason}],
            "usage": {
                "prompt_tokens": scripted.prompt_tokens,
                "completion_tokens": scripted.completion_tokens,
                "total_tokens": scripted.prompt_tokens + scripted.completion_tokens,
            },
        },
    )


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
        _openai_usage_chunk(handler, model, stream.prompt_tokens, completion_tokens)
    if stream.send_done:
        handler._send_chunk("data: [DONE]\n\n")
    handler._end_chunks()


def _openai_tool_stream(
    handler: _Handler, scripted: ToolCalls, model: str, wants_usage: bool
) -> None:
    """Tool calls as OpenAI streams them: id and name first, then the arguments in pieces."""
    model = scripted.model or model
    handler._start_sse()
    first = True
    if scripted.text:
        handler._send_chunk(_sse(_openai_chunk(model, {"content": scripted.text}, first=True)))
        first = False
    for index, call in enumerate(scripted.calls):
        opening = {
            "index": index,
            "id": _call_id(call, "call", index),
            "type": "function",
            "function": {"name": call["name"], "arguments": ""},
        }
        handler._send_chunk(_sse(_openai_chunk(model, {"tool_calls": [opening]}, first=first)))
        first = False
        arguments = json.dumps(call.get("arguments", {}))
        for piece in _pieces(arguments, scripted.arg_chunk):
            delta = {"tool_calls": [{"index": index, "function": {"arguments": piece}}]}
            handler._send_chunk(_sse(_openai_chunk(model, delta, first=False)))
    final = _openai_chunk(model, {}, first=False)
    final["choices"][0]["finish_reason"] = "tool_calls"
    handler._send_chunk(_sse(final))
    if wants_usage:
        _openai_usage_chunk(handler, model, scripted.prompt_tokens, scripted.completion_tokens)
    handler._send_chunk("data: [DONE]\n\n")
    handler._end_chunks()


def _openai_usage_chunk(
    handler: _Handler, model: str, prompt_tokens: int, completion_tokens: int
) -> None:
    usage_chunk = _openai_chunk(model, {}, first=False)
    # OpenAI's usage chunk: empty choices, totals for the whole answer.
    usage_chunk["choices"] = []
    usage_chunk["usage"] = {
        "prompt_tokens": prompt_tokens,
        "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens,
    }
    handler._send_chunk(_sse(usage_chunk))


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


# -- Anthropic messages ----------------------------------------------------------------------------

# Our finish reasons as Anthropic's stop reasons; anything else is sent as it is.
_ANTHROPIC_STOP = {"stop": "end_turn", "length": "max_tokens", "tool_calls": "tool_use"}

# The error type Anthropic sends with each status.
_ANTHROPIC_ERROR_TYPES = {
    400: "invalid_request_error",
    401: "authentication_error",
    403: "permission_error",
    404: "not_found_error",
    413: "request_too_large",
    429: "rate_limit_error",
    500: "api_error",
    529: "overloaded_error",
}


def _anthropic_messages(
    handler: _Handler, request: RecordedRequest, scripted: Scripted | None
) -> None:
    body = request.body if isinstance(request.body, dict) else {}
    wants_stream = bool(body.get("stream"))
    model = str(body.get("model") or "scripted-model")

    settled = _settle(handler, _echo(body) if scripted is None else scripted)
    if settled is None:
        return
    scripted = settled

    blocks: list[dict[str, Any]]
    if isinstance(scripted, Stream):
        _anthropic_stream(handler, scripted, model)
        return
    if isinstance(scripted, Completion):
        if wants_stream:
            _anthropic_stream(
                handler,
                Stream(
                    chunks=[scripted.text],
                    prompt_tokens=scripted.prompt_tokens,
                    completion_tokens=scripted.completion_tokens,
                    finish_reason=scripted.finish_reason,
                    model=scripted.model,
                ),
                model,
            )
            return
        blocks = [{"type": "text", "text": scripted.text}]
        _anthropic_message(handler, scripted, model, blocks, scripted.finish_reason)
    elif isinstance(scripted, (ToolCalls, JSONAnswer)):
        if isinstance(scripted, ToolCalls):
            blocks = [{"type": "text", "text": scripted.text}] if scripted.text else []
            blocks += [
                {
                    "type": "tool_use",
                    "id": _call_id(call, "toolu", index),
                    "name": call["name"],
                    "input": dict(call.get("arguments", {})),
                }
                for index, call in enumerate(scripted.calls)
            ]
            finish = "tool_calls"
            arg_chunk = scripted.arg_chunk
        elif _forces_output_tool(body):
            blocks = [
                {
                    "type": "tool_use",
                    "id": "toolu_output",
                    "name": "output",
                    "input": scripted.value,
                }
            ]
            finish, arg_chunk = "tool_calls", 7
        else:
            blocks = [{"type": "text", "text": json.dumps(scripted.value)}]
            finish, arg_chunk = "stop", 7
        if wants_stream:
            _anthropic_block_stream(handler, scripted, model, blocks, finish, arg_chunk)
        else:
            _anthropic_message(handler, scripted, model, blocks, finish)
    elif isinstance(scripted, HTTPError):
        error_type = scripted.error_type or _ANTHROPIC_ERROR_TYPES.get(
            scripted.status, "api_error" if scripted.status >= 500 else "invalid_request_error"
        )
        payload = {"type": "error", "error": {"type": error_type, "message": scripted.message}}
        handler._send_json(scripted.status, payload, scripted.headers)
    elif isinstance(scripted, MalformedSSE):
        handler._start_sse()
        handler._send_chunk(_anthropic_event(_anthropic_start(model, 5)))
        handler._send_chunk(_anthropic_event(_block_start(0, {"type": "text", "text": ""})))
        for text in scripted.before:
            handler._send_chunk(_anthropic_event(_text_delta(0, text)))
        handler._send_chunk(scripted.line + "\n\n")
        handler._end_chunks()
    else:  # pragma: no cover - a new Scripted type without a rendering here
        raise TypeError(f"cannot render {scripted!r} as an Anthropic message")


def _forces_output_tool(body: dict[str, Any]) -> bool:
    """Whether the request asked for structured output the Anthropic way: a forced tool."""
    choice = body.get("tool_choice")
    tools = body.get("tools") if isinstance(body.get("tools"), list) else []
    has_output = any(isinstance(t, dict) and t.get("name") == "output" for t in tools)
    if not isinstance(choice, dict) or not has_output:
        return False
    return choice.get("type") == "any" or (
        choice.get("type") == "tool" and choice.get("name") == "output"
    )


def _anthropic_message(
    handler: _Handler,
    scripted: Completion | ToolCalls | JSONAnswer,
    model: str,
    blocks: list[dict[str, Any]],
    finish_reason: str,
) -> None:
    handler._send_json(
        200,
        {
            "id": "msg_scripted",
            "type": "message",
            "role": "assistant",
            "model": scripted.model or model,
            "content": blocks,
            "stop_reason": _ANTHROPIC_STOP.get(finish_reason, finish_reason),
            "stop_sequence": None,
            "usage": {
                "input_tokens": scripted.prompt_tokens,
                "output_tokens": scripted.completion_tokens,
            },
        },
    )


def _anthropic_stream(handler: _Handler, stream: Stream, model: str) -> None:
    """A text answer as Anthropic streams it; ``include_usage=False`` leaves usage out."""
    model = stream.model or model
    with_usage = stream.include_usage is not False
    handler._start_sse()
    handler._send_chunk(
        _anthropic_event(_anthropic_start(model, stream.prompt_tokens if with_usage else None))
    )
    handler._send_chunk(_anthropic_event(_block_start(0, {"type": "text", "text": ""})))
    handler._send_chunk(_anthropic_event({"type": "ping"}))
    for index, text in enumerate(stream.chunks):
        if index and stream.chunk_delay and handler._wait(stream.chunk_delay):
            return
        handler._send_chunk(_anthropic_event(_text_delta(0, text)))
    handler._send_chunk(_anthropic_event({"type": "content_block_stop", "index": 0}))
    if stream.finish_reason is not None:
        completion_tokens = (
            len(stream.chunks) if stream.completion_tokens is None else stream.completion_tokens
        )
        handler._send_chunk(
            _anthropic_event(
                _message_delta(
                    _ANTHROPIC_STOP.get(stream.finish_reason, stream.finish_reason),
                    completion_tokens if with_usage else None,
                )
            )
        )
    if stream.send_done:
        handler._send_chunk(_anthropic_event({"type": "message_stop"}))
    handler._end_chunks()


def _anthropic_block_stream(
    handler: _Handler,
    scripted: ToolCalls | JSONAnswer,
    model: str,
    blocks: list[dict[str, Any]],
    finish_reason: str,
    arg_chunk: int,
) -> None:
    """Text and tool_use blocks as Anthropic streams them (tool input as input_json_delta)."""
    handler._start_sse()
    handler._send_chunk(
        _anthropic_event(_anthropic_start(scripted.model or model, scripted.prompt_tokens))
    )
    for index, block in enumerate(blocks):
        if block["type"] == "text":
            handler._send_chunk(_anthropic_event(_block_start(index, {"type": "text", "text": ""})))
            handler._send_chunk(_anthropic_event(_text_delta(index, block["text"])))
        else:
            opening = {"type": "tool_use", "id": block["id"], "name": block["name"], "input": {}}
            handler._send_chunk(_anthropic_event(_block_start(index, opening)))
            for piece in _pieces(json.dumps(block["input"]), arg_chunk):
                delta = {"type": "input_json_delta", "partial_json": piece}
                handler._send_chunk(
                    _anthropic_event(
                        {"type": "content_block_delta", "index": index, "delta": delta}
                    )
                )
        handler._send_chunk(_anthropic_event({"type": "content_block_stop", "index": index}))
    stop = _ANTHROPIC_STOP.get(finish_reason, finish_reason)
    handler._send_chunk(_anthropic_event(_message_delta(stop, scripted.completion_tokens)))
    handler._send_chunk(_anthropic_event({"type": "message_stop"}))
    handler._end_chunks()


def _anthropic_start(model: str, input_tokens: int | None) -> dict[str, Any]:
    message: dict[str, Any] = {
        "id": "msg_scripted",
        "type": "message",
        "role": "assistant",
        "model": model,
        "content": [],
        "stop_reason": None,
        "stop_sequence": None,
    }
    if input_tokens is not None:
        message["usage"] = {"input_tokens": input_tokens, "output_tokens": 1}
    return {"type": "message_start", "message": message}


def _block_start(index: int, block: dict[str, Any]) -> dict[str, Any]:
    return {"type": "content_block_start", "index": index, "content_block": block}


def _text_delta(index: int, text: str) -> dict[str, Any]:
    return {
        "type": "content_block_delta",
        "index": index,
        "delta": {"type": "text_delta", "text": text},
    }


def _message_delta(stop_reason: str, output_tokens: int | None) -> dict[str, Any]:
    event: dict[str, Any] = {
        "type": "message_delta",
        "delta": {"stop_reason": stop_reason, "stop_sequence": None},
    }
    if output_tokens is not None:
        event["usage"] = {"output_tokens": output_tokens}
    return event


def _anthropic_event(payload: dict[str, Any]) -> str:
    # Anthropic names every event twice: in the SSE "event:" field and in the data's "type".
    return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n"


Route = Callable[[_Handler, RecordedRequest, "Scripted | None"], None]

# (method, path) -> renderer.
_ROUTES: dict[tuple[str, str], Route] = {
    ("POST", "/v1/chat/completions"): _openai_chat,
    ("POST", "/v1/messages"): _anthropic_messages,
}
