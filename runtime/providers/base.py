"""The one interface every LLM provider implements.

A provider turns a :class:`ChatRequest` into a :class:`ChatResponse`, streaming text chunks to
``on_chunk`` as they arrive, and raises only :mod:`runtime.errors` provider errors. Providers take
an injected ``httpx.AsyncClient`` so tests hand them a client bound to a loopback server instead of
patching anything.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal, Protocol, TypedDict

ChunkCallback = Callable[[str], None]


class ToolCall(TypedDict):
    id: str  # the vendor's id for the call; echoed back in the tool's result message
    name: str
    arguments: dict[str, Any]  # already parsed from the vendor's JSON


class ChatMessage(TypedDict, total=False):
    """One message. ``role`` and ``content`` always; the rest only where the role needs them.

    - an assistant turn that called tools carries ``tool_calls``;
    - a ``tool`` message answers one call: ``tool_call_id`` and ``name`` name it, ``content`` is
      the tool's result as text.
    Providers translate this one shape to their vendor's (OpenAI tool messages, Anthropic
    tool_use / tool_result content blocks).
    """

    role: Literal["system", "user", "assistant", "tool"]
    content: str
    tool_calls: list[ToolCall]
    tool_call_id: str
    name: str


@dataclass(frozen=True, slots=True)
class ToolSpec:
    """A tool the model may call: its name, what it does, and a JSON Schema of its arguments."""

    name: str
    description: str
    parameters: dict[str, Any]


@dataclass(slots=True)
class ChatRequest:
    model: str  # the vendor's model name, without our "provider/" prefix
    messages: list[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    timeout: float | None = None  # seconds for the whole call; None: the provider's default
    tools: list[ToolSpec] = field(default_factory=list)
    # Structured output: the answer must be JSON matching this schema. Providers ask for it the
    # vendor's way (OpenAI response_format json_schema; Anthropic a forced tool); the caller
    # still validates, since not every endpoint enforces it.
    response_schema: dict[str, Any] | None = None
    # The model catalogue's capability settings for this model (None: the provider's setting,
    # else what it learned of the server): "json_schema" | "json_object" | "instructions", and
    # "reported" | "counted", and "native" | "prompted" (tools). See
    # runtime.providers.capabilities.
    structured_output: str | None = None
    stream_usage: str | None = None
    tools_mode: str | None = None
    extra: dict[str, Any] = field(default_factory=dict)  # passed through to the vendor body


@dataclass(slots=True)
class ChatResponse:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None = None  # normalised: "stop", "length", "tool_calls", …
    tool_calls: list[ToolCall] = field(default_factory=list)
    # How a response_schema was asked for ("json_schema", "json_object", "instructions"; None:
    # no schema, or a vendor with its own way), and whether the tokens were estimated because
    # the server reported none.
    structured_output: str | None = None
    tokens_estimated: bool = False


class Provider(Protocol):
    name: str

    async def complete(
        self, request: ChatRequest, on_chunk: ChunkCallback | None = None
    ) -> ChatResponse: ...
