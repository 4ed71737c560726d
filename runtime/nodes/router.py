"""``router``: deterministic branching; the first route whose expression holds is taken."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator

from runtime.errors import ExpressionError
from runtime.graph import ERROR_HANDLE
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.sandbox import compile_expression

ROUTE_NAME = r"^[A-Za-z_][A-Za-z0-9_\-]{0,63}$"


class Route(BaseModel):
    model_config = ConfigDict(extra="forbid")
    name: str = Field(pattern=ROUTE_NAME, title="Branch name")
    when: str = Field(
        min_length=1,
        title="When",
        description=(
            "An expression over input, nodes.<id>.output and upstream, e.g. upstream.score > 3"
        ),
        json_schema_extra={"widget": "expression"},
    )


class RouterConfig(NodeConfig):
    routes: list[Route] = Field(min_length=1, max_length=50, title="Routes")
    default: str | None = Field(
        default="default",
        pattern=ROUTE_NAME,
        title="Default branch",
        description="Taken when no route matches; empty makes no match an error",
    )

    @model_validator(mode="after")
    def _names_are_unique(self) -> RouterConfig:
        names = [route.name for route in self.routes]
        if self.default:
            names.append(self.default)
        duplicates = sorted({name for name in names if names.count(name) > 1})
        if duplicates:
            raise ValueError(f"branch names must be unique: {', '.join(duplicates)}")
        if ERROR_HANDLE in names:
            raise ValueError(f"'{ERROR_HANDLE}' is reserved for failures")
        return self


class RouterNode(NodeType[RouterConfig]):
    type = "router"
    label = "Router"
    category = "logic"
    description = "Chooses one branch by expressions over earlier results (no model call)."
    config_model = RouterConfig
    pure = True

    def outputs(self, config: RouterConfig) -> list[str]:
        handles = [route.name for route in config.routes or []]
        if config.default:
            handles.append(config.default)
        return handles

    def expressions(self, config: RouterConfig) -> dict[str, str]:
        return {f"routes[{i}].when": route.when for i, route in enumerate(config.routes)}

    def _static_outputs(self) -> list[str]:
        return ["default"]

    def _dynamic_outputs_field(self) -> str | None:
        return "routes"

    async def run(self, ctx: StepContext, config: RouterConfig) -> NodeResult:
        for route in config.routes:
            if compile_expression(route.when).evaluate(ctx.scope):
                return Complete(ctx.input, branch=route.name)
        if config.default:
            return Complete(ctx.input, branch=config.default)
        raise ExpressionError("no route matched and the router has no default branch")
