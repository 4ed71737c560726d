"""A provider for OpenAI-compatible chat completions: OpenAI, Ollama, vLLM, OpenRouter, LM Studio.

All of them accept ``POST {base_url}/chat/completions`` with the same body and answer either one
JSON document or a Server-Sent-Events stream of ``chat.completion.chunk`` objects ended by
``data: [DONE]``. This module speaks that protocol over an injected ``httpx.AsyncClient`` and turns
every failure into a :mod:`runtime.errors` provider error, so the engine's retry policy only has to
look at ``StepError.retryable`` and never at HTTP details.
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
from typing import Any

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
from runtime.providers.base import ChatRequest, ChatResponse, ChunkCallback

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# Vendor messages end up in run logs and in the UI; keep a runaway HTML error page out of them.
_MAX_VENDOR_MESSAGE = 500

# 529 is Anthropic-style "overloaded", which some OpenAI-compatible gateways pass through.
_UNAVAILABLE_STATUSES = frozenset({500, 502, 503, 504, 529})


class OpenAICompatibleProvider:
    """Chat completions against any server that speaks the OpenAI wire format.

    The client is injected so tests (and the app, which shares one connection pool) decide its
    lifetime; when none is given one is created on first use and closed by :meth:`aclose`.
    """

    def __init__(
        self,
        name: str = "openai",
        base_url: str = DEFAULT_BASE_URL,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
    ) -> None:
        self.name = name
        # Users paste base URLs with and without a trailing slash; both mean the same server.
        self.base_url = base_url.rstrip("/")
        # An empty key (e.g. OPENAI_API_KEY="") means "no key": local servers such as Ollama need
        # none, and sending "Bearer " would only confuse a proxy in front of them.
        self._api_key = api_key or None
        self._client = client
        self._owns_client = client is None
        self._client_loop: asyncio.AbstractEventLoop | None = None
        self.timeout = timeout

    @classmethod
    def from_env(
        cls, name: str = "openai", client: httpx.AsyncClient | None = None
    ) -> OpenAICompatibleProvider:
        return cls(
            name=name,
            base_url=os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL,
            api_key=os.environ.get("OPENAI_API_KEY") or None,
            client=client,
        )

    def __repr__(self) -> str:
        # Deliberately without the key: reprs end up in logs and tracebacks.
        has_key = "set" if self._api_key else "none"
        return (
            f"OpenAICompatibleProvider(name={self.name!r}, base_url={self.base_url!r}, "
            f"key={has_key})"
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
        # "from None" below: httpx exceptions carry the request, Authorization header included,
        # and error reporters that walk __cause__ would capture it.
        except (TimeoutError, httpx.TimeoutException) as exc:
            raise ProviderTimeoutError(
                f"{self.name}: no complete answer within {timeout:g}s ({type(exc).__name__})"
            ) from None
        except (httpx.UnsupportedProtocol, httpx.InvalidURL) as exc:
            # A base URL like "localhost:11434/v1" (no scheme) fails the same way every time.
            raise ProviderBadRequestError(
                self._redact(f"{self.name}: invalid base URL {self.base_url!r}: {exc}")
            ) from None
        except httpx.DecodingError as exc:
            raise ProviderResponseError(
                self._redact(f"{self.name}: could not decode the response body: {exc}")
            ) from None
        except httpx.RequestError as exc:
            # Connection refused, reset, DNS failure, server hung up mid-stream: all transient
            # from our side, so let the retry policy try again.
            raise ProviderUnavailableError(
                self._redact(
                    f"{self.name}: connection to {self._host()} failed: {type(exc).__name__}: {exc}"
                )
            ) from None

    # -- plain and streamed calls ----------------------------------------------------------------

    async def _complete_plain(self, request: ChatRequest, timeout: float) -> ChatResponse:
        client = self._get_client()
        response = await client.post(
            self._url(),
            json=self._body(request),
            headers=self._headers(stream=False),
            timeout=timeout,
        )
        if not response.is_success:
            raise self._status_error(response.status_code, response.headers, response.content)

        try:
            data = response.json()
        except ValueError:
            raise ProviderResponseError(
                f"{self.name}: the response is not valid JSON: {_snippet(response.content)!r}"
            ) from None
        choice = _first_choice(data)
        if choice is None:
            raise ProviderResponseError(
                self._redact(
                    f"{self.name}: the response has no choices"
                    + _vendor_suffix(_vendor_message(response.content))
                )
            )
        message = choice.get("message")
        if not isinstance(message, dict):
            raise ProviderResponseError(f"{self.name}: choices[0] has no message object")
        content = message.get("content")
        # content is null when the model answered with tool calls only; that is an empty text,
        # not a broken response.
        if content is not None and not isinstance(content, str):
            raise ProviderResponseError(f"{self.name}: choices[0].message.content is not a string")
        text = content or ""

        tokens_in, tokens_out = _usage(data.get("usage"))
        if tokens_in is None or tokens_out is None:
            # Some servers (older Ollama and LM Studio builds) omit usage; estimate it rather than
            # report zero, so cost and budget accounting stay roughly right.
            est_in, est_out = _estimate_tokens(request, text)
            tokens_in = est_in if tokens_in is None else tokens_in
            tokens_out = est_out if tokens_out is None else tokens_out
        return ChatResponse(
            text=text,
            model=_str_or(data.get("model"), request.model),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            finish_reason=_opt_str(choice.get("finish_reason")),
        )

    async def _complete_stream(
        self, request: ChatRequest, on_chunk: ChunkCallback | None, timeout: float
    ) -> ChatResponse:
        client = self._get_client()
        parts: list[str] = []
        model = request.model
        finish_reason: str | None = None
        tokens_in: int | None = None
        tokens_out: int | None = None
        done = False

        async with client.stream(
            "POST",
            self._url(),
            json=self._body(request),
            headers=self._headers(stream=True),
            timeout=timeout,
        ) as response:
            if not response.is_success:
                body = await response.aread()
                raise self._status_error(response.status_code, response.headers, body)

            async for data in _sse_data(response.aiter_lines()):
                if data == "[DONE]":
                    done = True
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise ProviderResponseError(
                        self._redact(
                            f"{self.name}: a stream event is not valid JSON: {_snippet(data)!r}"
                        )
                    ) from None
                if not isinstance(chunk, dict):
                    raise ProviderResponseError(f"{self.name}: a stream event is not an object")
                if "error" in chunk:
                    # vLLM and OpenRouter report failures that happen after the 200 was sent as
                    # an error event inside the stream.
                    raise self._stream_error(chunk["error"])

                model = _str_or(chunk.get("model"), model)
                # Usage normally arrives in a last chunk with empty choices (include_usage); some
                # servers attach it to every chunk, so the last one seen wins.
                chunk_in, chunk_out = _usage(chunk.get("usage"))
                if chunk_in is not None:
                    tokens_in = chunk_in
                if chunk_out is not None:
                    tokens_out = chunk_out

                choices = chunk.get("choices")
                if choices is None:
                    continue
                if not isinstance(choices, list):
                    raise ProviderResponseError(f"{self.name}: a stream event's choices is no list")
                for choice in choices:
                    # With n > 1 the choices interleave; the engine only asks for one.
                    if not isinstance(choice, dict) or choice.get("index", 0) != 0:
                        continue
                    delta = choice.get("delta")
                    content = delta.get("content") if isinstance(delta, dict) else None
                    if isinstance(content, str) and content:
                        parts.append(content)
                        if on_chunk is not None:
                            on_chunk(content)
                    finish_reason = _opt_str(choice.get("finish_reason"), finish_reason)

        if not done and finish_reason is None:
            # The connection closed cleanly but the answer never finished: a proxy cut it off.
            # Retrying is the right call, even though the caller has seen part of the text.
            raise ProviderUnavailableError(f"{self.name}: the stream ended before the answer did")

        text = "".join(parts)
        if tokens_in is None or tokens_out is None:
            # The server ignored stream_options.include_usage (older Ollama, LM Studio, some
            # proxies): estimate at ~4 characters per token instead of reporting zero.
            est_in, est_out = _estimate_tokens(request, text)
            tokens_in = est_in if tokens_in is None else tokens_in
            tokens_out = est_out if tokens_out is None else tokens_out
        return ChatResponse(
            text=text,
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            finish_reason=finish_reason,
        )

    # -- request building ------------------------------------------------------------------------

    def _get_client(self) -> httpx.AsyncClient:
        if not self._owns_client:
            assert self._client is not None
            return self._client
        # A client's pooled connections belong to the event loop that opened them. Workers that
        # run each task under its own asyncio.run() would otherwise reuse sockets of a dead loop,
        # so an owned client is replaced when the loop changes (the old loop can't close it).
        loop = asyncio.get_running_loop()
        if self._client is None or self._client_loop is not loop:
            self._client = httpx.AsyncClient()
            self._client_loop = loop
        return self._client

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _host(self) -> str:
        # Only the host in messages: a base URL may carry credentials in its userinfo.
        try:
            return httpx.URL(self.base_url).host or self.base_url
        except httpx.InvalidURL:
            return "the configured base URL"

    def _headers(self, *, stream: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        body: dict[str, Any] = {"model": request.model, "messages": list(request.messages)}
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        body["stream"] = request.stream
        # extra may add vendor options (top_p, seed, response_format, ...) and may override the
        # fields above, but not "stream": the response parser depends on it.
        body.update(request.extra)
        body["stream"] = request.stream
        if request.stream:
            # Without this OpenAI sends no usage at all in streaming mode.
            options = request.extra.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        return body

    # -- error mapping ---------------------------------------------------------------------------

    def _status_error(self, status: int, headers: Mapping[str, str], body: bytes) -> StepError:
        vendor = _vendor_message(body)
        message = self._redact(f"{self.name}: HTTP {status}{_vendor_suffix(vendor)}")
        if status == 429:
            # Note: OpenAI also answers 429 for "insufficient_quota", which no wait will fix; the
            # vendor message says so, and the retry budget bounds the cost of trying.
            return RateLimitError(message, retry_after=parse_retry_after(headers))
        if status in (401, 403):
            return ProviderAuthError(message)
        if status == 408:
            # The server gave up waiting for us: a timeout, and as retryable as ours.
            return ProviderTimeoutError(message)
        if status in _UNAVAILABLE_STATUSES or status >= 500:
            return ProviderUnavailableError(message)
        if 400 <= status < 500:
            return ProviderBadRequestError(message)
        # 1xx/3xx reaching us means a redirect we did not follow or a confused proxy.
        return ProviderResponseError(message)

    def _stream_error(self, error: Any) -> StepError:
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, int) and 400 <= code <= 599:
            # OpenRouter puts the HTTP status it would have sent into "code"; honour it.
            return self._status_error(code, {}, json.dumps({"error": error}).encode())
        message = error.get("message") if isinstance(error, dict) else error
        # Otherwise the server broke while generating (vLLM engine errors): transient.
        return ProviderUnavailableError(
            self._redact(
                f"{self.name}: error inside the stream{_vendor_suffix(_clip(str(message)))}"
            )
        )

    def _redact(self, message: str) -> str:
        # Some self-hosted gateways echo the rejected key back in their error message; never let
        # it through into run logs.
        if self._api_key:
            message = message.replace(self._api_key, "[redacted]")
        return message


# -- helpers ---------------------------------------------------------------------------------------


async def _sse_data(lines: AsyncIterator[str]) -> AsyncIterator[str]:
    """Yield the data of each Server-Sent Event.

    Follows the SSE rules instead of assuming one ``data:`` line per event: data lines accumulate
    until a blank line, comments (``:``) and other fields (``event:``, ``id:``) are skipped.
    """
    buffer: list[str] = []
    async for line in lines:
        if line == "":
            if buffer:
                yield "\n".join(buffer)
                buffer = []
            continue
        if line.startswith(":"):
            continue  # keep-alive comment, e.g. OpenRouter's ": OPENROUTER PROCESSING"
        field, _, value = line.partition(":")
        if field != "data":
            continue
        buffer.append(value[1:] if value.startswith(" ") else value)
    if buffer:
        yield "\n".join(buffer)


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


def _first_choice(data: Any) -> dict[str, Any] | None:
    if not isinstance(data, dict):
        return None
    choices = data.get("choices")
    if not isinstance(choices, list) or not choices or not isinstance(choices[0], dict):
        return None
    return choices[0]


def _usage(usage: Any) -> tuple[int | None, int | None]:
    if not isinstance(usage, dict):
        return None, None
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    # bool is an int subclass; a server sending true/false here is broken, not counting.
    return (
        prompt if isinstance(prompt, int) and not isinstance(prompt, bool) else None,
        completion if isinstance(completion, int) and not isinstance(completion, bool) else None,
    )


def _estimate_tokens(request: ChatRequest, text: str) -> tuple[int, int]:
    prompt_chars = sum(len(m.get("content") or "") for m in request.messages)
    return math.ceil(prompt_chars / 4), math.ceil(len(text) / 4)


def _vendor_message(body: bytes) -> str | None:
    """The vendor's own explanation, from the usual error shapes, else the start of the body."""
    if not body:
        return None
    try:
        data = json.loads(body)
    except ValueError:
        return _clip(body.decode("utf-8", "replace")) or None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict) and isinstance(error.get("message"), str):
            return _clip(error["message"])  # OpenAI, vLLM, OpenRouter, LM Studio
        if isinstance(error, str):
            return _clip(error)  # Ollama: {"error": "model 'x' not found"}
        for key in ("message", "detail"):  # FastAPI-based servers
            if isinstance(data.get(key), str):
                return _clip(data[key])
    return _clip(json.dumps(data))


def _vendor_suffix(message: str | None) -> str:
    return f": {message}" if message else ""


def _clip(text: str) -> str:
    text = text.strip()
    if len(text) > _MAX_VENDOR_MESSAGE:
        return text[:_MAX_VENDOR_MESSAGE] + "..."
    return text


def _snippet(raw: bytes | str) -> str:
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    return text[:80]


def _str_or(value: Any, default: str) -> str:
    return value if isinstance(value, str) and value else default


def _opt_str(value: Any, default: str | None = None) -> str | None:
    return value if isinstance(value, str) and value else default
