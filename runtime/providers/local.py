"""The offline ``local`` provider: deterministic text, no network, no key, and not an AI.

It lets every example and test run with nothing installed. Its answers say plainly that they
come from an offline stand-in, so nobody mistakes them for a model's work.
"""

from __future__ import annotations

import asyncio
import hashlib

from runtime.providers.base import ChatRequest, ChatResponse, ChunkCallback

LABEL = "[local model: offline stand-in, not an AI]"


def estimate_tokens(text: str) -> int:
    # The common rule of thumb for English text: about four characters a token.
    return max(1, (len(text) + 3) // 4) if text else 0


class LocalProvider:
    name = "local"

    def __init__(self, chunk_delay: float = 0.0) -> None:
        # A small delay between chunks makes streaming visible in demos; tests keep it at 0.
        self.chunk_delay = chunk_delay

    async def complete(
        self, request: ChatRequest, on_chunk: ChunkCallback | None = None
    ) -> ChatResponse:
        text = self._answer(request)
        if on_chunk is not None:
            words = text.split(" ")
            for index, word in enumerate(words):
                on_chunk(word if index == len(words) - 1 else word + " ")
                if self.chunk_delay:
                    await asyncio.sleep(self.chunk_delay)
        prompt = "\n".join(message["content"] for message in request.messages)
        return ChatResponse(
            text=text,
            model=f"local/{request.model}",
            tokens_in=estimate_tokens(prompt),
            tokens_out=estimate_tokens(text),
            finish_reason="stop",
        )

    def _answer(self, request: ChatRequest) -> str:
        system = next((m["content"] for m in request.messages if m["role"] == "system"), "")
        user = next((m["content"] for m in reversed(request.messages) if m["role"] == "user"), "")
        digest = hashlib.sha256((system + "\n" + user).encode()).hexdigest()[:8]
        role = system.splitlines()[0][:80] if system else "assistant"
        task = " ".join(user.split())
        if len(task) > 400:
            task = task[:400] + "…"
        return f"{LABEL} {role} (#{digest}) answering: {task}"
