"""A provider for Anthropic's Messages API (``POST {base_url}/v1/messages``).

What differs from the OpenAI shape, and is translated here:

- system messages go to the top-level ``system`` field, not into ``messages``;
- ``max_tokens`` is required (default :data:`DEFAULT_MAX_TOKENS`), ``temperature`` is 0..1;
- tools are ``{name, description, input_schema}``; the model answers ``tool_use`` content blocks,
  and results go back as ``tool_result`` blocks inside a *user* message, so our ``tool`` messages
  (consecutive ones merged) become one user turn and an assistant turn with ``tool_calls``
  becomes ``tool_use`` blocks;
- structured output has no dedicated switch: the schema becomes the input schema of a tool named
  ``output`` that the model is forced to call (``tool_choice: {"type": "tool", "name": "output"}``),
  and that call's input comes back as the response text, as JSON. With other tools in the same
  request the choice is ``{"type": "any"}``: the model either calls a tool or answers via
  ``output``. A schema whose top level is not an object is wrapped as ``{"value": schema}`` (the
  API requires an object input schema) and unwrapped again;
- streaming is an SSE sequence of typed events (``message_start``, ``content_block_start``,
  ``content_block_delta`` with ``text_delta`` / ``input_json_delta``, ``message_delta``,
  ``message_stop``, ``error``);
- ``stop_reason`` is normalised: end_turn → stop, tool_use → tool_calls, max_tokens → length.

Input tokens are ``input_tokens`` plus the cache-creation and cache-read tokens, which Anthropic
counts separately: all of them were sent.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from runtime.errors import ProviderResponseError, ProviderUnavailableError, StepError
from runtime.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ChunkCallback,
    ToolCall,
    ToolSpec,
)
from runtime.providers.common import (
    HTTPProvider,
    clip,
    estimate_tokens,
    int_or_none,
    normalise_finish_reason,
    opt_str,
    parse_arguments,
    snippet,
    sse_events,
    str_or,
    vendor_suffix,
)

DEFAULT_BASE_URL = "https://api.anthropic.com"
API_VERSION = "2023-06-01"
# The API refuses a request without max_tokens; this fits every current model's output limit.
DEFAULT_MAX_TOKENS = 4096
# The forced tool that carries a structured answer.
OUTPUT_TOOL = "output"
_OUTPUT_DESCRIPTION = (
    "Give your final answer by calling this tool; its input must match the schema exactly."
)

# Error event types inside a stream, as the HTTP status the same failure gets outside one.
_ERROR_STATUSES = {
    "invalid_request_error": 400,
    "authentication_error": 401,
    "billing_error": 402,
    "permission_error": 403,
    "not_found_error": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "api_error": 500,
    "timeout_error": 504,
    "overloaded_error": 529,
}


class AnthropicProvider(HTTPProvider):
    """Claude models over the Messages API."""

    default_name = "anthropic"
    default_base_url = DEFAULT_BASE_URL
    env_prefix = "ANTHROPIC"

    # -- plain and streamed calls ----------------------------------------------------------------

    async def _complete_plain(self, request: ChatRequest, timeout: float) -> ChatResponse:
        client = self._get_client()
        body, wrapped = self._body(request)
        response = await client.post(
            self._url(), json=body, headers=self._headers(stream=False), timeout=timeout
        )
        if not response.is_success:
            raise self._status_error(response.status_code, response.headers, response.content)
        try:
            data = response.json()
        except ValueError:
            raise ProviderResponseError(
                self._redact(
                    f"{self.name}: the response is not valid JSON: {snippet(response.content)!r}"
                )
            ) from None
        if not isinstance(data, dict):
            raise ProviderResponseError(f"{self.name}: the response is not a JSON object")
        if data.get("type") == "error":
            raise self._error_event(data.get("error"))
        content = data.get("content")
        if not isinstance(content, list):
            raise ProviderResponseError(f"{self.name}: the response has no content list")

        texts: list[str] = []
        uses: list[tuple[str, str, Any]] = []  # (id, name, input)
        for index, block in enumerate(content):
            if not isinstance(block, dict):
                raise ProviderResponseError(f"{self.name}: content block {index} is not an object")
            kind = block.get("type")
            if kind == "text":
                text = block.get("text")
                if not isinstance(text, str):
                    raise ProviderResponseError(f"{self.name}: text block {index} has no text")
                texts.append(text)
            elif kind == "tool_use":
                uses.append(self._tool_use(block, index))
            # thinking, redacted_thinking, server tool blocks: not part of the answer text.

        text, tool_calls = self._answer(request, "".join(texts), uses, wrapped, raw_output=None)
        usage = data.get("usage")
        tokens_in, tokens_out = _usage(usage if isinstance(usage, dict) else {})
        if tokens_in is None or tokens_out is None:
            est_in, est_out = estimate_tokens(request, text, tool_calls)
            tokens_in = est_in if tokens_in is None else tokens_in
            tokens_out = est_out if tokens_out is None else tokens_out
        return ChatResponse(
            text=text,
            model=str_or(data.get("model"), request.model),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            finish_reason=_finish(opt_str(data.get("stop_reason")), tool_calls),
            tool_calls=tool_calls,
        )

    async def _complete_stream(
        self, request: ChatRequest, on_chunk: ChunkCallback | None, timeout: float
    ) -> ChatResponse:
        client = self._get_client()
        body, wrapped = self._body(request)
        # Only a forced output tool streams its JSON as text: then the JSON *is* the answer.
        stream_output = request.response_schema is not None and not request.tools and not wrapped
        texts: list[str] = []
        blocks: dict[int, dict[str, Any]] = {}
        model = request.model
        stop_reason: str | None = None
        tokens_in: int | None = None
        tokens_out: int | None = None
        done = False

        async with client.stream(
            "POST", self._url(), json=body, headers=self._headers(stream=True), timeout=timeout
        ) as response:
            if not response.is_success:
                raw = await response.aread()
                raise self._status_error(response.status_code, response.headers, raw)

            async for event, data in sse_events(response.aiter_lines()):
                try:
                    payload = json.loads(data)
                except ValueError:
                    raise ProviderResponseError(
                        self._redact(
                            f"{self.name}: a stream event is not valid JSON: {snippet(data)!r}"
                        )
                    ) from None
                if not isinstance(payload, dict):
                    raise ProviderResponseError(f"{self.name}: a stream event is not an object")
                kind = payload.get("type") or event

                if kind == "message_start":
                    message = payload.get("message")
                    message = message if isinstance(message, dict) else {}
                    model = str_or(message.get("model"), model)
                    usage = message.get("usage")
                    if isinstance(usage, dict):
                        start_in, start_out = _usage(usage)
                        tokens_in = start_in if start_in is not None else tokens_in
                        tokens_out = start_out if start_out is not None else tokens_out
                elif kind == "content_block_start":
                    index = self._block_index(payload)
                    block = payload.get("content_block")
                    if not isinstance(block, dict):
                        raise ProviderResponseError(
                            f"{self.name}: content_block_start without a content block"
                        )
                    blocks[index] = {"block": block, "json": []}
                    initial = block.get("text")
                    if block.get("type") == "text" and isinstance(initial, str) and initial:
                        texts.append(initial)
                        if on_chunk is not None:
                            on_chunk(initial)
                elif kind == "content_block_delta":
                    index = self._block_index(payload)
                    delta = payload.get("delta")
                    if not isinstance(delta, dict):
                        raise ProviderResponseError(
                            f"{self.name}: content_block_delta without delta"
                        )
                    delta_type = delta.get("type")
                    if delta_type == "text_delta":
                        piece = delta.get("text")
                        if isinstance(piece, str) and piece:
                            texts.append(piece)
                            if on_chunk is not None:
                                on_chunk(piece)
                    elif delta_type == "input_json_delta":
                        slot = blocks.get(index)
                        if slot is None:
                            raise ProviderResponseError(
                                f"{self.name}: input_json_delta for unknown block {index}"
                            )
                        piece = delta.get("partial_json")
                        if isinstance(piece, str) and piece:
                            slot["json"].append(piece)
                            if (
                                stream_output
                                and on_chunk is not None
                                and slot["block"].get("name") == OUTPUT_TOOL
                            ):
                                on_chunk(piece)
                    # thinking_delta, signature_delta, citations_delta: not answer text.
                elif kind == "message_delta":
                    delta = payload.get("delta")
                    if isinstance(delta, dict):
                        stop_reason = opt_str(delta.get("stop_reason"), stop_reason)
                    usage = payload.get("usage")
                    if isinstance(usage, dict):
                        # Cumulative counts; newer API versions repeat the input counts here too.
                        delta_in, delta_out = _usage(usage)
                        tokens_in = delta_in if delta_in is not None else tokens_in
                        tokens_out = delta_out if delta_out is not None else tokens_out
                elif kind == "message_stop":
                    done = True
                    break
                elif kind == "error":
                    raise self._error_event(payload.get("error"))
                # ping, content_block_stop and event types added later: nothing to do.

        if not done and stop_reason is None:
            # The connection closed cleanly but the answer never finished: a proxy cut it off.
            raise ProviderUnavailableError(f"{self.name}: the stream ended before the answer did")

        uses: list[tuple[str, str, Any]] = []
        raw_output: str | None = None
        for index in sorted(blocks):
            slot = blocks[index]
            block = slot["block"]
            if block.get("type") != "tool_use":
                continue
            partial = "".join(slot["json"])
            name = block.get("name")
            if partial:
                arguments: Any = parse_arguments(
                    partial, who=self.name, tool=name if isinstance(name, str) else "?"
                )
            else:
                arguments = block.get("input") if isinstance(block.get("input"), dict) else {}
            uses.append(self._tool_use({**block, "input": arguments}, index))
            if name == OUTPUT_TOOL and stream_output and partial:
                raw_output = partial  # the text the caller already saw, byte for byte

        text, tool_calls = self._answer(request, "".join(texts), uses, wrapped, raw_output)
        if tokens_in is None or tokens_out is None:
            est_in, est_out = estimate_tokens(request, text, tool_calls)
            tokens_in = est_in if tokens_in is None else tokens_in
            tokens_out = est_out if tokens_out is None else tokens_out
        return ChatResponse(
            text=text,
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            finish_reason=_finish(stop_reason, tool_calls),
            tool_calls=tool_calls,
        )

    # -- request building ------------------------------------------------------------------------

    def _url(self) -> str:
        # The SDKs' base URL has no /v1; accept one that does rather than call /v1/v1/messages.
        if self.base_url.endswith("/v1"):
            return f"{self.base_url}/messages"
        return f"{self.base_url}/v1/messages"

    def _headers(self, *, stream: bool) -> dict[str, str]:
        headers = {
            "Accept": "text/event-stream" if stream else "application/json",
            "anthropic-version": API_VERSION,
        }
        if self._api_key:
            headers["x-api-key"] = self._api_key
        return headers

    def _body(self, request: ChatRequest) -> tuple[dict[str, Any], bool]:
        """The request body, and whether a structured answer is wrapped in ``{"value": ...}``."""
        system, messages = wire_messages(request.messages)
        body: dict[str, Any] = {
            "model": request.model,
            "max_tokens": request.max_tokens or DEFAULT_MAX_TOKENS,
            "messages": messages,
        }
        if system:
            body["system"] = system
        if request.temperature is not None:
            # Anthropic accepts 0..1 only; a flow written for OpenAI's 0..2 should still run.
            body["temperature"] = min(max(request.temperature, 0.0), 1.0)
        tools = [_wire_tool(tool) for tool in request.tools]
        wrapped = False
        if request.response_schema is not None:
            schema, wrapped = output_schema(request.response_schema)
            tools.append(
                {"name": OUTPUT_TOOL, "description": _OUTPUT_DESCRIPTION, "input_schema": schema}
            )
            body["tool_choice"] = (
                {"type": "any"} if request.tools else {"type": "tool", "name": OUTPUT_TOOL}
            )
        if tools:
            body["tools"] = tools
        # extra may add vendor options (top_k, metadata, thinking, ...) and override the fields
        # above, but not "stream": the response parser depends on it.
        body.update(request.extra)
        body["stream"] = request.stream
        return body, wrapped

    # -- response parsing ------------------------------------------------------------------------

    def _block_index(self, payload: Mapping[str, Any]) -> int:
        index = int_or_none(payload.get("index"))
        if index is None:
            raise ProviderResponseError(f"{self.name}: a content block event has no index")
        return index

    def _tool_use(self, block: Mapping[str, Any], index: int) -> tuple[str, str, Any]:
        name = block.get("name")
        if not isinstance(name, str) or not name:
            raise ProviderResponseError(f"{self.name}: tool_use block {index} has no name")
        arguments = block.get("input", {})
        if not isinstance(arguments, dict):
            raise ProviderResponseError(
                f"{self.name}: the input of tool call {name!r} is not a JSON object"
            )
        return str_or(block.get("id"), f"toolu_{index}"), name, arguments

    def _answer(
        self,
        request: ChatRequest,
        text: str,
        uses: list[tuple[str, str, Any]],
        wrapped: bool,
        raw_output: str | None,
    ) -> tuple[str, list[ToolCall]]:
        """The answer text and the tool calls the caller must run.

        With a response schema the forced ``output`` call *is* the answer: its input becomes the
        text (as JSON) and it is not reported as a tool call.
        """
        calls: list[ToolCall] = []
        for call_id, name, arguments in uses:
            if request.response_schema is not None and name == OUTPUT_TOOL:
                if wrapped:
                    text = json.dumps(arguments.get("value"))
                elif raw_output is not None:
                    text = raw_output
                else:
                    text = json.dumps(arguments)
                continue
            calls.append({"id": call_id, "name": name, "arguments": arguments})
        return text, calls

    # -- error mapping ---------------------------------------------------------------------------

    def _error_event(self, error: Any) -> StepError:
        """An ``error`` event (inside a stream, or a 200 error body) as the matching error."""
        error_type = error.get("type") if isinstance(error, dict) else None
        status = _ERROR_STATUSES.get(error_type) if isinstance(error_type, str) else None
        if status is not None:
            return self._status_error(status, {}, json.dumps({"error": error}).encode())
        message = error.get("message") if isinstance(error, dict) else error
        # An error type we don't know, after the 200 was sent: the server broke mid-answer.
        return ProviderUnavailableError(
            self._redact(f"{self.name}: error inside the stream{vendor_suffix(clip(str(message)))}")
        )


# -- wire shapes -----------------------------------------------------------------------------------


def wire_messages(messages: list[ChatMessage]) -> tuple[str, list[dict[str, Any]]]:
    """(system text, Anthropic messages) for our messages."""
    system: list[str] = []
    wire: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        content = message.get("content", "")
        if role == "system":
            if content:
                system.append(content)
        elif role == "tool":
            result = {
                "type": "tool_result",
                "tool_use_id": message.get("tool_call_id", ""),
                "content": content,
            }
            _append(wire, "user", [result])
        elif role == "assistant" and message.get("tool_calls"):
            blocks: list[dict[str, Any]] = [{"type": "text", "text": content}] if content else []
            blocks.extend(
                {
                    "type": "tool_use",
                    "id": call["id"],
                    "name": call["name"],
                    "input": call["arguments"],
                }
                for call in message.get("tool_calls", [])
            )
            _append(wire, "assistant", blocks)
        else:
            _append(wire, role, content)
    return "\n\n".join(system), wire


def _append(wire: list[dict[str, Any]], role: str, content: str | list[dict[str, Any]]) -> None:
    """Append a turn, merging it into the previous one of the same role.

    The API wants user and assistant turns to alternate, and every tool_result for one assistant
    turn inside the single user turn that follows it.
    """
    if not wire or wire[-1]["role"] != role:
        wire.append({"role": role, "content": content})
        return
    previous = wire[-1]
    previous["content"] = _blocks(previous["content"]) + _blocks(content)


def _blocks(content: str | list[dict[str, Any]]) -> list[dict[str, Any]]:
    if isinstance(content, list):
        return content
    return [{"type": "text", "text": content}] if content else []


def _wire_tool(tool: ToolSpec) -> dict[str, Any]:
    schema = dict(tool.parameters) if tool.parameters else {}
    schema.setdefault("type", "object")
    return {"name": tool.name, "description": tool.description, "input_schema": schema}


def output_schema(schema: dict[str, Any]) -> tuple[dict[str, Any], bool]:
    """The input schema of the forced ``output`` tool, and whether it wraps the caller's schema.

    Tool input schemas must describe an object. An object schema (or one with properties and no
    type) is used as it is; anything else (an array, a string, an enum) is wrapped as the
    ``value`` property, with ``$defs`` hoisted so local references still resolve.
    """
    declared = schema.get("type")
    if declared == "object" or (declared is None and "properties" in schema):
        return {**schema, "type": "object"}, False
    inner = {k: v for k, v in schema.items() if k not in ("$defs", "definitions", "$schema")}
    wrapper: dict[str, Any] = {
        "type": "object",
        "properties": {"value": inner},
        "required": ["value"],
    }
    for key in ("$defs", "definitions"):
        if key in schema:
            wrapper[key] = schema[key]
    return wrapper, True


def _finish(stop_reason: str | None, tool_calls: list[ToolCall]) -> str | None:
    if stop_reason == "tool_use" and not tool_calls:
        # The only call was the forced output tool: from the caller's side the answer is done.
        return "stop"
    return normalise_finish_reason(stop_reason, has_tool_calls=bool(tool_calls))


def _usage(usage: Mapping[str, Any]) -> tuple[int | None, int | None]:
    tokens_in = int_or_none(usage.get("input_tokens"))
    if tokens_in is not None:
        for key in ("cache_creation_input_tokens", "cache_read_input_tokens"):
            tokens_in += int_or_none(usage.get(key)) or 0
    return tokens_in, int_or_none(usage.get("output_tokens"))
