"""A provider for OpenAI-compatible chat completions: OpenAI, Ollama, vLLM, OpenRouter, LM Studio.

All of them accept ``POST {base_url}/chat/completions`` with the same body and answer either one
JSON document or a Server-Sent-Events stream of ``chat.completion.chunk`` objects ended by
``data: [DONE]``. This module speaks that protocol over an injected ``httpx.AsyncClient`` and turns
every failure into a :mod:`runtime.errors` provider error, so the engine's retry policy only has to
look at ``StepError.retryable`` and never at HTTP details.

Tools go out as ``tools: [{"type": "function", "function": {...}}]`` and come back as
``message.tool_calls`` (streamed as deltas keyed by ``index``, assembled here). Structured output
and streamed usage differ between these servers: how each is asked for, per endpoint and model,
is decided by :mod:`runtime.providers.capabilities` (the catalogue's setting, the provider's, or
what the server showed: a feature it refuses is dropped and the call sent again at once).
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Self

import httpx

from runtime.errors import (
    ProviderResponseError,
    ProviderUnavailableError,
    StepError,
)
from runtime.providers.base import (
    ChatMessage,
    ChatRequest,
    ChatResponse,
    ChunkCallback,
    ToolCall,
    ToolSpec,
)
from runtime.providers.capabilities import (
    KNOWN,
    Capabilities,
    CapabilityMemory,
    CapabilityRefused,
    StreamUsage,
    StructuredOutput,
    grammar_schema,
    ignored_tools_warning,
    parse_prompted_tool_calls,
    prompted_tool_messages,
    refusal_message,
    refused_features,
    resolve,
    step_down,
    stream_usage_mode,
    stream_usage_refusal_message,
    structured_output_mode,
    tool_calls_schema,
    tools_mode,
    tools_refusal_message,
    with_schema_instruction,
)
from runtime.providers.common import (
    HTTPProvider,
    clip,
    estimate_tokens,
    int_or_none,
    normalise_finish_reason,
    opt_str,
    parse_arguments,
    parse_retry_after,
    snippet,
    sse_events,
    str_or,
    vendor_message,
    vendor_suffix,
)

__all__ = ["DEFAULT_BASE_URL", "OpenAICompatibleProvider", "parse_retry_after"]

DEFAULT_BASE_URL = "https://api.openai.com/v1"

# What probe() asks for.
PROBE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"ok": {"type": "boolean"}},
    "required": ["ok"],
}

# A tool probe()'s third call offers: no arguments, so an answer cut off at max_tokens cannot
# leave a half-written call.
PROBE_TOOL = ToolSpec("ok", "Say that the answer is ok.", {"type": "object", "properties": {}})

# Each refusal drops one feature (structured output steps down twice, then tools and streamed
# usage), so a call is sent at most this many times: one more than the refusals there can be.
_MAX_SENDS = 5


class _Refused(Exception):
    """The server refused features we sent (not a StepError: it never leaves this module)."""

    def __init__(
        self, features: set[str], status: int, headers: Mapping[str, str], body: bytes
    ) -> None:
        super().__init__(", ".join(sorted(features)))
        self.features = features
        self.status = status
        self.headers = headers
        self.body = body


class OpenAICompatibleProvider(HTTPProvider):
    """Chat completions against any server that speaks the OpenAI wire format."""

    default_name = "openai"
    default_base_url = DEFAULT_BASE_URL
    env_prefix = "OPENAI"

    def __init__(
        self,
        name: str | None = None,
        base_url: str | None = None,
        api_key: str | None = None,
        client: httpx.AsyncClient | None = None,
        timeout: float = 60.0,
        *,
        structured_output: str | None = None,
        memory: CapabilityMemory | None = None,
    ) -> None:
        super().__init__(name, base_url, api_key, client, timeout)
        # The provider's own setting ("" or "auto": detect), below the catalogue's.
        self.structured_output: StructuredOutput | None = structured_output_mode(structured_output)
        self.memory = KNOWN if memory is None else memory

    @classmethod
    def from_env(cls, name: str | None = None, client: httpx.AsyncClient | None = None) -> Self:
        """Base URL, key and structured-output mode from OPENAI_BASE_URL, OPENAI_API_KEY and
        OPENAI_STRUCTURED_OUTPUT (json_schema, json_object, instructions; unset or auto: detect)."""
        provider = super().from_env(name, client)
        provider.structured_output = structured_output_mode(
            os.environ.get(f"{cls.env_prefix}_STRUCTURED_OUTPUT")
        )
        return provider

    # -- capabilities ----------------------------------------------------------------------------

    def capabilities(self, model: str, request: ChatRequest | None = None) -> Capabilities:
        """What a call to ``model`` here will use: the request's catalogue settings, then this
        provider's setting, then what was learned of the server, then the best guess."""
        return resolve(
            self.memory.get(self.base_url, model),
            catalogue_output=structured_output_mode(request.structured_output if request else None),
            catalogue_usage=stream_usage_mode(request.stream_usage if request else None),
            provider_output=self.structured_output,
            catalogue_tools=tools_mode(request.tools_mode if request else None),
        )

    async def probe(
        self,
        model: str,
        request: ChatRequest | None = None,
        *,
        timeout: float | None = None,
        warnings: list[str] | None = None,
    ) -> Capabilities:
        """Find out what the server can do for ``model`` with three tiny calls (a structured
        answer, a stream, a tool offered and asked for), for a person testing an endpoint. What it
        refuses is learned as in any call, and what it accepts is learned too, unless a setting
        pins it (a pinned mode that the server refuses raises :class:`CapabilityRefused`); a
        server that fails otherwise raises the call's error. ``request`` may carry the
        catalogue's settings for the model; ``timeout`` bounds each call; what a person should
        know beyond the capabilities (tools taken but never called) is added to ``warnings``."""
        settings: dict[str, Any] = {
            "structured_output": request.structured_output if request else None,
            "stream_usage": request.stream_usage if request else None,
            "tools_mode": request.tools_mode if request else None,
        }

        def call(content: str, **options: Any) -> ChatRequest:
            ask: ChatMessage = {"role": "user", "content": content}
            return ChatRequest(
                model=model, messages=[ask], temperature=0.0, timeout=timeout, **settings, **options
            )

        before = self.capabilities(model, request)
        answer = await self.complete(
            call('Answer {"ok": true}.', max_tokens=16, response_schema=PROBE_SCHEMA)
        )
        if before.structured_output_source in ("default", "detected"):
            self.memory.learn(
                self.base_url,
                model,
                structured_output=structured_output_mode(answer.structured_output),
            )
        streamed = await self.complete(call('Answer {"ok": true}.', max_tokens=4, stream=True))
        if before.stream_usage_source != "catalogue":
            usage: StreamUsage = "counted" if streamed.tokens_estimated else "reported"
            self.memory.learn(self.base_url, model, stream_usage=usage)
        offered = await self.complete(
            call(f"Call the tool {PROBE_TOOL.name} now.", max_tokens=32, tools=[PROBE_TOOL])
        )
        caps = self.capabilities(model, request)
        if caps.tools == "native" and not offered.tool_calls:
            # The server took the tools but no call came back, though one was asked for: its
            # chat template drops them (llama-cpp-python's plain chat formats, llama.cpp without
            # --jinja, vLLM without auto tool choice), and no run could ever call a tool there.
            # Nothing in a run can tell that from a model that chose not to call, so a run
            # learns it from no refusal: the catalogue must say prompted.
            if warnings is not None:
                warnings.append(ignored_tools_warning(self._host(), model, caps.tools_source))
            if caps.tools_source == "default":
                self.memory.learn(self.base_url, model, tools="prompted")
        elif caps.tools_source == "default":
            self.memory.learn(self.base_url, model, tools="native")
        return self.capabilities(model, request)

    async def complete(
        self, request: ChatRequest, on_chunk: ChunkCallback | None = None
    ) -> ChatResponse:
        caps = self.capabilities(request.model, request)
        for _ in range(_MAX_SENDS):
            effective = replace(
                request,
                structured_output=caps.structured_output,
                stream_usage=caps.stream_usage,
                tools_mode=caps.tools,
            )
            prompted = bool(request.tools) and caps.tools == "prompted"
            if prompted:
                # A streamed tool call would show its JSON as text: ask whole, pass on the text
                # once it is known to be an answer.
                effective.stream = False
            try:
                response = await super().complete(effective, on_chunk)
            except _Refused as refused:
                caps = self._after_refusal(request, caps, refused)
                continue
            if prompted:
                response.tool_calls = parse_prompted_tool_calls(response.text, request.tools)
                if response.tool_calls:
                    response.text = ""
                    response.finish_reason = "tool_calls"
                elif request.stream and on_chunk is not None and response.text:
                    on_chunk(response.text)
            return response
        raise ProviderResponseError(
            self._redact(
                f"{self.name}: the server at {self._host()} refused every way of asking model "
                f"{request.model!r} (it refused {_MAX_SENDS} requests, each naming a feature)"
            )
        )

    def _after_refusal(
        self, request: ChatRequest, caps: Capabilities, refused: _Refused
    ) -> Capabilities:
        """The capabilities to try next, learned for the endpoint; or the error when a setting
        pinned the refused feature (it is not second-guessed)."""
        detail = f"HTTP {refused.status}{vendor_suffix(vendor_message(refused.body))}"
        if "structured_output" in refused.features:
            if caps.structured_output_source in ("catalogue", "provider"):
                raise CapabilityRefused(
                    self._redact(
                        refusal_message(
                            self.name,
                            self._host(),
                            request.model,
                            caps.structured_output,
                            caps.structured_output_source,
                            detail,
                        )
                    ),
                    "structured_output",
                )
            weaker = step_down(caps.structured_output)
            if weaker is None:  # pragma: no cover - instructions send no response_format
                raise self._status_error(refused.status, refused.headers, refused.body)
            caps = replace(
                caps,
                structured_output=self.memory.learn(
                    self.base_url, request.model, structured_output=weaker
                ).structured_output,
                structured_output_source="detected",
            )
        if "tools" in refused.features:
            if caps.tools_source == "catalogue":
                raise CapabilityRefused(
                    self._redact(
                        tools_refusal_message(self.name, self._host(), request.model, detail)
                    ),
                    "tools",
                )
            self.memory.learn(self.base_url, request.model, tools="prompted")
            caps = replace(caps, tools="prompted", tools_source="detected")
        if "stream_usage" in refused.features:
            if caps.stream_usage_source == "catalogue":
                raise CapabilityRefused(
                    self._redact(
                        stream_usage_refusal_message(self.name, self._host(), request.model, detail)
                    ),
                    "stream_usage",
                )
            self.memory.learn(self.base_url, request.model, stream_usage="counted")
            caps = replace(caps, stream_usage="counted", stream_usage_source="detected")
        return caps

    def _refusal_or_error(
        self, request: ChatRequest, status: int, headers: Mapping[str, str], body: bytes
    ) -> Exception:
        """A :class:`_Refused` when the error names a feature we sent, else the status error."""
        sent: set[str] = set()
        if request.response_schema is not None and request.structured_output != "instructions":
            sent.add("structured_output")
        if request.stream and request.stream_usage != "counted":
            sent.add("stream_usage")
        if request.tools and request.tools_mode != "prompted":
            sent.add("tools")
        message = vendor_message(body)
        features = refused_features(status, message, sent=sent)
        if features:
            return _Refused(features, status, headers, body)
        return self._status_error(status, headers, body)

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
            raise self._refusal_or_error(
                request, response.status_code, response.headers, response.content
            )

        try:
            data = response.json()
        except ValueError:
            raise ProviderResponseError(
                self._redact(
                    f"{self.name}: the response is not valid JSON: {snippet(response.content)!r}"
                )
            ) from None
        choice = _first_choice(data)
        if choice is None:
            raise ProviderResponseError(
                self._redact(
                    f"{self.name}: the response has no choices"
                    + vendor_suffix(vendor_message(response.content))
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
        tool_calls = self._parse_tool_calls(message.get("tool_calls"))

        tokens_in, tokens_out = _usage(data.get("usage"))
        estimated = tokens_in is None or tokens_out is None
        if tokens_in is None or tokens_out is None:
            # Some servers (older Ollama and LM Studio builds) omit usage; estimate it rather than
            # report zero, so cost and budget accounting stay roughly right.
            est_in, est_out = estimate_tokens(request, text, tool_calls)
            tokens_in = est_in if tokens_in is None else tokens_in
            tokens_out = est_out if tokens_out is None else tokens_out
        return ChatResponse(
            text=text,
            model=str_or(data.get("model"), request.model),
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            finish_reason=normalise_finish_reason(
                opt_str(choice.get("finish_reason")), has_tool_calls=bool(tool_calls)
            ),
            tool_calls=tool_calls,
            structured_output=_mode_used(request),
            tokens_estimated=estimated,
        )

    async def _complete_stream(
        self, request: ChatRequest, on_chunk: ChunkCallback | None, timeout: float
    ) -> ChatResponse:
        client = self._get_client()
        parts: list[str] = []
        deltas = 0  # content pieces: llama.cpp, vLLM, Ollama and OpenAI send one token in each
        calls = _ToolCallAssembler(self.name)
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
                raise self._refusal_or_error(request, response.status_code, response.headers, body)

            async for _event, data in sse_events(response.aiter_lines()):
                if data == "[DONE]":
                    done = True
                    break
                try:
                    chunk = json.loads(data)
                except ValueError:
                    raise ProviderResponseError(
                        self._redact(
                            f"{self.name}: a stream event is not valid JSON: {snippet(data)!r}"
                        )
                    ) from None
                if not isinstance(chunk, dict):
                    raise ProviderResponseError(f"{self.name}: a stream event is not an object")
                if "error" in chunk:
                    # vLLM and OpenRouter report failures that happen after the 200 was sent as
                    # an error event inside the stream.
                    raise self._stream_error(chunk["error"])

                model = str_or(chunk.get("model"), model)
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
                    if isinstance(delta, dict):
                        content = delta.get("content")
                        if isinstance(content, str) and content:
                            deltas += 1
                            parts.append(content)
                            if on_chunk is not None:
                                on_chunk(content)
                        calls.add(delta.get("tool_calls"))
                    finish_reason = opt_str(choice.get("finish_reason"), finish_reason)

        if not done and finish_reason is None:
            # The connection closed cleanly but the answer never finished: a proxy cut it off.
            # Retrying is the right call, even though the caller has seen part of the text.
            raise ProviderUnavailableError(f"{self.name}: the stream ended before the answer did")

        text = "".join(parts)
        tool_calls = calls.result()
        estimated = tokens_in is None or tokens_out is None
        self._learn_stream_usage(request, reported=not estimated)
        if tokens_in is None or tokens_out is None:
            # The server ignored or refused stream_options.include_usage (llama-cpp-python,
            # older Ollama, LM Studio, some proxies): count the pieces it streamed (a token each
            # on most servers), and no fewer than ~4 characters per token, instead of zero.
            est_in, est_out = estimate_tokens(request, text, tool_calls)
            est_out = max(est_out, deltas)
            tokens_in = est_in if tokens_in is None else tokens_in
            tokens_out = est_out if tokens_out is None else tokens_out
        return ChatResponse(
            text=text,
            model=model,
            tokens_in=tokens_in,
            tokens_out=tokens_out,
            finish_reason=normalise_finish_reason(finish_reason, has_tool_calls=bool(tool_calls)),
            tool_calls=tool_calls,
            structured_output=_mode_used(request),
            tokens_estimated=estimated,
        )

    def _learn_stream_usage(self, request: ChatRequest, *, reported: bool) -> None:
        """A stream that asked for usage and got none: the server ignores stream_options, so its
        tokens are counted from now on (and a "counted" one that sent usage anyway: reported)."""
        if stream_usage_mode(request.stream_usage) == ("counted" if reported else "reported"):
            # Learned even under a catalogue setting, which still wins over it (resolve()).
            self.memory.learn(
                self.base_url, request.model, stream_usage="reported" if reported else "counted"
            )

    # -- request building ------------------------------------------------------------------------

    def _url(self) -> str:
        return f"{self.base_url}/chat/completions"

    def _headers(self, *, stream: bool) -> dict[str, str]:
        headers = {"Accept": "text/event-stream" if stream else "application/json"}
        if self._api_key:
            headers["Authorization"] = f"Bearer {self._api_key}"
        return headers

    def _body(self, request: ChatRequest) -> dict[str, Any]:
        mode = structured_output_mode(request.structured_output) or "json_schema"
        prompted = bool(request.tools) and request.tools_mode == "prompted"
        messages = request.messages
        schema = request.response_schema
        if schema is not None and mode == "instructions":
            messages = with_schema_instruction(messages, schema)
        if prompted:
            messages = prompted_tool_messages(
                messages, request.tools, answer_schema=schema is not None
            )
            if schema is not None:
                # The answer is either a tool call or the JSON asked for.
                schema = {"anyOf": [tool_calls_schema(request.tools), schema]}
        body: dict[str, Any] = {
            "model": request.model,
            "messages": [_wire_message(message) for message in messages],
        }
        if request.temperature is not None:
            body["temperature"] = request.temperature
        if request.max_tokens is not None:
            body["max_tokens"] = request.max_tokens
        if request.tools and not prompted:
            body["tools"] = [_wire_tool(tool) for tool in request.tools]
        if schema is not None and mode == "json_object":
            # llama-cpp-python turns the schema into a grammar; servers that do not know the
            # "schema" key still answer a JSON object, which the caller validates.
            body["response_format"] = {"type": "json_object", "schema": grammar_schema(schema)}
        elif schema is not None and mode == "json_schema":
            # strict=False: strict mode rejects schemas with optional properties or without
            # additionalProperties=false, which user-written schemas rarely satisfy. The caller
            # validates the answer either way.
            body["response_format"] = {
                "type": "json_schema",
                "json_schema": {"name": "output", "schema": schema, "strict": False},
            }
        body["stream"] = request.stream
        # extra may add vendor options (top_p, seed, tool_choice, ...) and may override the
        # fields above, but not "stream": the response parser depends on it.
        body.update(request.extra)
        body["stream"] = request.stream
        if request.stream and request.stream_usage != "counted":
            # Without this OpenAI sends no usage at all in streaming mode.
            options = request.extra.get("stream_options")
            body["stream_options"] = {
                **(options if isinstance(options, dict) else {}),
                "include_usage": True,
            }
        return body

    # -- response parsing ------------------------------------------------------------------------

    def _parse_tool_calls(self, raw: Any) -> list[ToolCall]:
        if raw is None:
            return []
        if not isinstance(raw, list):
            raise ProviderResponseError(f"{self.name}: message.tool_calls is not a list")
        calls: list[ToolCall] = []
        for index, item in enumerate(raw):
            function = item.get("function") if isinstance(item, dict) else None
            if not isinstance(function, dict):
                raise ProviderResponseError(f"{self.name}: tool call {index} has no function")
            name = function.get("name")
            if not isinstance(name, str) or not name:
                raise ProviderResponseError(f"{self.name}: tool call {index} has no name")
            assert isinstance(item, dict)
            calls.append(
                {
                    "id": str_or(item.get("id"), f"call_{index}"),
                    "name": name,
                    "arguments": parse_arguments(
                        function.get("arguments"), who=self.name, tool=name
                    ),
                }
            )
        return calls

    # -- error mapping ---------------------------------------------------------------------------

    def _stream_error(self, error: Any) -> StepError:
        code = error.get("code") if isinstance(error, dict) else None
        if isinstance(code, int) and 400 <= code <= 599:
            # OpenRouter puts the HTTP status it would have sent into "code"; honour it.
            return self._status_error(code, {}, json.dumps({"error": error}).encode())
        message = error.get("message") if isinstance(error, dict) else error
        # Otherwise the server broke while generating (vLLM engine errors): transient.
        return ProviderUnavailableError(
            self._redact(f"{self.name}: error inside the stream{vendor_suffix(clip(str(message)))}")
        )


# -- wire shapes -----------------------------------------------------------------------------------


def _wire_message(message: ChatMessage) -> dict[str, Any]:
    """Our message as OpenAI expects it: tool results and tool-calling assistant turns differ."""
    role = message["role"]
    content = message.get("content", "")
    if role == "tool":
        return {"role": "tool", "tool_call_id": message.get("tool_call_id", ""), "content": content}
    wire: dict[str, Any] = {"role": role, "content": content}
    if "name" in message:
        wire["name"] = message["name"]
    tool_calls = message.get("tool_calls")
    if role == "assistant" and tool_calls:
        # OpenAI wants null, not "", beside tool calls that came without text.
        wire["content"] = content or None
        wire["tool_calls"] = [
            {
                "id": call["id"],
                "type": "function",
                "function": {"name": call["name"], "arguments": json.dumps(call["arguments"])},
            }
            for call in tool_calls
        ]
    return wire


def _wire_tool(tool: ToolSpec) -> dict[str, Any]:
    return {
        "type": "function",
        "function": {
            "name": tool.name,
            "description": tool.description,
            "parameters": tool.parameters or {"type": "object", "properties": {}},
        },
    }


class _ToolCallAssembler:
    """Builds whole tool calls from streamed deltas.

    OpenAI sends each call's id and name in its first delta and the arguments JSON in pieces
    after it, every delta keyed by ``index``; a call is only complete when the stream ends.
    """

    def __init__(self, who: str) -> None:
        self._who = who
        self._slots: dict[int, dict[str, Any]] = {}
        self._last: int | None = None

    def add(self, deltas: Any) -> None:
        if deltas is None:
            return
        if not isinstance(deltas, list):
            raise ProviderResponseError(f"{self._who}: a stream delta's tool_calls is not a list")
        for delta in deltas:
            if not isinstance(delta, dict):
                raise ProviderResponseError(f"{self._who}: a streamed tool call is not an object")
            index = int_or_none(delta.get("index"))
            if index is None:
                # A server that leaves out the index (some gateways send each call whole): a new
                # id starts a new call, anything else continues the last one.
                ids = {slot["id"] for slot in self._slots.values()}
                new = isinstance(delta.get("id"), str) and delta["id"] not in ids
                index = len(self._slots) if new or self._last is None else self._last
            slot = self._slots.setdefault(index, {"id": None, "name": "", "args": [], "obj": None})
            self._last = index
            if isinstance(delta.get("id"), str) and delta["id"]:
                slot["id"] = delta["id"]
            function = delta.get("function")
            if not isinstance(function, dict):
                continue
            name = function.get("name")
            if isinstance(name, str) and name and not slot["name"]:
                slot["name"] = name
            arguments = function.get("arguments")
            if isinstance(arguments, str):
                slot["args"].append(arguments)
            elif isinstance(arguments, dict):
                slot["obj"] = arguments

    def result(self) -> list[ToolCall]:
        calls: list[ToolCall] = []
        for index in sorted(self._slots):
            slot = self._slots[index]
            if not slot["name"]:
                raise ProviderResponseError(f"{self._who}: streamed tool call {index} has no name")
            raw = slot["obj"] if slot["obj"] is not None else "".join(slot["args"])
            calls.append(
                {
                    "id": slot["id"] or f"call_{index}",
                    "name": slot["name"],
                    "arguments": parse_arguments(raw, who=self._who, tool=slot["name"]),
                }
            )
        return calls


def _mode_used(request: ChatRequest) -> str | None:
    if request.response_schema is None:
        return None
    return structured_output_mode(request.structured_output) or "json_schema"


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
    return int_or_none(usage.get("prompt_tokens")), int_or_none(usage.get("completion_tokens"))
