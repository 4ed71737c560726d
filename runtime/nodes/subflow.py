"""``subflow``: run another workflow and pass on its output (n8n's "Execute Workflow").

The step loads the flow from ``Services.flows`` (the app: a workflow of the run's workspace).
Where sub-flows run as steps (the server: ``Services.subflows`` is
:class:`~runtime.services.SubflowsAsSteps`) the node hands the flow to the orchestrator with
:class:`~runtime.nodes.base.RunFlow` and is run again, with how the flow ended, once its steps
(steps of the run) are done. Elsewhere (the command line) ``Services.subflows`` compiles it and
runs it to its end nested inside this step: its model calls charge the run's budget and add
their tokens and cost to this step.

Refused with a clear error: a flow already running around this step (a cycle), a chain deeper
than :data:`runtime.flows.MAX_DEPTH`, an unknown or invalid flow, and, when run inside a step
whose executor cannot ask a person, a flow with approval gates.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from pydantic import Field

from runtime.errors import (
    BudgetExceededError,
    GraphValidationError,
    NodeConfigError,
    PermanentError,
    TemplateError,
)
from runtime.events import Event
from runtime.flows import enter
from runtime.nodes.base import (
    Complete,
    NodeConfig,
    NodeResult,
    NodeType,
    RunFlow,
    StepContext,
)
from runtime.sandbox import compile_template

# Node types that wait for a person (Suspend): they cannot wait inside a step.
WAITING_TYPES = frozenset({"approval"})
MAX_ISSUES_SHOWN = 3


class _Progress:
    """The sub-flow's steps as live text on this step (its steps are not the run's, so this is
    how a viewer sees a long sub-flow move): one line per step that ends."""

    def __init__(self, ctx: StepContext) -> None:
        self.ctx = ctx

    def emit(self, event: Event) -> None:
        mark = _MARKS.get(event.type)
        if mark is not None and event.step is not None:
            self.ctx.emit_chunk(f"{mark} {event.step}\n")


_MARKS = {"step.succeeded": "✔", "step.failed": "✘", "step.skipped": "○"}


class SubflowInvalid(NodeConfigError):
    code = "subflow_invalid"


def invalid_flow(name: str, exc: GraphValidationError) -> SubflowInvalid:
    """The error of a sub-flow whose graph cannot run, naming its first problems."""
    shown = "; ".join(str(issue) for issue in exc.issues[:MAX_ISSUES_SHOWN])
    more = len(exc.issues) - MAX_ISSUES_SHOWN
    tail = f" (and {more} more)" if more > 0 else ""
    return SubflowInvalid(f"workflow {name!r} cannot run: {shown}{tail}")


class SubflowFailed(PermanentError):
    code = "subflow_failed"


class SubflowConfig(NodeConfig):
    workflow: str = Field(
        default="",
        max_length=200,
        title="Workflow",
        description="The workflow to run (another workflow of this workspace; its current "
        "version runs)",
        # The canvas offers the workspace's workflows for this format.
        json_schema_extra={"format": "workflow"},
    )
    input: str = Field(
        default="",
        max_length=50_000,
        title="Input",
        description="The sub-flow's run input: a template over input, nodes.<id>.output and "
        "upstream; empty: this step's input as it is",
        json_schema_extra={"widget": "template"},
    )
    parse_json: bool = Field(
        default=True,
        title="Input is JSON",
        description="Parse the rendered input as JSON (off: pass it on as text)",
    )
    timeout: float = Field(default=600.0, gt=0, le=3600, title="Timeout (s)")


class SubflowNode(NodeType[SubflowConfig]):
    type = "subflow"
    label = "Sub-flow"
    category = "logic"
    description = "Runs another workflow of this workspace with an input and passes on its output."
    config_model = SubflowConfig
    has_error_handle = True
    delegatable = True  # a manager may hand a task to a whole workflow

    def templates(self, config: SubflowConfig) -> dict[str, str]:
        return {"input": config.input} if config.input else {}

    def config_issues(self, config: SubflowConfig) -> list[tuple[str, str, str]]:
        """Read by validation: (code, message, field) for settings that cannot run."""
        if not config.workflow.strip():
            return [("subflow_without_workflow", "choose the workflow to run", "config.workflow")]
        return []

    def run_input(self, ctx: StepContext, config: SubflowConfig) -> Any:
        if not config.input:
            return ctx.input
        text = compile_template(config.input).render(ctx.scope)
        if not config.parse_json:
            return text
        try:
            return json.loads(text)
        except json.JSONDecodeError as exc:
            raise TemplateError(
                f"the sub-flow's input is not JSON: {exc.msg} at char {exc.pos}"
            ) from None

    async def run(self, ctx: StepContext, config: SubflowConfig) -> NodeResult:
        if isinstance(ctx.resume, dict) and "flow" in ctx.resume:
            return self.ended(ctx.resume["flow"])
        ref = config.workflow.strip()
        if not ref:
            raise NodeConfigError("the sub-flow has no workflow to run")
        flow = await ctx.services.flows.load(ref)
        flows = enter(ctx.services.flows, flow)
        runner = ctx.services.subflows
        if runner is None:
            raise NodeConfigError("sub-flows cannot run here: no executor runs them")
        if getattr(runner, "as_steps", False):
            # Its steps become steps of the run; this step resumes when they are done.
            return RunFlow(flow.ref, flow.name, self.run_input(ctx, config), flows.path)
        try:
            subflow = runner.compile(flow.graph)
        except GraphValidationError as exc:
            raise invalid_flow(flow.name, exc) from None
        gates = sorted(n for n, kind in subflow.node_types.items() if kind in WAITING_TYPES)
        if gates and not getattr(runner, "answers_people", False):
            raise SubflowInvalid(
                f"workflow {flow.name!r} has approval gates ({', '.join(gates)}): a sub-flow "
                "cannot wait for a person; put the gate in this flow instead"
            )
        run_input = self.run_input(ctx, config)
        result = await subflow.run(
            run_input,
            services=dataclasses.replace(ctx.services, flows=flows),
            sink=_Progress(ctx),
            run_id=f"{ctx.run_id}/{ctx.step_id}",
            budget=ctx.budget,
        )
        for model, figures in result.totals.by_model.items():
            ctx.usage.add(
                model, int(figures["tokens_in"]), int(figures["tokens_out"]), figures["cost"]
            )
        if result.status == "succeeded":
            return Complete(result.output)
        error = result.error or {}
        failed = result.steps.get(error.get("step", ""))
        cause = (failed.error or {}) if failed else error  # the step's own words, not the run's
        where = error.get("step") if failed else None
        raise _failure(flow.name, result.status, where, cause, error)

    @staticmethod
    def ended(outcome: dict[str, Any]) -> NodeResult:
        """How the flow run as steps ended, as this step's result."""
        if outcome.get("status") == "succeeded":
            return Complete(outcome.get("output"))
        error = outcome.get("error") or {}
        name = outcome.get("name") or "the sub-flow"
        raise _failure(name, "failed", outcome.get("step"), error, error)


def _failure(
    name: str, status: str, step: str | None, cause: dict[str, Any], error: dict[str, Any]
) -> PermanentError:
    where = f" at step {step!r}" if step else ""
    message = f"workflow {name!r} {status}{where}: {cause.get('message', '')}"
    if error.get("code") == BudgetExceededError.code:
        return BudgetExceededError(message, spent=error.get("budget"))
    return SubflowFailed(message)
