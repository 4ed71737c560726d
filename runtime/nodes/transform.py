"""``transform``: a deterministic step that renders a sandboxed template over earlier results."""

from __future__ import annotations

import json

from pydantic import Field

from runtime.errors import TemplateError
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.sandbox import compile_template


class TransformConfig(NodeConfig):
    template: str = Field(
        min_length=1,
        title="Template",
        description="Text with {{ … }} over input, nodes.<id>.output and upstream",
        json_schema_extra={"widget": "template"},
    )
    parse_json: bool = Field(
        default=False,
        title="Parse as JSON",
        description="Treat the rendered text as JSON and pass on the value",
    )


class TransformNode(NodeType[TransformConfig]):
    type = "transform"
    label = "Transform"
    category = "logic"
    description = "Renders a template over earlier results (no model call)."
    config_model = TransformConfig
    pure = True

    def templates(self, config: TransformConfig) -> dict[str, str]:
        return {"template": config.template}

    async def run(self, ctx: StepContext, config: TransformConfig) -> NodeResult:
        text = compile_template(config.template).render(ctx.scope)
        if not config.parse_json:
            return Complete(text)
        try:
            return Complete(json.loads(text))
        except json.JSONDecodeError as exc:
            raise TemplateError(f"rendered text is not JSON: {exc.msg} at char {exc.pos}") from None
