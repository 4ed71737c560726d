"""``worker``: one agent step — a model call with a role and instructions."""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field

from runtime.llm import chat
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.providers.base import ChatMessage
from runtime.retry import RetryPolicy
from runtime.sandbox import compile_template, undeclared_names
from runtime.services import DEFAULT_MODEL


class WorkerConfig(NodeConfig):
    model: str = Field(
        default=DEFAULT_MODEL,
        title="Model",
        description="provider/model, e.g. local/echo or openai/gpt-4o-mini",
        json_schema_extra={"widget": "model"},
    )
    role: str = Field(default="", max_length=200, title="Role", description="Who this agent is")
    instructions: str = Field(
        default="{{ upstream }}",
        max_length=50_000,
        title="Instructions",
        description="What to do; a template over input, nodes.<id>.output and upstream",
        json_schema_extra={"widget": "template"},
    )
    temperature: float | None = Field(default=None, ge=0, le=2, title="Temperature")
    max_tokens: int | None = Field(default=None, ge=1, le=200_000, title="Max output tokens")
    timeout: float = Field(default=120.0, gt=0, le=3600, title="Timeout (s)")
    stream: bool = Field(default=True, title="Stream output")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, title="Retry")


def format_input(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


class WorkerNode(NodeType[WorkerConfig]):
    type = "worker"
    label = "Worker agent"
    category = "ai"
    description = "An agent with a role that makes one model call."
    config_model = WorkerConfig
    has_error_handle = True
    delegatable = True

    def templates(self, config: WorkerConfig) -> dict[str, str]:
        return {"instructions": config.instructions}

    def messages(self, ctx: StepContext, config: WorkerConfig) -> list[ChatMessage]:
        task = compile_template(config.instructions).render(ctx.scope)
        if not undeclared_names(config.instructions) and ctx.input is not None:
            # Instructions that read nothing earlier would leave the agent blind: append the input.
            task = f"{task}\n\nInput:\n{format_input(ctx.input)}"
        messages: list[ChatMessage] = []
        if config.role:
            messages.append({"role": "system", "content": f"You are the {config.role}."})
        messages.append({"role": "user", "content": task})
        return messages

    async def run(self, ctx: StepContext, config: WorkerConfig) -> NodeResult:
        response = await chat(
            ctx,
            config.model,
            self.messages(ctx, config),
            temperature=config.temperature,
            max_tokens=config.max_tokens,
            timeout=config.timeout,
            stream=config.stream,
        )
        return Complete(response.text)
