"""Another workflow of the workspace called as a tool: its input node's fields are the tool's
parameters, the arguments its run input, its output the result.

The workflow runs nested inside the calling step, by the in-process executor
(``Services.inline_flows``, or ``Services.subflows`` where that compiles flows), so that a tool
call never waits on a free worker process while holding one (a tool loop waiting for its own
run on a single-process worker would wait forever). Its model calls charge the run's budget as
they happen. A workflow with approval gates cannot wait for a person there, and is refused as a
tool, naming the gates.

Where the step has a recorder (``ctx.flow_calls``: on the server, Step rows of the run), each
call is a child step of the calling step and the nested run's steps are child steps of the call,
recorded live as they start and end; they carry their own tokens and cost, so the calling
step's own figures stay its own model calls and its subtree is the sum (as a manager's). With
no recorder the nested run's spend is added to the calling step's usage instead, and its steps
show as lines of the calling step's streamed text.
"""

from __future__ import annotations

import asyncio
import dataclasses
import json
from typing import Any

from runtime.errors import GraphValidationError, StepError
from runtime.events import Event
from runtime.flows import Flow, enter
from runtime.records import RunResult
from runtime.tools.context import FlowCall, ToolCallContext
from runtime.tools.refs import model_name

WAITING_TYPES = frozenset({"approval"})
OPEN_OBJECT: dict[str, Any] = {"type": "object", "properties": {}}


class WorkflowToolError(Exception):
    pass


def parameters_of(graph: Any) -> dict[str, Any]:
    """The JSON Schema of the workflow's run input (its input node's ``fields``), as the tool's
    parameters; any object when it declares none."""
    nodes = graph.get("nodes") if isinstance(graph, dict) else None
    for node in nodes or []:
        if isinstance(node, dict) and node.get("type") == "input":
            fields = (node.get("config") or {}).get("fields")
            if isinstance(fields, dict) and fields:
                schema = dict(fields)
                schema.setdefault("type", "object")
                return schema
    return dict(OPEN_OBJECT)


def description_of(flow: Flow) -> str:
    meta = flow.graph.get("meta") if isinstance(flow.graph, dict) else None
    text = meta.get("description") if isinstance(meta, dict) else None
    if isinstance(text, str) and text.strip():
        return f"Runs the workflow {flow.name!r}: {text.strip()}"
    return f"Runs the workflow {flow.name!r} with these inputs and answers with its output."


class _Progress:
    """The nested run's steps, one line each as they end, on the calling step's live text."""

    def __init__(self, ctx: ToolCallContext, name: str) -> None:
        self.ctx = ctx
        self.name = name

    def emit(self, event: Event) -> None:
        if event.type in ("step.succeeded", "step.failed") and event.step is not None:
            mark = "✔" if event.type == "step.succeeded" else "✘"
            self.ctx.emit_chunk(f"{mark} {self.name}/{event.step}\n")


async def call_workflow(
    ctx: ToolCallContext, flow: Flow, arguments: dict[str, Any], call_id: str
) -> tuple[bool, str]:
    """(ok, text) of one run of ``flow`` with ``arguments`` as its input."""
    services = ctx.services
    flows = enter(services.flows, flow)  # a workflow calling itself back is refused here
    runner = services.inline_flows
    if runner is None and not getattr(services.subflows, "as_steps", False):
        runner = services.subflows
    if runner is None:
        raise WorkflowToolError("workflows cannot run as tools here (no executor runs them)")
    try:
        compiled = runner.compile(flow.graph)
    except GraphValidationError as exc:
        shown = "; ".join(str(issue) for issue in exc.issues[:3])
        raise WorkflowToolError(f"workflow {flow.name!r} cannot run: {shown}") from None
    gates = sorted(n for n, kind in compiled.node_types.items() if kind in WAITING_TYPES)
    if gates:
        raise WorkflowToolError(
            f"workflow {flow.name!r} has approval gates ({', '.join(gates)}): a tool call cannot "
            "wait for a person; run it as a sub-flow step instead"
        )
    call: FlowCall | None = None
    if ctx.flow_calls is not None:
        call = await ctx.flow_calls.open(
            call_id, model_name(flow.name), flow, arguments, compiled.node_types
        )
    try:
        result = await compiled.run(
            arguments,
            # Its own sub-flows run nested too (a flow handed to the run's queue would never
            # be resumed here).
            services=dataclasses.replace(services, flows=flows, subflows=runner),
            sink=call if call is not None else _Progress(ctx, flow.name),
            run_id=f"{ctx.run_id}/{ctx.step_id}/{call_id}",
            budget=ctx.budget,
        )
    except StepError as exc:
        message = f"workflow {flow.name!r} failed: {exc}"
        if call is not None:
            await call.close(False, message, None)
        raise WorkflowToolError(message) from None
    except BaseException:
        if call is not None:  # stopped (the tool's time limit): its open steps are cancelled
            await asyncio.shield(call.close(False, f"workflow {flow.name!r} was stopped", None))
        raise
    ok, text = _answer(flow, result)
    if call is not None:
        await call.close(ok, text, result)
    else:
        for model, figures in result.totals.by_model.items():
            tokens_in, tokens_out = int(figures["tokens_in"]), int(figures["tokens_out"])
            ctx.usage.add(model, tokens_in, tokens_out, figures["cost"])
    return ok, text


def _answer(flow: Flow, result: RunResult) -> tuple[bool, str]:
    if result.status == "succeeded":
        output = result.output
        text = output if isinstance(output, str) else json.dumps(output, ensure_ascii=False)
        return True, text
    error = result.error or {}
    failed = result.steps.get(error.get("step", ""))
    cause = (failed.error or {}) if failed else error
    where = f" at step {error.get('step')!r}" if failed else ""
    return False, f"workflow {flow.name!r} {result.status}{where}: {cause.get('message', '')}"
