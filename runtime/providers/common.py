"""What the HTTP providers share: client lifetime, the whole-call deadline, error mapping, SSE.

:class:`HTTPProvider` owns the parts that do not depend on the vendor's wire format: an injected
(or lazily created) ``httpx.AsyncClient``, one deadline over the whole call, turning transport
failures into :mod:`runtime.errors` provider errors, and keeping the API key out of every message
and repr. A vendor module subclasses it and implements ``_complete_plain`` / ``_complete_stream``.
"""

from __future__ import annotations

import asyncio
import datetime
import email.utils
import json
import math
import os
import time
from collections.abc import AsyncIterator, Mapping
from typing import Any, ClassVar, Self

import httpx

from runtime.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
    StepError,
)
from runtime.outbound import OutboundPolicy, guarded_async_client
from runtime.providers.base import ChatRequest, ChatResponse, ChunkCallback, ToolCall

# Vendor messages end up in run logs and in the UI; keep a runaway HTML error page out of them.
MAX_VENDOR_MESSAGE = 500

# 529 is Anthropic's "overloaded", which some OpenAI-compatible gateways pass through.
UNAVAILABLE_STATUSES = frozenset({500, 502, 503, 504, 529})


class HTTPProvider:
    """The vendor-independent half of a provider that talks HTTP.

    The client is injected so tests (and the app, which shares one connection pool) decide its
    lifetime; when none is given one is created on first use and closed by :meth:`aclose`.
    """

    # What a subclass is called and where its vendor lives unless told otherwise, and the prefix
    # of the environment variables from_env() reads (<PREFIX>_BASE_URL, <PREFIX>_API_KEY).
    default_name: ClassVar[str]
    default_base_url: ClassVar[str]
    env_prefix: ClassVar[str]

    def __init__(
        self,
        name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.name = name or self.default_name
        base_url = base_url or self.default_base_url
        # Users paste base URLs with and without a trailing slash; both mean the same server.
        self.base_url = base_url.rstrip("/")
        # An empty key (e.g. OPENAI_API_KEY="") means "no key": local servers such as Ollama need
        # none, and sending an empty credential would only confuse a proxy in front of them.
        self._api_key = api_key or None
        self._client = client
        self._owns_client = client is None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self.timeout = timeout

    @classmethod
    def from_env(cls, name: str | None = None, client: httpx.AsyncClient | None = None) -> Self:
        """Base URL and key from <PREFIX>_BASE_URL and <PREFIX>_API_KEY."""
        return cls(
            name=name,
            base_url=os.environ.get(f"{cls.env_prefix}_BASE_URL") or cls.default_base_url,
            api_key=os.environ.get(f"{cls.env_prefix}_API_KEY") or None,
            client=client,
        )

    def __repr__(self) -> str:
        # Deliberately without the key: reprs end up in logs and tracebacks.
        has_key = "set" if self._api_key else "none"
        return (
            f"{type(self).__name__}(name={self.name!r}, base_url={self.base_url!r}, key={has_key})"
        )

    async def aclose(self) -> None:
        """Close the client if this provider created it; an injected one belongs to the caller."""
        if self._owns_client and self._client is not None:
            await self._client.aclose()
            self._client = None
            self._client_loop = None

    # -- the Provider interface ------------------------------------------------------------------

    async def complete(
        self, request: ChatRequest, on_chunk: ChunkCallback | None = None
    ) -> ChatResponse:
        timeout = request.timeout if request.timeout is not None else self.timeout
        try:
            # httpx timeouts are per operation (connect, each read, ...), so a server that trickles
            # one chunk a second would never trip them; the outer deadline bounds the whole call.
            async with asyncio.timeout(timeout):
                if request.stream:
                    return await self._complete_stream(request, on_chunk, timeout)
                return await self._complete_plain(request, timeout)
        except StepError:
            raise
        except (TimeoutError, httpx.RequestError) as exc:
            # "from None": httpx exceptions carry the request, credential headers included, and
            # error reporters that walk __cause__ would capture it.
            raise self._transport_error(exc, timeout) from None

    async def _complete_plain(self, request: ChatRequest, timeout: float) -> ChatResponse:
        raise NotImplementedError

    async def _complete_stream(
        self, request: ChatRequest, on_chunk: ChunkCallback | None, timeout: float
    ) -> ChatResponse:
        raise NotImplementedError

    # -- shared plumbing -------------------------------------------------------------------------

    def _get_client(self) -> httpx.AsyncClient:
        if not self._owns_client:
            assert self._client is not None
            return self._client
        # A client's pooled connections belong to the event loop that opened them. Workers that
        # run each task under its own asyncio.run() would otherwise reuse sockets of a dead loop,
        # so an owned client is replaced when the loop changes (the old loop can't close it).
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            # Base URLs may come from a workspace's settings, so an owned client goes through the
            # outbound guard; the operator's OPENAI/ANTHROPIC_BASE_URL hosts are admitted by it.
            self._client = guarded_async_client(OutboundPolicy.from_env())
            self._client_loop = loop
        return self._client

    @property
    def host(self) -> str:
        """The server's host, as messages name it (never the whole base URL)."""
        return self._host()

    def _host(self) -> str:
        # Only the host in messages: a base URL may carry credentials in its userinfo.
        try:
            return httpx.URL(self.base_url).host or self.base_url
        except httpx.InvalidURL:
            return "the configured base URL"

    def _transport_error(
        self, exc: TimeoutError | httpx.RequestError, timeout: float, who: str | None = None
    ) -> StepError:
        """The provider error for a call that got no (whole) answer; ``who`` names the call in
        the message (the provider's name unless told). The one mapping of httpx's failures for
        every vendor call over HTTP: chat completions and embeddings alike."""
        who = who or self.name
        if isinstance(exc, TimeoutError | httpx.TimeoutException):
            return ProviderTimeoutError(
                f"{who}: no complete answer within {timeout:g}s ({type(exc).__name__})"
            )
        if isinstance(exc, httpx.UnsupportedProtocol | httpx.InvalidURL):
            # A base URL like "localhost:11434/v1" (no scheme) fails the same way every time.
            return ProviderBadRequestError(
                self._redact(f"{who}: invalid base URL {self.base_url!r}: {exc}")
            )
        if isinstance(exc, httpx.DecodingError):
            return ProviderResponseError(
                self._redact(f"{who}: could not decode the response body: {exc}")
            )
        # Connection refused, reset, DNS failure, server hung up mid-stream: all transient from
        # our side, so let the retry policy try again.
        return ProviderUnavailableError(
            self._redact(f"{who}: connection to {self._host()} failed: {type(exc).__name__}: {exc}")
        )

    def _status_error(self, status: int, headers: Mapping[str, str], body: bytes) -> StepError:
        """The provider error for an HTTP error status, with the vendor's message if it sent one."""
        error = self._status_error_of(status, headers, body)
        # Kept on the error for whoever explains it to a person (a credential's Test tells a
        # wrong base URL from an unknown model by it): see http_status().
        error.http_status = status  # type: ignore[attr-defined]
        return error

    def _status_error_of(self, status: int, headers: Mapping[str, str], body: bytes) -> StepError:
        message = self._redact(f"{self.name}: HTTP {status}{vendor_suffix(vendor_message(body))}")
        if status == 429:
            # OpenAI also answers 429 for "insufficient_quota", which no wait will fix; the vendor
            # message says so, and the retry budget bounds the cost of trying.
            return RateLimitError(message, retry_after=parse_retry_after(headers))
        if status in (401, 403):
            return ProviderAuthError(message)
        if status == 408:
            # The server gave up waiting for us: a timeout, and as retryable as ours.
            return ProviderTimeoutError(message)
        if status in UNAVAILABLE_STATUSES or status >= 500:
            return ProviderUnavailableError(message)
        if 400 <= status < 500:
            return ProviderBadRequestError(message)
        # 1xx/3xx reaching us means a redirect we did not follow or a confused proxy.
        return ProviderResponseError(message)

    def _redact(self, message: str) -> str:
        # Some self-hosted gateways echo the rejected key back in their error message; never let
        # it through into run logs.
        if self._api_key:
            message = message.replace(self._api_key, "[redacted]")
        return message


# -- helpers ---------------------------------------------------------------------------------------


def http_status(error: BaseException) -> int | None:
    """The HTTP status a provider error was made from; None when no answer came (a refused
    connection, a timeout) or the answer was not an error status."""
    status = getattr(error, "http_status", None)
    return status if isinstance(status, int) else None


async def sse_events(lines: AsyncIterator[str]) -> AsyncIterator[tuple[str | None, str]]:
    """Yield ``(event name, data)`` of each Server-Sent Event.

    Follows the SSE rules instead of assuming one ``data:`` line per event: data lines accumulate
    until a blank line, comments (``:``) and unknown fields (``id:``, ``retry:``) are skipped.
    """
    buffer: list[str] = []
    event: str | None = None
    async for line in lines:
        if line == "":
            if buffer:
                yield event, "\n".join(buffer)
            buffer = []
            event = None
            continue
        if line.startswith(":"):
            continue  # keep-alive comment, e.g. OpenRouter's ": OPENROUTER PROCESSING"
        field, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if field == "data":
            buffer.append(value)
        elif field == "event":
            event = value
    if buffer:
        yield event, "\n".join(buffer)


def parse_retry_after(headers: Mapping[str, str], now: float | None = None) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or HTTP-date)."""
    # retry-after-ms (OpenAI, Azure) is the more precise of the two, so it wins when both are sent.
    raw_ms = headers.get("retry-after-ms")
    if raw_ms is not None:
        ms = _finite_float(raw_ms)
        if ms is not None and ms >= 0:
            return ms / 1000.0
    raw = headers.get("retry-after")
    if raw is None:
        return None
    seconds = _finite_float(raw)
    if seconds is not None:
        return max(seconds, 0.0)
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError, IndexError):
        return None
    if when.tzinfo is None:  # HTTP-dates are GMT; parsedate gives a naive datetime for "-0000"
        when = when.replace(tzinfo=datetime.UTC)
    current = time.time() if now is None else now
    return max(when.timestamp() - current, 0.0)


def _finite_float(raw: str) -> float | None:
    try:
        value = float(raw.strip())
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def estimate_tokens(
    request: ChatRequest, text: str, tool_calls: list[ToolCall] | None = None
) -> tuple[int, int]:
    """(prompt, completion) tokens at ~4 characters a token, for servers that report no usage."""
    prompt_chars = sum(len(m.get("content") or "") for m in request.messages)
    out_chars = len(text) + sum(
        len(call["name"]) + len(json.dumps(call["arguments"])) for call in tool_calls or []
    )
    return math.ceil(prompt_chars / 4), math.ceil(out_chars / 4)


def int_or_none(value: Any) -> int | None:
    # bool is an int subclass; a server sending true/false as a count is broken, not counting.
    return value if isinstance(value, int) and not isinstance(value, bool) else None


def parse_arguments(raw: Any, *, who: str, tool: str) -> dict[str, Any]:
    """A tool call's arguments as a dict, from the JSON string vendors send (or an object)."""
    if isinstance(raw, dict):
        return raw  # Ollama and some gateways send the object itself
    if raw is None or (isinstance(raw, str) and not raw.strip()):
        return {}  # a call without arguments; some servers send "" instead of "{}"
    if not isinstance(raw, str):
        raise ProviderResponseError(f"{who}: the arguments of tool call {tool!r} are not a string")
    try:
        value = json.loads(raw)
    except ValueError:
        raise ProviderResponseError(
            f"{who}: the arguments of tool call {tool!r} are not valid JSON: {snippet(raw)!r}"
        ) from None
    if not isinstance(value, dict):
        raise ProviderResponseError(
            f"{who}: the arguments of tool call {tool!r} are not a JSON object: {snippet(raw)!r}"
        )
    return value


def vendor_message(body: bytes) -> str | None:
    """The vendor's own explanation, from the usual error shapes, else the start of the body."""
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return clip(_untraced(body.decode("utf-8", "replace"))) or None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            # OpenAI, vLLM, OpenRouter, LM Studio, and Anthropic ({"type": "error", "error": ...})
            return clip(_untraced(error["message"]))
        if isinstance(error, str):
            return clip(_untraced(error))  # Ollama: {"error": "model 'x' not found"}
        for key in ("message", "detail"):  # FastAPI-based servers
            if isinstance(data.get(key), str):
                return clip(_untraced(data[key]))
    return clip(json.dumps(data))


# Where a server's own traceback starts inside its error message (llama-cpp-python appends
# '  File "llama_cpp/server/app.py", line 376, ...' to a validation error).
_TRACEBACK_STARTS = ("Traceback (most recent call last)", '\n  File "', '\nFile "')


def _untraced(message: str) -> str:
    """The message without the server's traceback: people read these in run logs and tests."""
    cut = min((at for at in map(message.find, _TRACEBACK_STARTS) if at >= 0), default=-1)
    return message[:cut].strip() if cut > 0 else message


def vendor_suffix(message: str | None) -> str:
    return f": {message}" if message else ""


def clip(text: str) -> str:
    text = text.strip()
    if len(text) > MAX_VENDOR_MESSAGE:
        return text[:MAX_VENDOR_MESSAGE] + "..."
    return text


def snippet(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text[:80]


def str_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def opt_str(value: Any, default: str | None = None) -> str | None:
    return value if isinstance(value, str) and value else default


# Every vendor's word for why the answer ended, mapped to ours: "stop" (the model finished),
# "length" (it hit max_tokens), "tool_calls" (it wants tools run), "content_filter" (refused).
_FINISH_REASONS = {
    "stop": "stop",
    "end_turn": "stop",
    "stop_sequence": "stop",
    "eos": "stop",
    "length": "length",
    "max_tokens": "length",
    "model_length": "length",
    "model_context_window_exceeded": "length",
    "tool_calls": "tool_calls",
    "tool_use": "tool_calls",
    "function_call": "tool_calls",
    "content_filter": "content_filter",
    "refusal": "content_filter",
}


def normalise_finish_reason(reason: str | None, *, has_tool_calls: bool = False) -> str | None:
    """The vendor's finish/stop reason in our vocabulary; unknown reasons pass through lower-cased.

    Some servers (older Ollama builds) say "stop" even when the answer is tool calls; the calls
    are what the caller must act on, so those report "tool_calls".
    """
    if reason is None:
        return "tool_calls" if has_tool_calls else None
    normalised = _FINISH_REASONS.get(reason.lower(), reason.lower())
    if has_tool_calls and normalised == "stop":
        return "tool_calls"
    return normalised
