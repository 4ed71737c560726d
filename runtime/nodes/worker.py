"""``worker``: one agent step — a role, a goal and instructions; tools, structured output, model
tiers and fallbacks.

The agent answers in one model call, or in a bounded loop of calls when it has tools: the model
asks for tool calls, the tools run (an unknown tool or bad arguments become an error message the
model reads), the results go back, and so on until it answers in text or runs out of calls.
With ``output_format: json`` the answer must parse (and match ``output_schema``); an invalid
answer is shown its validation error and re-asked up to ``max_repairs`` times. A tiered model
(``fast``) escalates to the next tier (``strong``) when its answer still fails or its calls do.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, Literal, TypeVar, cast

import jsonschema
from pydantic import AfterValidator, Field, field_validator, model_validator

from runtime.errors import OutputSchemaError, PermanentError, StepError
from runtime.llm import (
    FALLBACK_ERRORS,
    Answer,
    chat_with_fallback,
    check_json,
    choose_model,
    json_instruction,
    repair_message,
)
from runtime.model_tiers import TIER_NAMES
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.providers.base import ChatMessage
from runtime.retry import RetryPolicy
from runtime.sandbox import compile_template, undeclared_names
from runtime.services import DEFAULT_MODEL, routing_policy
from runtime.tools import default_tools, tool_registry
from runtime.tools.refs import REF_PATTERN, parse_ref
from runtime.tools.toolbox import Toolbox, ToolLimits

T = TypeVar("T")

MODEL_DESCRIPTION = (
    "provider/model (e.g. local/echo, openai/gpt-4o-mini) or a tier: fast or strong "
    "(the deployment maps tiers to models; near the run's budget, strong runs as fast)"
)


def _model_ref(value: str) -> str:
    value = value.strip()
    if value in TIER_NAMES:
        return value
    prefix, sep, name = value.partition("/")
    if not (prefix and sep and name) or any(ch.isspace() for ch in value):
        tiers = " or ".join(TIER_NAMES)
        raise ValueError(f"{value!r} is neither 'provider/model' nor a tier ({tiers})")
    return value


ModelRef = Annotated[str, AfterValidator(_model_ref)]


def check_json_schema(value: dict[str, Any] | None) -> dict[str, Any] | None:
    if value is not None:
        try:
            jsonschema.Draft202012Validator.check_schema(value)
        except jsonschema.SchemaError as exc:
            raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
    return value


def model_field(default: str) -> Any:
    return Field(
        default=default,
        title="Model",
        description=MODEL_DESCRIPTION,
        json_schema_extra={"widget": "model", "examples": [*TIER_NAMES, DEFAULT_MODEL]},
    )


# A credential's name, as the credentials API allows it (a slug); "" means none.
CREDENTIAL_NAME = r"^[-a-zA-Z0-9_]{0,64}$"


def credential_field() -> Any:
    return Field(
        default="",
        pattern=CREDENTIAL_NAME,
        title="Credential",
        description="A workspace credential (openai or anthropic key) for the model calls; "
        "empty: the workspace's only key for the model's provider, else the server's",
        # The canvas offers the workspace's credentials of these kinds for this format.
        json_schema_extra={"format": "credential", "credential_kinds": ["openai", "anthropic"]},
    )


def fallback_field() -> Any:
    return Field(
        default_factory=list,
        max_length=5,
        title="Fallback models",
        description="Tried in order when the model is down, rate limited, too slow or refuses "
        "the key",
        json_schema_extra={"widget": "models"},
    )


class WorkerConfig(NodeConfig):
    model: ModelRef = model_field(DEFAULT_MODEL)
    fallback_models: list[ModelRef] = fallback_field()
    credential: str = credential_field()
    role: str = Field(default="", max_length=200, title="Role", description="Who this agent is")
    goal: str = Field(
        default="",
        max_length=2_000,
        title="Goal",
        description="What this agent is for; a manager reads it when choosing whom to ask",
    )
    instructions: str = Field(
        default="{{ upstream }}",
        max_length=50_000,
        title="Instructions",
        description="What to do; a template over input, nodes.<id>.output and upstream",
        json_schema_extra={"widget": "template"},
    )
    tools: list[str] = Field(
        default_factory=list,
        max_length=50,
        title="Tools",
        description="Tools the agent may call: built-ins by name, mcp:<server>/<tool> "
        "(mcp:<server>/* for all of a server's), http:<name> and workflow:<id>",
        json_schema_extra={
            "widget": "tools",
            "items": {"type": "string", "pattern": REF_PATTERN},
            "uniqueItems": True,
            # The picker lists these beside the workspace's servers, HTTP tools and workflows.
            "builtin_tools": cast(Any, default_tools.catalogue()),
        },
    )
    max_tool_calls: int = Field(
        default=5, ge=1, le=50, title="Max tool calls", description="Tool calls in one step"
    )
    tool_timeout: float = Field(
        default=30.0,
        gt=0,
        le=600,
        title="Tool time limit (s)",
        description="How long one tool call may take; past it the model gets an error result",
    )
    max_tool_result_chars: int = Field(
        default=20_000,
        ge=100,
        le=200_000,
        title="Tool result limit (characters)",
        description="A longer result is not handed over: the model gets an error result asking "
        "for less",
    )
    output_format: Literal["text", "json"] = Field(
        default="text", title="Output format", description="json: the answer must be JSON"
    )
    output_schema: dict[str, Any] | None = Field(
        default=None,
        title="Output schema",
        description="JSON Schema the answer must match (with output format json)",
        json_schema_extra={"widget": "json-schema"},
    )
    max_repairs: int = Field(
        default=2,
        ge=0,
        le=5,
        title="Repairs",
        description="Times an answer that fails its schema is sent back with the error",
    )
    escalate: bool = Field(
        default=True,
        title="Escalate tier",
        description="With a tier model: when the answer fails its schema or the calls fail, "
        "try once more on the next tier (fast → strong)",
    )
    temperature: float | None = Field(default=None, ge=0, le=2, title="Temperature")
    max_tokens: int | None = Field(default=None, ge=1, le=200_000, title="Max output tokens")
    timeout: float = Field(default=120.0, gt=0, le=3600, title="Timeout (s)")
    stream: bool = Field(default=True, title="Stream output")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, title="Retry")

    @field_validator("output_schema")
    @classmethod
    def _is_a_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_json_schema(value)

    @field_validator("tools")
    @classmethod
    def _known_tools(cls, value: list[str]) -> list[str]:
        unknown = []
        for text in value:
            ref = parse_ref(text)  # ToolRefError (a ValueError) says how to write one
            if ref.kind == "builtin" and ref.name not in default_tools:
                unknown.append(ref.name)
        if unknown:
            have = ", ".join(default_tools.names())
            raise ValueError(f"unknown tool(s) {', '.join(unknown)} (built-in tools: {have})")
        if len(set(value)) != len(value):
            raise ValueError("a tool is listed twice")
        return value

    @model_validator(mode="after")
    def _schema_needs_json(self) -> WorkerConfig:
        if self.output_schema is not None and self.output_format != "json":
            raise ValueError("output_schema needs output_format 'json'")
        return self


def format_input(value: Any) -> str:
    if isinstance(value, str):
        return value
    return json.dumps(value, ensure_ascii=False, indent=2, default=str)


def render_task(ctx: StepContext, instructions: str) -> str:
    """The instructions rendered; with the input appended when they read nothing earlier."""
    task = compile_template(instructions).render(ctx.scope)
    if not undeclared_names(instructions) and ctx.input is not None:
        # Instructions that read nothing earlier would leave the agent blind: append the input.
        task = f"{task}\n\nInput:\n{format_input(ctx.input)}"
    return task


# Failures a stronger tier may not have: an answer that fails its schema, a chain of models
# that are all down, slow, rate limited or refusing the key.
ESCALATE_ON: tuple[type[StepError], ...] = (OutputSchemaError, *FALLBACK_ERRORS)


async def escalating(
    ctx: StepContext, model: str, enabled: bool, attempt: Callable[[str], Awaitable[T]]
) -> tuple[T, str]:
    """Run ``attempt(model)``; when it fails in a way a stronger model may not, and ``model`` is
    a tier with a stronger one above it, run ``attempt`` again on that tier. Returns (result,
    tier or model used)."""
    policy = routing_policy(ctx.services)
    current = model
    while True:
        try:
            return await attempt(current), current
        except ESCALATE_ON:
            stronger = policy.stronger(current) if enabled and policy.is_tier(current) else None
            # Near the budget a stronger tier resolves to the cheap model: no point in repeating.
            if stronger is None or choose_model(ctx, stronger) == choose_model(ctx, current):
                raise
            current = stronger


class WorkerNode(NodeType[WorkerConfig]):
    type = "worker"
    label = "Worker agent"
    category = "ai"
    description = (
        "An agent with a role and a goal: answers in text or schema-checked JSON, may call tools."
    )
    config_model = WorkerConfig
    has_error_handle = True
    delegatable = True

    def templates(self, config: WorkerConfig) -> dict[str, str]:
        return {"instructions": config.instructions}

    def system_prompt(self, config: WorkerConfig) -> str:
        parts = []
        if config.role:
            parts.append(f"You are the {config.role}.")
        if config.goal:
            parts.append(f"Your goal: {config.goal}")
        if config.output_format == "json":
            parts.append(json_instruction(config.output_schema))
        return "\n".join(parts)

    def messages(self, ctx: StepContext, config: WorkerConfig) -> list[ChatMessage]:
        messages: list[ChatMessage] = []
        system = self.system_prompt(config)
        if system:
            messages.append({"role": "system", "content": system})
        messages.append({"role": "user", "content": render_task(ctx, config.instructions)})
        return messages

    async def run(self, ctx: StepContext, config: WorkerConfig) -> NodeResult:
        limits = ToolLimits(
            config.max_tool_calls, config.tool_timeout, config.max_tool_result_chars
        )
        # One toolbox for the step: its MCP sessions serve every attempt and tier, and close
        # with the step however it ends.
        async with Toolbox(ctx, config.tools, limits, tool_registry(ctx.services)) as toolbox:

            async def attempt(model: str) -> Any:
                return await self.solve(ctx, config, [model, *config.fallback_models], toolbox)

            output, _ = await escalating(ctx, config.model, config.escalate, attempt)
        return Complete(output)

    async def solve(
        self, ctx: StepContext, config: WorkerConfig, models: list[str], toolbox: Toolbox
    ) -> Any:
        """One go at the task on a chain of models: tool calls, then the output checks."""
        schema = config.output_schema
        options: dict[str, Any] = {
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "timeout": config.timeout,
            # JSON is checked before it counts; streaming it would show drafts that may be wrong.
            "stream": config.stream and config.output_format == "text",
            "tools": toolbox.specs,
            "credential": config.credential or None,
        }
        if config.output_format == "json":
            options["response_schema"] = schema
        messages = self.messages(ctx, config)
        tools = _ToolLoop(ctx, config, models, messages, options, toolbox)
        answer = await tools.finish(await chat_with_fallback(ctx, models, messages, **options))
        if config.output_format == "text":
            return answer.text
        repairs = 0
        while True:
            value, problem = check_json(answer.text, schema)
            if problem is None:
                return value
            if repairs == config.max_repairs:
                tail = f" after {repairs} repair(s)" if repairs else ""
                raise OutputSchemaError(
                    f"the output of {ctx.node.id!r} is not valid{tail}: {problem}"
                )
            repairs += 1
            messages.append({"role": "assistant", "content": answer.text})
            messages.append({"role": "user", "content": repair_message(problem, schema)})
            answer = await tools.finish(await chat_with_fallback(ctx, models, messages, **options))


class _ToolLoop:
    """The tool calls of one worker step: run what the model asks for and call it again, until
    it answers in text. The limit counts every call of the step, repairs included."""

    def __init__(
        self,
        ctx: StepContext,
        config: WorkerConfig,
        models: list[str],
        messages: list[ChatMessage],
        options: dict[str, Any],
        toolbox: Toolbox,
    ) -> None:
        self.ctx = ctx
        self.config = config
        self.models = models
        self.messages = messages
        self.options = options
        self.toolbox = toolbox
        self.made = 0

    async def finish(self, answer: Answer) -> Answer:
        limit = self.config.max_tool_calls
        told_to_stop = False
        while answer.response.tool_calls:
            if told_to_stop:
                raise PermanentError(
                    f"the agent kept calling tools after its limit of {limit} tool calls"
                )
            calls = list(answer.response.tool_calls)
            self.messages.append({"role": "assistant", "content": answer.text, "tool_calls": calls})
            for call in calls:
                if self.made < limit:
                    content = await self.toolbox.call(call["id"], call["name"], call["arguments"])
                else:
                    content = f"Error: not run: the limit of {limit} tool calls is reached"
                self.made += 1
                self.messages.append(
                    {
                        "role": "tool",
                        "tool_call_id": call["id"],
                        "name": call["name"],
                        "content": content,
                    }
                )
            if self.made >= limit:
                # Said in the last tool message: a user turn here would break some vendors'
                # strict pairing of tool calls and tool results.
                told_to_stop = True
                self.messages[-1]["content"] += (
                    f"\n\n[No tool calls are left (limit {limit}). Answer now without tools.]"
                )
            answer = await chat_with_fallback(self.ctx, self.models, self.messages, **self.options)
        return answer
