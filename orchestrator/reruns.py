"""Time travel, as people ask for it: a new run made from an earlier one that reuses what it may.

* **re-run from a step**: that step and everything after it execute; the rest is reused;
* **edit and continue**: a step's output is replaced by the one given; what follows executes;
* **retry**: no step named: every step whose node, settings and input are unchanged is reused,
  so a failed run goes on from its failed step (on its own version or the workflow's current
  one, after a fix).

What may be reused is decided step by step, as nodes become ready, by the one rule in
:func:`runtime.reuse.decide` (see :mod:`orchestrator.reuse`); this module checks the request,
records the new run (linked to its source) with its audit entry, and forecasts what it would do.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from editor.audit import record
from editor.catalogue import prices_for
from editor.errors import Conflict, NotFound, OperationError
from editor.models import WorkflowVersion
from orchestrator import tracing
from orchestrator.models import Run, Step
from orchestrator.plans import CompiledVersion, compiled
from orchestrator.progress import start_roots
from orchestrator.reuse import below, recorded_from
from orchestrator.subflows import subflow_versions
from orchestrator.tool_calls import workflow_call_of
from orchestrator.unit_of_work import RunTransaction
from runtime.errors import GraphValidationError
from runtime.events import SUCCEEDED_STEP_STATUSES
from runtime.reuse import (
    NO_EDIT,
    Recorded,
    RecordedTask,
    ResumePoint,
    ReusePlan,
    downstream,
    forecast,
    output_problems,
)
from runtime.usage import cost_of

VersionChoice = Literal["run", "current"]


class RerunRefused(Conflict):
    """The request is well formed but the run's state or the chosen version does not allow it."""

    code = "not_rerunnable"


@dataclass(frozen=True)
class RerunRequest:
    step: str | None = None  # re-run from this step (a top-level step's key); None: retry
    output: Any = NO_EDIT  # with ``step``: that step's output, edited
    version: VersionChoice = "run"  # the source run's version, or the workflow's current one

    @property
    def mode(self) -> str:
        if self.step is None:
            return "retry"
        return "edit" if self.output is not NO_EDIT else "from"


@dataclass(frozen=True)
class Prepared:
    version: Any
    compiled: CompiledVersion
    settings: dict[str, Any]  # Run.reuse
    recorded: dict[str, Recorded]


def prepare(source: Run, request: RerunRequest) -> Prepared:
    """Check a request against the source run and the chosen version; refuse with a message
    naming the problem."""
    version = _chosen_version(source, request.version)
    try:
        target = compiled(version)
    except GraphValidationError:
        raise RerunRefused(
            f"version {version.number} of the workflow has problems; fix them and save first",
            fields={"version": ["not runnable"]},
        ) from None
    recorded = _recorded_steps(source)
    settings: dict[str, Any] = {"mode": request.mode, "forced": [], "edited": {}}
    if request.step is None:
        # A retry goes on inside sub-flows too: each reuses its unchanged steps.
        settings["flows"] = {key: {"forced": [], "edited": {}} for key in _flow_steps(source)}
    else:
        step = _checked_step(source, request.step, target, version.number)
        if step.in_flow_id is not None:
            inner = _flow_version(source, step.in_flow, target)
            if request.mode == "edit":
                _check_edit(step, request.output, inner)
            settings["flows"] = {step.in_flow.key: _from_step(step, request, inner)}
            forced = downstream(target.plan, step.in_flow.node_id, target.reads)
            settings["forced"] = target.plan.by_order(forced)
            return Prepared(version, target, settings, recorded)
        if request.mode == "edit":
            _check_edit(step, request.output, target)
        if step.parent_id is not None:
            # A delegated task: its top-level step picks up at that task's round.
            parent = step.parent
            point = resume_point(source, parent, step, request.output)
            settings["resume"] = {parent.node_id: point.to_dict()}
            forced = downstream(target.plan, parent.node_id, target.reads)
        elif request.mode == "edit":
            settings["edited"] = {step.node_id: request.output}
            forced = downstream(target.plan, step.node_id, target.reads) - {step.node_id}
        else:
            forced = downstream(target.plan, step.node_id, target.reads)
        settings["forced"] = target.plan.by_order(forced)
    return Prepared(version, target, settings, recorded)


def _from_step(step: Step, request: RerunRequest, plan: CompiledVersion) -> dict[str, Any]:
    """What one flow reuses when re-run from its ``step``: that step (unless edited) and all
    after it execute."""
    forced = downstream(plan.plan, step.node_id, plan.reads)
    edited: dict[str, Any] = {}
    if request.mode == "edit":
        edited[step.node_id] = request.output
        forced.discard(step.node_id)
    return {"forced": plan.plan.by_order(forced), "edited": edited}


def _flow_steps(source: Run) -> list[str]:
    """Keys of the source run's top-level subflow steps that ran their flow as steps."""
    return list(
        source.steps.filter(parent__isnull=True, flow__isnull=False).values_list("key", flat=True)
    )


def _flow_version(source: Run, flow: Step, target: CompiledVersion) -> CompiledVersion:
    """The version the new run will run of the sub-flow ``flow`` ran (the one current now, as
    any run pins its sub-flows when it starts)."""
    if flow.parent_id is not None:
        raise RerunRefused(
            f"step {flow.key!r} runs a sub-flow inside a delegated task or another sub-flow; "
            f"re-run from its top-level step {flow.key.split('.', 1)[0].split('/', 1)[0]!r}",
            fields={"step": ["inside a nested sub-flow"]},
        )
    if flow.node_id not in target.plan.nodes:
        raise RerunRefused(
            f"node {flow.node_id!r} no longer exists in the chosen version",
            fields={"step": ["not in the chosen version"]},
        )
    pins = subflow_versions(source.workspace_id, target.plan)
    version_id = pins.get(flow.flow["workflow"])
    if version_id is None:
        raise RerunRefused(
            f"the workflow step {flow.key!r} ran ({flow.flow['name']!r}) has no saved version "
            "in this workspace any more",
            fields={"step": ["its sub-flow is gone"]},
        )
    try:
        return compiled(WorkflowVersion.objects.get(pk=version_id))
    except GraphValidationError:
        raise RerunRefused(
            f"the workflow {flow.flow['name']!r} has problems; fix them and save first",
            fields={"step": ["its sub-flow cannot run"]},
        ) from None


def resume_point(source: Run, parent: Step, task: Step, edited: Any) -> ResumePoint:
    """Where ``parent`` picks up in a re-run from its delegated ``task``: the state it handed
    that round out with (from its ``step.delegated`` event), and its tasks up to that round."""
    # The round the task was handed out in (runs recorded before task_round: its own round).
    handed_in = task.task_round if task.task_round is not None else task.round
    event = (
        source.events.filter(type="step.delegated", step_key=parent.key, data__round=handed_in)
        .order_by("-seq")
        .first()
    )
    if event is None or "state" not in event.data:
        raise RerunRefused(
            f"run {source.pk} did not record the state step {parent.key!r} had when it handed "
            f"out {task.key!r} (it ran before this was kept); re-run from {parent.key!r} instead",
            fields={"step": ["no recorded state to resume from"]},
        )
    tasks = [
        RecordedTask(
            step=row.key,
            node=row.node_id,
            round=row.task_round if row.task_round is not None else row.round,
            input=row.input,
            status=row.status,
            output=row.output,
            error=row.error,
            cost=row.cost,
            tokens_in=row.tokens_in,
            tokens_out=row.tokens_out,
        )
        for row in parent.children.filter(
            Q(task_round__lte=handed_in) | Q(task_round__isnull=True, round__lte=handed_in)
        ).order_by("id")
    ]
    return ResumePoint(
        round=handed_in,
        state=event.data["state"],
        tasks=tuple(tasks),
        rerun=task.key,
        edited=edited,
    )


def preview(source: Run, request: RerunRequest) -> dict[str, Any]:
    """What the re-run would execute and reuse, and about what the executed steps would cost
    at the workspace's catalogue prices (from the tokens they used in the source run)."""
    prepared = prepare(source, request)
    plan = prepared.compiled.plan
    reuse = _reuse_plan(source, prepared)
    verdicts = forecast(plan, reuse, prepared.compiled.reads)
    prices = prices_for(source.workspace_id)
    by_node = {step.node_id: step for step in source.steps.filter(parent__isnull=True)}
    estimated = 0.0
    unpriced: list[str] = []
    saved = 0.0
    for node_id, verdict in verdicts.items():
        step = by_node.get(node_id)
        if verdict == "reuse" and step is not None:
            saved += recorded_from(step, "", with_tasks=True).cost
        if verdict != "execute":
            continue
        if step is None or step.status not in (*SUCCEEDED_STEP_STATUSES, "failed"):
            unpriced.append(node_id)
            continue
        estimated += _priced(step, prices)
    return {
        "mode": request.mode,
        "version": prepared.version.number,
        "nodes": [{"node": node_id, "verdict": verdict} for node_id, verdict in verdicts.items()],
        "execute": sum(1 for v in verdicts.values() if v == "execute"),
        "reuse": sum(1 for v in verdicts.values() if v == "reuse"),
        "skip": sum(1 for v in verdicts.values() if v == "skip"),
        "estimated_cost": round(estimated, 10),
        "reused_cost": round(saved, 10),
        "not_estimated": unpriced,
    }


def rerun(source: Run, request: RerunRequest, *, actor: Any, via: str) -> Run:
    """Start the new run made from ``source`` (see the module's docstring)."""
    prepared = prepare(source, request)
    run = Run(
        workspace_id=source.workspace_id,
        workflow_id=source.workflow_id,
        version=prepared.version,
        status="running",
        input=source.input,
        budget=source.budget,
        source_run=source,
        source_step=request.step or "",
        reuse=prepared.settings,
        flow_versions=subflow_versions(source.workspace_id, prepared.compiled.plan),
        created_by=actor if getattr(actor, "is_authenticated", False) else None,
        started_at=timezone.now(),
    )
    run.trace_parent = tracing.run_started(run, source.workflow.name)
    with transaction.atomic(savepoint=False):
        with RunTransaction.starting(run) as txn:
            txn.emit(
                "run.started",
                data={
                    "input": run.input,
                    "version": prepared.version.number,
                    "source": {"run": str(source.pk), "step": request.step, "mode": request.mode},
                },
            )
            start_roots(txn)
        record(
            f"run.{request.mode}" if request.mode != "from" else "run.rerun",
            actor=actor,
            workspace=source.workspace,
            target=run,
            target_label=f"{source.workflow.name} (v{prepared.version.number})",
            via=via,
            detail={
                "workflow": str(source.workflow_id),
                "source_run": str(source.pk),
                "step": request.step,
                "mode": request.mode,
            },
        )
    return run


def _reuse_plan(source: Run, prepared: Prepared) -> ReusePlan:
    settings = prepared.settings
    return ReusePlan(
        source_run=str(source.pk),
        recorded=prepared.recorded,
        forced=frozenset(settings["forced"]),
        edited=settings["edited"],
    )


def _chosen_version(source: Run, choice: str) -> Any:
    if choice == "run":
        return source.version
    if choice == "current":
        version = source.workflow.current_version
        if version is None:
            raise RerunRefused("the workflow has no saved version to run")
        return version
    raise OperationError(
        "version must be run (the source run's version) or current (the workflow's newest)",
        fields={"version": ["not a choice"]},
    )


def _recorded_steps(source: Run) -> dict[str, Recorded]:
    """The source run's top-level steps, with the settings their nodes had in its version."""
    plan = compiled(source.version).plan
    return {
        step.node_id: recorded_from(step, plan.nodes[step.node_id].fingerprint)
        for step in source.steps.filter(parent__isnull=True)
        if step.node_id in plan.nodes
    }


def _checked_step(source: Run, key: str, target: CompiledVersion, number: int) -> Step:
    step = source.steps.filter(key=key).first()
    if step is None:
        raise NotFound(
            f"run {source.pk} has no step {key!r}", fields={"step": ["not a step of this run"]}
        )
    call = workflow_call_of(step)
    if call is not None:
        # It ran nested in its calling step's tool loop, not from the run's queue: there is no
        # point to pick up from inside it. Its calling step re-runs, calling it again.
        caller = (call.flow or {}).get("caller", {}).get("key") or key.split("/", 1)[0]
        raise RerunRefused(
            f"step {key!r} ran inside the workflow tool call {call.key!r} of step {caller!r}; "
            f"a tool call cannot be re-run on its own: re-run from {caller!r} instead",
            fields={"step": ["inside a workflow tool call"]},
        )
    if step.in_flow_id is not None and step.parent_id != step.in_flow_id:
        raise RerunRefused(
            f"step {key!r} is a task delegated inside a sub-flow; re-run from "
            f"{key.rsplit('.', 2)[0]!r} instead",
            fields={"step": ["a task inside a sub-flow"]},
        )
    # A step of a sub-flow is a step of a flow, not a task: its parent is the subflow step.
    parent = step.parent if step.in_flow_id is None else None
    if parent is not None and parent.parent_id is not None:
        raise RerunRefused(
            f"step {key!r} is a task of a delegated task; re-run from {parent.key!r} or from "
            f"its top-level step {key.split('.', 1)[0]!r} instead",
            fields={"step": ["a task of a delegated task"]},
        )
    if step.status in ("pending", "queued", "running", "waiting"):
        raise RerunRefused(
            f"step {key!r} has not finished (it is {step.status})",
            fields={"step": ["not finished"]},
        )
    if step.status == "skipped":
        raise RerunRefused(
            f"step {key!r} was skipped: nothing ran there to re-run from",
            fields={"step": ["skipped"]},
        )
    if step.in_flow_id is not None:
        return step  # checked against the sub-flow's version by the caller
    for node_id in (step.node_id, parent.node_id if parent else step.node_id):
        if node_id not in target.plan.nodes:
            raise RerunRefused(
                f"node {node_id!r} no longer exists in version {number}",
                fields={"step": ["not in the chosen version"]},
            )
    return step


def _check_edit(step: Step, output: Any, target: CompiledVersion) -> None:
    if step.status not in SUCCEEDED_STEP_STATUSES:
        raise RerunRefused(
            f"step {step.key!r} did not succeed ({step.status}); re-run from it instead of "
            "editing its output",
            fields={"step": ["only a succeeded step's output can be edited"]},
        )
    schema = getattr(target.plan.nodes[step.node_id].config, "output_schema", None)
    problems = output_problems(schema, output)
    if problems:
        raise OperationError(
            f"the edited output does not match node {step.node_id!r}'s output schema: "
            + "; ".join(problems[:3]),
            fields={"output": problems},
            code="invalid_output",
        )


def _priced(step: Step, prices: dict[str, Any]) -> float:
    """What a step and its delegated tasks would cost again, at today's prices."""
    steps = [step, *below(step)]
    total = 0.0
    for each in steps:
        if not each.by_model:
            total += each.cost
            continue
        for model, figures in each.by_model.items():
            price = prices.get(model)
            if price is None:
                total += figures.get("cost", 0.0)
            else:
                total += cost_of(price, figures["tokens_in"], figures["tokens_out"])
    return total
