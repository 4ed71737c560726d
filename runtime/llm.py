"""One LLM call on behalf of a step: resolve the provider, stream, count tokens and cost."""

from __future__ import annotations

from runtime.nodes.base import StepContext
from runtime.providers.base import ChatMessage, ChatRequest, ChatResponse
from runtime.usage import cost_of


async def chat(
    ctx: StepContext,
    model: str | None,
    messages: list[ChatMessage],
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
    stream: bool = True,
) -> ChatResponse:
    provider, vendor_model, full_model = ctx.services.resolve(model)
    request = ChatRequest(
        model=vendor_model,
        messages=messages,
        temperature=temperature,
        max_tokens=max_tokens,
        stream=stream,
        timeout=timeout,
    )
    response = await provider.complete(request, ctx.emit_chunk if stream else None)
    cost = cost_of(ctx.services.price(full_model), response.tokens_in, response.tokens_out)
    ctx.usage.add(full_model, response.tokens_in, response.tokens_out, cost)
    return response
