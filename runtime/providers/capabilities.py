"""What an endpoint can do, per (base URL, model): the one home for it.

Servers that call themselves "OpenAI-compatible" (OpenAI, Ollama, vLLM, LM Studio, llama.cpp,
llama-cpp-python, LiteLLM, OpenRouter) differ in the features the engine leans on:

- **structured output** (``structured_output``), how an answer that must be JSON matching a
  schema is asked for:

  - ``json_schema``: ``response_format: {"type": "json_schema", "json_schema": {...}}``
    (OpenAI, Ollama, vLLM, LM Studio, OpenRouter);
  - ``json_object``: ``response_format: {"type": "json_object", "schema": {...}}``
    (llama-cpp-python turns the schema into a grammar; others at least force JSON);
  - ``instructions``: no ``response_format`` at all; the schema goes into the prompt, and the
    caller validates the answer and asks for a repair when it does not fit (it always does).

- **streamed usage** (``stream_usage``): ``reported`` when the server accepts
  ``stream_options.include_usage`` and sends token counts at the end of a stream, ``counted``
  when it refuses or ignores it and the tokens are estimated from the text.

- **tools** (``tools``): ``native`` (``tools`` in the request, ``tool_calls`` in the answer) or
  ``prompted``: the tools are described in the system message and the model calls them by
  answering ``{"tool_calls": [{"name": ..., "arguments": {...}}]}``, which the provider turns
  into the same tool calls (:func:`prompted_tool_messages`, :func:`parse_prompted_tool_calls`).

Where a value comes from, first match wins:

1. the model catalogue (a workspace's entry for the model: :class:`CatalogueEntry`, carried on
   each :class:`~runtime.providers.base.ChatRequest`);
2. the provider's own setting (``OPENAI_STRUCTURED_OUTPUT`` for the environment's provider);
3. what this process learned from the server (:data:`KNOWN`): a server that refuses a feature
   (an HTTP 4xx/5xx whose message names it) is asked again at once without it, and the
   endpoint is remembered, so the refusal costs one round trip per process, not one per call;
4. the best guess: ``json_schema`` and ``reported``.

A setting from 1 or 2 is not second-guessed: when the server refuses it, the call fails with a
:class:`CapabilityRefused` that names the capability and the fix (:func:`refusal_message`).
"""

from __future__ import annotations

import json
import threading
from collections import OrderedDict
from dataclasses import dataclass, replace
from typing import Any, Literal, cast, get_args

from runtime.errors import ProviderBadRequestError
from runtime.providers.base import ChatMessage, ToolCall, ToolSpec
from runtime.usage import ModelPrice

StructuredOutput = Literal["json_schema", "json_object", "instructions"]
StreamUsage = Literal["reported", "counted"]
Tools = Literal["native", "prompted"]
Source = Literal["default", "detected", "catalogue", "provider"]
SOURCES: tuple[Source, ...] = get_args(Source)

# Strongest first: a refused mode steps down to the next one.
STRUCTURED_OUTPUT_MODES: tuple[StructuredOutput, ...] = (
    "json_schema",
    "json_object",
    "instructions",
)
STREAM_USAGE_MODES: tuple[StreamUsage, ...] = ("reported", "counted")
TOOLS_MODES: tuple[Tools, ...] = ("native", "prompted")

# What a person reads in the catalogue, an error or a credential's test.
STRUCTURED_OUTPUT_LABELS: dict[str, str] = {
    "json_schema": "JSON-schema output (response_format json_schema)",
    "json_object": "JSON-object output with a schema (response_format json_object)",
    "instructions": "JSON by instructions, validated and repaired",
}

# A server's message naming one of these refused that feature.
_STRUCTURED_WORDS = ("response_format", "json_schema", "json_object", "structured output")
_STREAM_USAGE_WORDS = ("stream_options", "include_usage")
# Ollama "does not support tools", llama.cpp "tools param requires --jinja", vLLM "auto tool
# choice requires --enable-auto-tool-choice".
_TOOLS_WORDS = ("tools", "tool_choice", "tool choice", "tool call", "function call", "functions")
# ...unless the message blames the schema itself (OpenAI: "Invalid schema for response_format
# 'output'"): that is the node's schema at fault, not the mode, and must not degrade the model.
_SCHEMA_FAULT_WORDS = ("invalid schema", "invalid json schema", "schema is invalid")
# Statuses that say nothing about a feature: a key, a rate limit, a timeout, a missing route.
_NOT_A_REFUSAL = frozenset({401, 403, 404, 408, 429})


def structured_output_mode(value: Any) -> StructuredOutput | None:
    """``value`` as a structured-output mode; None for None, "", "auto" and anything unknown."""
    return cast(StructuredOutput, value) if value in STRUCTURED_OUTPUT_MODES else None


def stream_usage_mode(value: Any) -> StreamUsage | None:
    return cast(StreamUsage, value) if value in STREAM_USAGE_MODES else None


def tools_mode(value: Any) -> Tools | None:
    return cast(Tools, value) if value in TOOLS_MODES else None


@dataclass(frozen=True, slots=True)
class CatalogueEntry(ModelPrice):
    """A model's catalogue entry: its price, and the capabilities set for it (None: detect)."""

    structured_output: StructuredOutput | None = None
    stream_usage: StreamUsage | None = None
    tools: Tools | None = None


@dataclass(frozen=True, slots=True)
class Capabilities:
    """What one endpoint and model can do, and where each answer came from."""

    structured_output: StructuredOutput = "json_schema"
    stream_usage: StreamUsage = "reported"
    structured_output_source: Source = "default"
    stream_usage_source: Source = "default"
    tools: Tools = "native"
    tools_source: Source = "default"

    def to_dict(self) -> dict[str, Any]:
        return {
            "structured_output": self.structured_output,
            "structured_output_source": self.structured_output_source,
            "stream_usage": self.stream_usage,
            "stream_usage_source": self.stream_usage_source,
            "tools": self.tools,
            "tools_source": self.tools_source,
        }


def resolve(
    learned: Capabilities | None,
    *,
    catalogue_output: StructuredOutput | None = None,
    catalogue_usage: StreamUsage | None = None,
    provider_output: StructuredOutput | None = None,
    catalogue_tools: Tools | None = None,
) -> Capabilities:
    """The capabilities a call uses: catalogue, then provider setting, then learned, then best."""
    caps = learned or Capabilities()
    if catalogue_output is not None:
        caps = replace(
            caps, structured_output=catalogue_output, structured_output_source="catalogue"
        )
    elif provider_output is not None:
        caps = replace(caps, structured_output=provider_output, structured_output_source="provider")
    if catalogue_usage is not None:
        caps = replace(caps, stream_usage=catalogue_usage, stream_usage_source="catalogue")
    if catalogue_tools is not None:
        caps = replace(caps, tools=catalogue_tools, tools_source="catalogue")
    return caps


def step_down(mode: StructuredOutput) -> StructuredOutput | None:
    """The next weaker structured-output mode, or None below ``instructions``."""
    index = STRUCTURED_OUTPUT_MODES.index(mode)
    return STRUCTURED_OUTPUT_MODES[index + 1] if index + 1 < len(STRUCTURED_OUTPUT_MODES) else None


def refused_features(status: int, message: str | None, *, sent: set[str]) -> set[str]:
    """Which of the features we ``sent`` ("structured_output", "stream_usage") an error refuses.

    A refusal is an HTTP 4xx or 5xx (llama-cpp-python answers a request it cannot validate with
    a 500) whose message names the feature: ``"Input should be 'text' or 'json_object'"``,
    ``"response_format.type json_schema is not supported"``, ``"Unrecognized request argument
    supplied: stream_options"``. A 500 that names nothing is an outage, not a refusal.
    """
    if status < 400 or status in _NOT_A_REFUSAL or not message:
        return set()
    text = message.lower()
    found: set[str] = set()
    schema_fault = any(word in text for word in _SCHEMA_FAULT_WORDS)
    if (
        "structured_output" in sent
        and not schema_fault
        and any(word in text for word in _STRUCTURED_WORDS)
    ):
        found.add("structured_output")
    if "stream_usage" in sent and any(word in text for word in _STREAM_USAGE_WORDS):
        found.add("stream_usage")
    if "tools" in sent and any(word in text for word in _TOOLS_WORDS):
        found.add("tools")
    return found


class CapabilityRefused(ProviderBadRequestError):
    """The server refused a capability that a setting pinned; the message names the capability
    (``structured_output``, ``stream_usage`` or ``tools``) and the setting to change. Its code
    stays ``provider_bad_request``: retrying sends the same request."""

    def __init__(self, message: str, capability: str) -> None:
        super().__init__(message)
        self.capability = capability


def _where(source: Source) -> str:
    return "in the model catalogue" if source == "catalogue" else "in OPENAI_STRUCTURED_OUTPUT"


def refusal_message(
    who: str, host: str, model: str, mode: StructuredOutput, source: Source, detail: str
) -> str:
    """The error for a server that refused the structured-output mode a setting asked for."""
    weaker = STRUCTURED_OUTPUT_MODES[STRUCTURED_OUTPUT_MODES.index(mode) + 1 :]
    fix = " or ".join(weaker) or "auto"
    return (
        f"{who}: the server at {host} cannot do {STRUCTURED_OUTPUT_LABELS[mode]} for model "
        f"{model!r} ({detail}); switch the model's structured-output mode {_where(source)} to "
        f"{fix}, or to auto to have it detected"
    )


def tools_refusal_message(who: str, host: str, model: str, detail: str) -> str:
    """The error for a server that refused native tools the catalogue asked for."""
    return (
        f"{who}: the server at {host} cannot do native tool calls for model {model!r} "
        f"({detail}); set the model's tools in the model catalogue to prompted, or to auto to "
        "have it detected"
    )


def stream_usage_refusal_message(who: str, host: str, model: str, detail: str) -> str:
    """The error for a server that refused the streamed usage the catalogue asked for."""
    return (
        f"{who}: the server at {host} refuses stream_options, so it cannot report the tokens of "
        f"a streamed answer for model {model!r} ({detail}); set the model's streamed usage in "
        "the model catalogue to counted, or to auto to have it detected"
    )


def ignored_tools_warning(host: str, model: str, source: Source) -> str:
    """What a test of an endpoint says when the server takes native tools but the model calls
    none when asked to: its chat template drops them, so a run's tools would never be called."""
    where = "as the model catalogue sets" if source == "catalogue" else "as runs send them"
    return (
        f"the server at {host} took native tools for model {model!r} ({where}) but no tool "
        "call came back when one was asked for: its chat template may drop tools (llama.cpp "
        "without --jinja, llama-cpp-python's plain chat formats, vLLM without "
        "--enable-auto-tool-choice); set the model's tools in the model catalogue to prompted"
    )


def missing_usage_warning(host: str, model: str) -> str:
    """What a test of an endpoint says when the catalogue expects streamed usage and the
    server sends none (not an error in a run: the streamed pieces are counted instead)."""
    return (
        f"the model catalogue sets streamed usage to reported, but the server at {host} sent no "
        f"token counts in a stream for model {model!r}: its tokens are counted from the text; "
        "set the model's streamed usage to counted, or to auto to have it detected"
    )


# -- the schema a grammar-constrained server sees ------------------------------------------------

# An integer range up to this wide is sent as the list of its values.
_MAX_ENUMERATED_RANGE = 256


def grammar_schema(schema: Any) -> Any:
    """``schema`` as a server that turns schemas into grammars enforces it best (json_object).

    llama.cpp's and llama-cpp-python's converters ignore ``minimum`` and ``maximum`` but honour
    ``enum``, so a small integer range (a 0-100 score) goes out as its values; the answer is still
    validated against the schema itself. Everything else is sent as it is.
    """
    if isinstance(schema, list):
        return [grammar_schema(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    low, high = schema.get("minimum"), schema.get("maximum")
    if (
        schema.get("type") == "integer"
        and "enum" not in schema
        and isinstance(low, int)
        and isinstance(high, int)
        and 0 <= high - low <= _MAX_ENUMERATED_RANGE
    ):
        rest = {k: v for k, v in schema.items() if k not in ("type", "minimum", "maximum")}
        return {**rest, "enum": list(range(low, high + 1))}
    return {
        key: value if key in ("enum", "const", "default", "examples") else grammar_schema(value)
        for key, value in schema.items()
    }


# -- the prompt side of the instructions mode ----------------------------------------------------


def schema_instruction(schema: dict[str, Any] | None) -> str:
    """The instruction that asks for a JSON answer (matching ``schema``, when given)."""
    text = "Answer with only a JSON value: no prose before or after it, no code fences."
    if schema is not None:
        text += "\nIt must match this JSON Schema:\n" + json.dumps(schema, ensure_ascii=False)
    return text


def with_schema_instruction(
    messages: list[ChatMessage], schema: dict[str, Any]
) -> list[ChatMessage]:
    """``messages`` with the schema instruction in the system message, unless one of them
    already carries the schema (the engine's nodes write it into their prompts themselves)."""
    text = json.dumps(schema, ensure_ascii=False)
    if any(text in (message.get("content") or "") for message in messages):
        return messages
    instruction = schema_instruction(schema)
    out = [dict(message) for message in messages]
    if out and out[0].get("role") == "system":
        out[0]["content"] = f"{out[0].get('content') or ''}\n\n{instruction}".lstrip()
    else:
        out.insert(0, {"role": "system", "content": instruction})
    return cast(list[ChatMessage], out)


# -- the prompted tools protocol ------------------------------------------------------------------


def tool_calls_schema(tools: list[ToolSpec]) -> dict[str, Any]:
    """The JSON a model answers to call tools by the prompted protocol."""
    return {
        "type": "object",
        "properties": {
            "tool_calls": {
                "type": "array",
                "minItems": 1,
                "items": {
                    "anyOf": [
                        {
                            "type": "object",
                            "properties": {
                                "name": {"const": tool.name},
                                "arguments": tool.parameters or {"type": "object"},
                            },
                            "required": ["name", "arguments"],
                        }
                        for tool in tools
                    ]
                },
            }
        },
        "required": ["tool_calls"],
    }


def prompted_tool_messages(
    messages: list[ChatMessage], tools: list[ToolSpec], *, answer_schema: bool = False
) -> list[ChatMessage]:
    """``messages`` for a server without native tools: the tools and how to call them in the
    system message; earlier calls as the JSON the model wrote, their results as user turns."""
    lines = [
        "You can call tools. To call tools, answer with only this JSON and nothing else:",
        '{"tool_calls": [{"name": "<tool name>", "arguments": {<arguments>}}]}',
        "You will get each tool's result, then answer"
        + (" with the JSON asked for above." if answer_schema else " the task without JSON."),
        "Tools:",
    ]
    for tool in tools:
        parameters = json.dumps(tool.parameters or {"type": "object"}, ensure_ascii=False)
        lines.append(f"- {tool.name}: {tool.description} Arguments (JSON Schema): {parameters}")
    protocol = "\n".join(lines)
    out: list[dict[str, Any]] = []
    for message in messages:
        role = message["role"]
        if role == "tool":
            result = message.get("content", "")
            out.append(
                {"role": "user", "content": f"Result of tool {message.get('name', '')}:\n{result}"}
            )
        elif role == "assistant" and message.get("tool_calls"):
            calls = [
                {"name": call["name"], "arguments": call["arguments"]}
                for call in message.get("tool_calls", [])
            ]
            out.append({"role": "assistant", "content": json.dumps({"tool_calls": calls})})
        else:
            out.append({"role": role, "content": message.get("content", "")})
    if out and out[0]["role"] == "system":
        out[0]["content"] = f"{out[0]['content']}\n\n{protocol}".lstrip()
    else:
        out.insert(0, {"role": "system", "content": protocol})
    return cast(list[ChatMessage], out)


def parse_prompted_tool_calls(text: str, tools: list[ToolSpec]) -> list[ToolCall]:
    """The tool calls in an answer written by the prompted protocol; [] when it calls none (a
    final answer), also when it names no tool it has."""
    names = {tool.name for tool in tools}
    stripped = text.strip()
    if stripped.startswith("```"):
        stripped = stripped.strip("`").removeprefix("json").strip()
    try:
        value = json.loads(stripped, strict=False)
    except ValueError:
        return []
    raw = value.get("tool_calls") if isinstance(value, dict) else None
    if not isinstance(raw, list) or not raw:
        return []
    calls: list[ToolCall] = []
    for index, item in enumerate(raw):
        if not isinstance(item, dict) or item.get("name") not in names:
            return []
        arguments = item.get("arguments")
        calls.append(
            {
                "id": f"call_{index}",
                "name": str(item["name"]),
                "arguments": arguments if isinstance(arguments, dict) else {},
            }
        )
    return calls


# -- what this process learned ---------------------------------------------------------------------


class CapabilityMemory:
    """Capabilities learned per (base URL, model), in this process, least recently used dropped.

    Every provider of a process shares :data:`KNOWN`, so a refusal learned by one step's call
    serves every later call to the same server and model, in any workspace.
    """

    def __init__(self, limit: int = 512) -> None:
        self.limit = limit
        self._known: OrderedDict[tuple[str, str], Capabilities] = OrderedDict()
        self._lock = threading.Lock()  # Celery threads and event loops share it

    def __len__(self) -> int:
        return len(self._known)

    def get(self, base_url: str, model: str) -> Capabilities | None:
        with self._lock:
            caps = self._known.get((base_url, model))
            if caps is not None:
                self._known.move_to_end((base_url, model))
            return caps

    def learn(
        self,
        base_url: str,
        model: str,
        *,
        structured_output: StructuredOutput | None = None,
        stream_usage: StreamUsage | None = None,
        tools: Tools | None = None,
    ) -> Capabilities:
        """Remember what the server showed; returns the endpoint's capabilities now."""
        with self._lock:
            caps = self._known.get((base_url, model)) or Capabilities()
            if structured_output is not None:
                caps = replace(
                    caps, structured_output=structured_output, structured_output_source="detected"
                )
            if stream_usage is not None:
                caps = replace(caps, stream_usage=stream_usage, stream_usage_source="detected")
            if tools is not None:
                caps = replace(caps, tools=tools, tools_source="detected")
            self._known[(base_url, model)] = caps
            self._known.move_to_end((base_url, model))
            while len(self._known) > self.limit:
                self._known.popitem(last=False)
            return caps

    def forget(self, base_url: str | None = None) -> None:
        """Forget one server (every model of it), or everything."""
        with self._lock:
            if base_url is None:
                self._known.clear()
                return
            for key in [key for key in self._known if key[0] == base_url]:
                del self._known[key]

    def snapshot(self) -> dict[tuple[str, str], Capabilities]:
        with self._lock:
            return dict(self._known)


KNOWN = CapabilityMemory()
