"""Where data enters and leaves a flow: the ``input`` and ``output`` node types."""

from __future__ import annotations

from typing import Any

import jsonschema
from pydantic import Field, field_validator

from runtime.errors import PermanentError
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.sandbox import compile_template


class InputConfig(NodeConfig):
    fields: dict[str, Any] | None = Field(
        default=None,
        title="Input fields",
        description="JSON Schema of the run input; the run dialog asks for these fields",
        json_schema_extra={"widget": "json-schema"},
    )

    @field_validator("fields")
    @classmethod
    def _is_a_schema(cls, value: dict[str, Any] | None) -> dict[str, Any] | None:
        if value is not None:
            try:
                jsonschema.Draft202012Validator.check_schema(value)
            except jsonschema.SchemaError as exc:
                raise ValueError(f"not a valid JSON Schema: {exc.message}") from None
        return value


def with_defaults(run_input: Any, fields: dict[str, Any] | None) -> Any:
    """The run input with the top-level defaults of ``fields`` filled in where a key is missing,
    as a form would pre-fill them."""
    properties = (fields or {}).get("properties")
    if not isinstance(run_input, dict) or not isinstance(properties, dict):
        return run_input
    filled = dict(run_input)
    for name, spec in properties.items():
        if name not in filled and isinstance(spec, dict) and "default" in spec:
            filled[name] = spec["default"]
    return filled


class InputNode(NodeType[InputConfig]):
    type = "input"
    label = "Input"
    category = "io"
    description = "Starts the flow with the run's input."
    config_model = InputConfig
    inputs = ()
    pure = True

    async def run(self, ctx: StepContext, config: InputConfig) -> NodeResult:
        # Executors fill defaults in first (runtime.run_input.prepare_input).
        run_input = ctx.scope["input"]
        if config.fields is not None:
            errors = sorted(
                jsonschema.Draft202012Validator(config.fields).iter_errors(run_input),
                key=lambda e: list(e.path),
            )
            if errors:
                details = "; ".join(
                    f"{'/'.join(map(str, e.path)) or '(input)'}: {e.message}" for e in errors[:10]
                )
                raise PermanentError(f"run input does not match the input fields: {details}")
        return Complete(run_input)


class OutputConfig(NodeConfig):
    value: str | None = Field(
        default=None,
        title="Value",
        description="A template for the run's output; empty passes the upstream output through",
        json_schema_extra={"widget": "template"},
    )


class OutputNode(NodeType[OutputConfig]):
    type = "output"
    label = "Output"
    category = "io"
    description = "Ends the flow; its value is the run's output."
    config_model = OutputConfig
    pure = True

    def outputs(self, config: OutputConfig) -> list[str]:
        return []

    def templates(self, config: OutputConfig) -> dict[str, str]:
        return {"value": config.value} if config.value else {}

    async def run(self, ctx: StepContext, config: OutputConfig) -> NodeResult:
        if config.value:
            return Complete(compile_template(config.value).render(ctx.scope))
        return Complete(ctx.input)
