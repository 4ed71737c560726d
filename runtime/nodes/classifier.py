"""``classifier``: a router whose choice is made by a model.

The model reads the input and the categories (name and description) and answers structured
output ``{"category": <one of the names>}``; the node passes its input on unchanged along the
handle of that name. An answer that names no category takes the ``default`` branch, or fails the
step when there is none.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.errors import OutputSchemaError
from runtime.graph import ERROR_HANDLE
from runtime.llm import chat_with_fallback, check_json, json_instruction
from runtime.model_tiers import FAST
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.nodes.router import ROUTE_NAME
from runtime.nodes.worker import (
    ModelRef,
    credential_field,
    fallback_field,
    model_field,
    render_task,
)
from runtime.providers.base import ChatMessage
from runtime.retry import RetryPolicy


class Category(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=ROUTE_NAME, title="Branch name")
    description: str = Field(
        default="", max_length=2_000, title="Description", description="When this one applies"
    )


class ClassifierConfig(NodeConfig):
    model: ModelRef = model_field(FAST)
    fallback_models: list[ModelRef] = fallback_field()
    credential: str = credential_field()
    instructions: str = Field(
        default="{{ upstream }}",
        max_length=50_000,
        title="Instructions",
        description="What to classify and how; a template over input, nodes.<id>.output and "
        "upstream",
        json_schema_extra={"widget": "template"},
    )
    categories: list[Category] = Field(min_length=1, max_length=50, title="Categories")
    default: str | None = Field(
        default="default",
        pattern=ROUTE_NAME,
        title="Default branch",
        description="Taken when the model names no category; empty makes that an error",
    )
    temperature: float | None = Field(default=0.0, ge=0, le=2, title="Temperature")
    timeout: float = Field(default=60.0, gt=0, le=3600, title="Timeout (s)")
    retry: RetryPolicy = Field(default_factory=RetryPolicy, title="Retry")

    @model_validator(mode="after")
    def _names_are_unique(self) -> ClassifierConfig:
        names = [category.name for category in self.categories]
        if self.default:
            names.append(self.default)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"branch names must be unique: {', '.join(duplicates)}")
        if ERROR_HANDLE in names:
            raise ValueError(f"'{ERROR_HANDLE}' is reserved for failures")
        return self


def category_schema(names: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {"category": {"enum": names}},
        "required": ["category"],
    }


class ClassifierNode(NodeType[ClassifierConfig]):
    type = "classifier"
    label = "Classifier"
    category = "ai"
    description = "A model reads the input and picks one branch by its categories."
    config_model = ClassifierConfig
    has_error_handle = True

    def outputs(self, config: ClassifierConfig) -> list[str]:
        handles = [category.name for category in config.categories or []]
        if config.default:
            handles.append(config.default)
        handles.append(ERROR_HANDLE)
        return handles

    def templates(self, config: ClassifierConfig) -> dict[str, str]:
        return {"instructions": config.instructions}

    def _static_outputs(self) -> list[str]:
        return ["default", ERROR_HANDLE]

    def _dynamic_outputs_field(self) -> str | None:
        return "categories"

    def messages(self, ctx: StepContext, config: ClassifierConfig) -> list[ChatMessage]:
        names = [category.name for category in config.categories]
        lines = ["You are a classifier. Choose the one category that fits the input best:"]
        for category in config.categories:
            lines.append(
                f"- {category.name}: {category.description}"
                if category.description
                else f"- {category.name}"
            )
        lines.append(json_instruction(category_schema(names)))
        return [
            {"role": "system", "content": "\n".join(lines)},
            {"role": "user", "content": render_task(ctx, config.instructions)},
        ]

    async def run(self, ctx: StepContext, config: ClassifierConfig) -> NodeResult:
        names = [category.name for category in config.categories]
        schema = category_schema(names)
        answer = await chat_with_fallback(
            ctx,
            [config.model, *config.fallback_models],
            self.messages(ctx, config),
            response_schema=schema,
            temperature=config.temperature,
            timeout=config.timeout,
            stream=False,
            credential=config.credential or None,
        )
        value, problem = check_json(answer.text, schema)
        if problem is None:
            return Complete(ctx.input, branch=value["category"])
        # A bare category name is a clear enough answer, whatever the format.
        bare = answer.text.strip().strip("\"'`.").strip()
        for name in names:
            if bare.casefold() == name.casefold():
                return Complete(ctx.input, branch=name)
        if config.default:
            return Complete(ctx.input, branch=config.default)
        raise OutputSchemaError(
            f"the classifier's answer names no category ({problem}) and there is no default"
        )
