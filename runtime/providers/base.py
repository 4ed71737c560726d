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


class ChatMessage(TypedDict):
    role: Literal["system", "user", "assistant"]
    content: str


@dataclass(slots=True)
class ChatRequest:
    model: str  # the vendor's model name, without our "provider/" prefix
    messages: list[ChatMessage]
    temperature: float | None = None
    max_tokens: int | None = None
    stream: bool = False
    timeout: float | None = None  # seconds for the whole call; None: the provider's default
    extra: dict[str, Any] = field(default_factory=dict)  # passed through to the vendor body


@dataclass(slots=True)
class ChatResponse:
    text: str
    model: str
    tokens_in: int
    tokens_out: int
    finish_reason: str | None = None


class Provider(Protocol):
    name: str

    async def complete(
        self, request: ChatRequest, on_chunk: ChunkCallback | None = None
    ) -> ChatResponse: ...
