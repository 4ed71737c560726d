"""``manager``: an agent that plans, delegates to the agents wired to it, reads their results and
decides again — for up to ``max_rounds`` rounds — then answers.

Each round is one step run: the model is asked for a plan as structured output (which delegate
gets which task, or done with a final answer). The plan's subtasks become a
:class:`~runtime.nodes.base.Delegate`; every task runs as a child step, and the manager runs
again with their results in ``ctx.resume``. The conversation so far travels in ``Delegate.state``
as plain JSON, since the Celery side stores it between rounds. Managers are delegatable too, so a
manager may lead other managers (a hierarchy).
"""

from __future__ import annotations

import json
from typing import Any

from pydantic import Field, field_validator

from runtime.errors import PermanentError
from runtime.llm import chat_json, chat_with_fallback, json_instruction, repair_json
from runtime.model_tiers import STRONG
from runtime.nodes.base import (
    Complete,
    Delegate,
    DelegateTask,
    NodeConfig,
    NodeResult,
    NodeType,
    StepContext,
    TaskResult,
)
from runtime.nodes.worker import (
    ModelRef,
    check_json_schema,
    credential_field,
    fallback_field,
    format_input,
    model_field,
    render_task,
)
from runtime.providers.base import ChatMessage
from runtime.retry import RetryPolicy

MAX_RESULT_CHARS = 4_000  # of one delegate's result, in the manager's conversation and state
RESULTS_PREFIX = "Results of round"


class ManagerConfig(NodeConfig):
    model: ModelRef = model_field(STRONG)
    fallback_models: list[ModelRef] = fallback_field()
    credential: str = credential_field()
    role: str = Field(default="Manager", max_length=200, title="Role")
    goal: str = Field(
        default="",
        max_length=2_000,
        title="Goal",
        description="What the team is for; a manager above this one reads it too",
    )
    instructions: str = Field(
        default="{{ upstream }}",
        max_length=50_000,
        title="Instructions",
        description="The task for the team; a template over input, nodes.<id>.output and upstream",
        json_schema_extra={"widget": "template"},
    )
    max_rounds: int = Field(
        default=3, ge=1, le=10, title="Max rounds", description="Rounds of delegation at most"
    )
    max_subtasks: int = Field(
        default=5, ge=1, le=20, title="Max subtasks", description="Tasks handed out in one round"
    )
    output_schema: dict[str, Any] | None = Field(
        default=None,
        title="Output schema",
        description="JSON Schema of the final answer (empty: the answer is text)",
        json_schema_extra={"widget": "json-schema"},
    )
    max_repairs: int = Field(default=1, ge=0, le=5, title="Repairs")
    temperature: float | None = Field(default=None, ge=0, le=2, title="Temperature")
    max_tokens: int | None = Field(default=None, ge=1, le=200_000, title="Max output tokens")
    timeout: float = Field(default=300.0, gt=0, le=3600, title="Timeout (s) of one round")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, title="Retry")

    @field_validator("output_schema")
    @classmethod
    def _is_a_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        return check_json_schema(value)


def plan_schema(workers: list[str], max_subtasks: int) -> dict[str, Any]:
    """The structured output asked of the manager each round."""
    return {
        "type": "object",
        "properties": {
            "subtasks": {
                "type": "array",
                "maxItems": max_subtasks,
                "items": {
                    "type": "object",
                    "properties": {
                        "worker": {"enum": workers},
                        "task": {"type": "string"},
                    },
                    "required": ["worker", "task"],
                },
            },
            "done": {"type": "boolean"},
            "final_answer": {"type": "string"},
        },
        "required": ["subtasks", "done"],
    }


def _result_text(result: TaskResult) -> str:
    if result.status != "succeeded":
        error = result.error or {}
        return f"FAILED: {error.get('message') or error.get('code') or 'no result'}"
    text = format_input(result.output) if result.output is not None else ""
    if len(text) > MAX_RESULT_CHARS:
        text = text[:MAX_RESULT_CHARS] + f"… [cut at {MAX_RESULT_CHARS} characters]"
    return text


def results_message(round_: int, tasks: list[dict[str, Any]], results: list[dict[str, Any]]) -> str:
    lines = [f"{RESULTS_PREFIX} {round_}:"]
    for index, result in enumerate(results):
        task = tasks[index]["task"] if index < len(tasks) else ""
        mark = "" if result["status"] == "succeeded" else " [FAILED]"
        lines.append(f"\n## {result['worker']}{mark} (task: {task})\n{result['text']}")
    return "\n".join(lines)


class ManagerNode(NodeType[ManagerConfig]):
    type = "manager"
    label = "Manager agent"
    category = "ai"
    description = (
        "Plans, hands tasks to the agents wired to it by delegate edges, reads their results and "
        "decides again, then answers."
    )
    config_model = ManagerConfig
    has_error_handle = True
    can_delegate = True
    delegatable = True

    def templates(self, config: ManagerConfig) -> dict[str, str]:
        return {"instructions": config.instructions}

    # -- the conversation ---------------------------------------------------------------------

    def team(self, ctx: StepContext) -> list[dict[str, Any]]:
        info = {entry.get("id"): entry for entry in ctx.delegate_info}
        return [info.get(node_id) or {"id": node_id} for node_id in ctx.delegates]

    def system_prompt(self, ctx: StepContext, config: ManagerConfig) -> str:
        lines = [f"You are the {config.role}." if config.role else "You are a manager."]
        if config.goal:
            lines.append(f"Your goal: {config.goal}")
        lines.append(
            "You lead a team. You never do the work yourself: you split the task into subtasks, "
            "give each to the team member best suited, read their results, and decide whether "
            "more work is needed or the final answer can be written."
        )
        lines.append("Your team (use exactly these ids as worker):")
        for member in self.team(ctx):
            details = [member.get("label") or member["id"]]
            details += [member[key] for key in ("role", "goal") if member.get(key)]
            lines.append(f"- {member['id']}: {'; '.join(details)}")
        lines.append(
            f"Each round, answer with a plan: at most {config.max_subtasks} subtasks, each a "
            "worker id and a self-contained task (the worker sees nothing else). When the "
            "results are enough, answer done: true with the final answer in final_answer. You "
            f"have at most {config.max_rounds} rounds."
        )
        return "\n".join(lines)

    def conversation(
        self, ctx: StepContext, config: ManagerConfig, history: list[dict[str, Any]]
    ) -> list[ChatMessage]:
        messages: list[ChatMessage] = [
            {"role": "system", "content": self.system_prompt(ctx, config)},
            {"role": "user", "content": render_task(ctx, config.instructions)},
        ]
        for entry in history:
            plan = {"subtasks": entry["tasks"], "done": False}
            messages.append({"role": "assistant", "content": json.dumps(plan, ensure_ascii=False)})
            if "results" in entry:
                messages.append(
                    {
                        "role": "user",
                        "content": results_message(
                            entry["round"], entry["tasks"], entry["results"]
                        ),
                    }
                )
        return messages

    # -- a round ------------------------------------------------------------------------------

    async def run(self, ctx: StepContext, config: ManagerConfig) -> NodeResult:
        if not ctx.delegates:
            raise PermanentError(
                "a manager needs delegate edges to the agents it may hand tasks to"
            )
        state = ctx.state if isinstance(ctx.state, dict) else {}
        history: list[dict[str, Any]] = [dict(entry) for entry in state.get("history", [])]
        if ctx.resume is not None and history:
            results: list[TaskResult] = list(ctx.resume)
            history[-1]["results"] = [
                {
                    "worker": r.node_id,
                    "step": r.step_id,
                    "status": r.status,
                    "text": _result_text(r),
                }
                for r in results
            ]
        models = [config.model, *config.fallback_models]
        options: dict[str, Any] = {
            "temperature": config.temperature,
            "max_tokens": config.max_tokens,
            "timeout": config.timeout,
            "stream": False,
            "credential": config.credential or None,
        }
        messages = self.conversation(ctx, config, history)
        finished_round = len(history)
        if finished_round >= config.max_rounds:
            return Complete(await self.synthesize(ctx, config, models, messages, options))
        if finished_round:
            messages[-1]["content"] += (
                "\n\nGive the next plan, or done: true with the final answer "
                f"(round {finished_round + 1} of at most {config.max_rounds})."
            )
        schema = plan_schema(list(ctx.delegates), config.max_subtasks)
        plan, _ = await chat_json(
            ctx,
            models,
            messages,
            schema,
            max_repairs=1,
            what=f"plan of manager {ctx.node.id!r}",
            **options,
        )
        subtasks = [{"worker": task["worker"], "task": task["task"]} for task in plan["subtasks"]]
        if plan["done"] or not subtasks:
            final = plan.get("final_answer")
            if config.output_schema is None and isinstance(final, str) and final.strip():
                return Complete(final)
            messages.append({"role": "assistant", "content": json.dumps(plan, ensure_ascii=False)})
            return Complete(await self.synthesize(ctx, config, models, messages, options))
        history.append({"round": finished_round + 1, "tasks": subtasks})
        tasks = [DelegateTask(task["worker"], task["task"]) for task in subtasks]
        return Delegate(tasks, state={"round": finished_round + 1, "history": history})

    async def synthesize(
        self,
        ctx: StepContext,
        config: ManagerConfig,
        models: list[str],
        messages: list[ChatMessage],
        options: dict[str, Any],
    ) -> Any:
        """The final answer from everything so far, in one more call (plain, or JSON)."""
        ask = "Write the final answer to the task now, from the results above."
        if config.output_schema is not None:
            ask += "\n" + json_instruction(config.output_schema)
        if messages[-1]["role"] == "user":
            messages[-1]["content"] += "\n\n" + ask
        else:
            messages.append({"role": "user", "content": ask})
        if config.output_schema is None:
            answer = await chat_with_fallback(ctx, models, messages, **options)
            return answer.text
        answer = await chat_with_fallback(
            ctx, models, messages, response_schema=config.output_schema, **options
        )
        value, _ = await repair_json(
            ctx,
            models,
            messages,
            answer,
            config.output_schema,
            max_repairs=config.max_repairs,
            what=f"final answer of manager {ctx.node.id!r}",
            **options,
        )
        return value
