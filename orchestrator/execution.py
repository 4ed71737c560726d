"""Executing one step inside a Celery worker: claim, run the node on the process loop while
keeping the lease alive, and record the result. Pure steps made ready run inline right after."""

from __future__ import annotations

import logging
import time
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import FIRST_COMPLETED, Future
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import wait as wait_for_futures
from dataclasses import dataclass, replace
from functools import lru_cache, partial
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q

from editor.catalogue import prices_for
from orchestrator import loop, step_scope, transitions
from orchestrator.lost_workers import worker_name
from orchestrator.models import Run, Step
from orchestrator.step_chunks import chunk_emitter
from orchestrator.tool_calls import FlowCalls, tool_call_recorder
from orchestrator.transitions import Claimed, lease_seconds
from orchestrator.unit_of_work import FINISHED_RUN, Dispatch, RunTransaction
from runtime import delegation
from runtime.budget import Budget
from runtime.errors import StepError
from runtime.events import SUCCEEDED_STEP_STATUSES
from runtime.executor import InProcessExecutor
from runtime.flows import Lineage
from runtime.inline_subflows import InlineSubflows
from runtime.nodes.base import (
    Complete,
    Delegate,
    RunFlow,
    StepContext,
    Suspend,
    TaskResult,
)
from runtime.nodes.registry import default_registry
from runtime.plan import describe_delegates
from runtime.services import Services, SubflowsAsSteps
from runtime.step import InternalNodeError, run_attempt
from runtime.usage import Usage

log = logging.getLogger(__name__)
T = TypeVar("T")


@lru_cache(maxsize=1)
def services() -> Services:
    """Providers for this worker process (local always; others from the environment); sub-flows
    run as steps of the run (made once: it holds nothing per run)."""
    return replace(
        Services.from_env(),
        subflows=SubflowsAsSteps(),
        # A workflow called as a tool runs nested in its step (runtime.tools.workflow_tool).
        inline_flows=InlineSubflows(default_registry, InProcessExecutor),
    )


def _services_for(claimed: Claimed) -> Services:
    """The process's providers with the prices and the credentials of the run's workspace, and
    the workflows a subflow step may run (with the flows running around this step)."""
    from knowledge.service import WorkspaceKnowledge
    from orchestrator.workspace_flows import workspace_flows
    from orchestrator.workspace_secrets import WorkspaceSecrets
    from orchestrator.workspace_tools import WorkspaceToolDefinitions

    run = claimed.run
    flows = workspace_flows(run)
    if claimed.flow is not None:
        flows = Lineage(flows.loader, tuple(map(tuple, claimed.flow.flow["lineage"])), True)
    return replace(
        services(),
        prices=prices_for(run.workspace_id),
        secrets=WorkspaceSecrets(run.workspace_id),
        flows=flows,
        tool_definitions=WorkspaceToolDefinitions(run.workspace_id),
        knowledge=WorkspaceKnowledge(run.workspace_id),
    )


def execute_step(step_id: int, run_id: Any = None, pure: bool | None = None) -> None:
    """Run a step and then, in this same task, the pure steps it makes ready.

    ``run_id`` and ``pure`` come with the task when it was sent for a step just made (they
    save a query); a message with the step id alone (the sweeper's) looks them up."""
    if run_id is None or pure is None:
        row = Step.objects.filter(pk=step_id).values_list("run_id", "node_type").first()
        if row is None:
            return
        run_id, node_type = row
        node = default_registry.get(node_type)
        pure = bool(node and node.pure)
    try:
        if pure:
            first = reconnecting(partial(_execute_pure, step_id, run_id))
        else:
            first = _execute_one(step_id, run_id)
        # Steps left over by a transaction were inserted when it ended: they have ids now.
        _run_inline(first, run_id)
    except Run.DoesNotExist:
        return  # deleted with its workflow since the task was sent: nothing to do


def reconnecting(call: Callable[[], T]) -> T:
    """Make a database call, and once more on a new connection if the old one was lost (the
    server restarted, an administrator ended the session): a worker's step goes on instead of
    waiting for its lease to run out. Only for calls that are safe to repeat: every transition
    names its claim or is a conditional update."""
    try:
        return call()
    except (OperationalError, InterfaceError):
        if connection.in_atomic_block:
            raise  # a caller's transaction is gone with the connection: it must start again
        log.warning("lost the database connection; reconnecting once", exc_info=True)
        connection.close()
        return call()


def run_now(coro: Coroutine[Any, Any, T]) -> T:
    """Drive a coroutine that never waits (a pure node) to its end without an event loop."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value  # type: ignore[no-any-return]
    coro.close()
    raise InternalNodeError("a pure node awaited something; pure nodes must not do I/O")


# How many pure steps one transaction may run before it commits and lets viewers see them.
PURE_BATCH = 10


def _execute_pure(step_id: int, run_id: Any) -> Dispatch:
    """Claim, run and complete a pure step in one transaction, and the pure steps it makes
    ready after it: they do no I/O and end at once, so there is no lease to keep and no reason
    to pay for a commit (and a run lock) each. A batch is cut at PURE_BATCH steps; what is left
    comes back as ``inline`` for a next transaction."""
    with RunTransaction(run_id, inline_pure=True) as txn:
        pending: deque[int | Step] = deque([step_id])
        done = 0
        while pending and done < PURE_BATCH and txn.run.status not in FINISHED_RUN:
            _run_pure_in(txn, pending.popleft())
            done += 1
            pending.extend(txn.dispatch.inline)
            txn.dispatch.inline.clear()
        if txn.run.status not in FINISHED_RUN:
            txn.dispatch.inline.extend(pending)  # the batch was cut: the caller goes on
        return txn.dispatch


def _run_pure_in(txn: RunTransaction, target: int | Step) -> None:
    claimed = transitions.claim_in(txn, target, worker_name(), save=False)
    if claimed is None:
        return
    step = claimed.step
    planned = claimed.version.plan.nodes[step.node_id]
    if claimed.version.reads.get(step.node_id):
        txn.flush()  # its templates read other steps' outputs from the table: insert them
    ctx = _context(claimed, Usage())
    try:
        with step_scope.observed(claimed, ctx) as outcome:
            result = run_now(run_attempt(planned, ctx))
            outcome.of(result)
    except StepError as error:
        retry_in = planned.retry.next_delay(step.attempt, error)
        transitions.fail_in(txn, step, error, ctx.usage, retry_in)  # writes the claim fields too
        return
    if not isinstance(result, Complete):
        error = InternalNodeError(f"pure node {planned.node.id!r} did not complete")
        transitions.fail_in(txn, step, error, ctx.usage, None)
        return
    transitions.complete_in(txn, step, result.output, result.branch, ctx.usage)


def _context(claimed: Claimed, usage: Usage, cache: _ServicesCache | None = None) -> StepContext:
    step = claimed.step
    planned = claimed.version.plan.nodes[step.node_id]
    return StepContext(
        run_id=str(claimed.run.pk),
        step_id=step.key,
        node=planned.node,
        attempt=step.attempt,
        input=step.input,
        scope=_scope(claimed),
        # Pure steps call no model: they need no prices (and no query for them).
        services=services() if planned.type.pure else (cache or _ServicesCache()).get(claimed),
        usage=usage,
        emit_chunk=_chunk_publisher(claimed),
        emit_tool_call=tool_call_recorder(claimed.run.pk, step.pk),
        flow_calls=FlowCalls(claimed.run.pk, step.pk),
        resume=_resume_value(step),
        state=step.state,
        round=step.round,
        delegates=claimed.version.plan.delegates[step.node_id],
        delegate_info=describe_delegates(claimed.version.plan, step.node_id),
        budget=_budget(claimed.run),
    )


def _budget(run: Any) -> Budget | None:
    """The run's budget with what it has spent so far (read when the step starts: steps running
    at the same moment can overshoot by what they spend before they see each other's totals)."""
    if not run.budget:
        return None
    return Budget.from_dict(
        {**run.budget, "tokens": run.tokens_in + run.tokens_out, "cost": run.cost}
    )


def _execute_one(step_id: int, run_id: Any = None) -> Dispatch:
    """Claim a step, with queued tasks of the same delegating step for this process to run
    beside it, and run them on the process's loop (see :class:`_Lane`)."""
    worker = worker_name()
    more = transitions.steps_per_process() - 1
    claims = reconnecting(lambda: transitions.claim_batch(step_id, worker, run_id, more))
    if not claims:
        return Dispatch()  # someone else has it, it is finished, or the run is over
    _Lane(worker, claims[0].run.pk).run(claims)
    return Dispatch()  # the lane ran what its transactions left inline


def _run_inline(dispatch: Dispatch, run_id: Any) -> None:
    """Run the pure steps a transaction left to its worker, and those they make ready."""
    pending = deque(step.pk for step in dispatch.inline)
    while pending:
        batch = reconnecting(partial(_execute_pure, pending.popleft(), run_id))
        pending.extend(step.pk for step in batch.inline)


class _ServicesCache:
    """A lane's services, made once per run and flow: the steps of a lane are of one run, and
    mostly of one flow (a map's items), so the workspace's prices and credentials are read
    once, not for every item."""

    def __init__(self) -> None:
        self._made: dict[Any, Services] = {}

    def get(self, claimed: Claimed) -> Services:
        key = (claimed.run.pk, claimed.flow.pk if claimed.flow is not None else None)
        found = self._made.get(key)
        if found is None:
            found = self._made[key] = _services_for(claimed)
        return found


@dataclass
class _Attempt:
    claimed: Claimed
    ctx: StepContext
    usage: Usage
    renewed: float  # when its lease was last renewed (time.monotonic)


class _Lane:
    """The steps one Celery task runs at once on the process's loop, each keeping its lease:
    the one its message named and the queued tasks of the same delegating step taken with it
    (a map's items, a manager's tasks: model calls wait on the network, so one process runs
    several, up to STEP_TASKS_PER_PROCESS). While the lane lasts (STEP_LANE_SECONDS), the step
    an attempt's end makes runnable is claimed in the transaction that records the end and
    runs next, with no message between them; other runs' steps wait behind the lane at most
    that long plus one step."""

    def __init__(self, worker: str, run_id: Any) -> None:
        self.worker = worker
        self.run_id = run_id
        self.until = time.monotonic() + transitions.lane_seconds()
        self.heartbeat = max(lease_seconds() / 3, 0.05)
        self.services = _ServicesCache()
        self.running: dict[Future[Any], _Attempt] = {}

    def run(self, claims: list[Claimed]) -> None:
        for claimed in claims:
            self.start(claimed)
        while self.running:
            done, _ = wait_for_futures(
                list(self.running), timeout=self.heartbeat, return_when=FIRST_COMPLETED
            )
            self.finish([(future, self.running.pop(future)) for future in done])
            self.renew()

    def start(self, claimed: Claimed) -> None:
        usage = Usage()
        ctx = _context(claimed, usage, self.services)
        planned = claimed.version.plan.nodes[claimed.step.node_id]
        future = loop.submit(step_scope.attempt(claimed, ctx, run_attempt(planned, ctx)))
        self.running[future] = _Attempt(claimed, ctx, usage, time.monotonic())

    def finish(self, finished: list[tuple[Future[Any], _Attempt]]) -> None:
        """Record the attempts that ended, those with an output or an error in one transaction
        (steps that ran at once often end together), and start what their ends hand over."""
        ends: list[transitions.Ended] = []
        for future, attempt in finished:
            try:
                result = future.result()
            except FutureCancelled:
                continue  # its lease was lost: someone else has the step, or it was cancelled
            except StepError as error:
                result = error
            end = _ended(attempt, result)
            if end is not None:
                ends.append(end)
            else:
                _run_inline(reconnecting(partial(_record, attempt, result)), self.run_id)
        if not ends:
            return
        lane = self.worker if time.monotonic() < self.until else None
        dispatch = reconnecting(partial(transitions.record_ends, self.run_id, ends, lane))
        _run_inline(dispatch, self.run_id)
        for claimed in dispatch.claimed:
            self.start(claimed)

    def renew(self) -> None:
        """Renew the leases due; an attempt whose step is no longer ours (cancelled, or its
        lease ran out and another worker has it) is stopped."""
        now = time.monotonic()
        for future, attempt in list(self.running.items()):
            if now - attempt.renewed < self.heartbeat or future.done():
                continue
            claimed = attempt.claimed
            if reconnecting(partial(transitions.renew_lease, claimed.step.pk, claimed.claim)):
                attempt.renewed = now
            else:
                future.cancel()
                del self.running[future]


def _ended(attempt: _Attempt, result: Any) -> transitions.Ended | None:
    """An attempt that ended with an output or an error, as recorded with others at once; None
    for the other results (a wait, a delegation, a sub-flow): see :func:`_record`."""
    claimed = attempt.claimed
    step = claimed.step
    if isinstance(result, StepError):
        retry_in = claimed.version.plan.nodes[step.node_id].retry.next_delay(step.attempt, result)
        return transitions.Ended(
            step.pk, claimed.claim, attempt.usage, error=result, retry_in=retry_in
        )
    if isinstance(result, Complete):
        return transitions.Ended(
            step.pk, claimed.claim, attempt.usage, result.output, result.branch, step=step
        )
    return None


def _record(attempt: _Attempt, result: Any) -> Dispatch:
    """Record an attempt that ended waiting for a person, delegating tasks or running a
    sub-flow; each transition names the claim, so doing it twice (after a lost connection)
    changes nothing the second time."""
    claimed, usage = attempt.claimed, attempt.usage
    step_id = claimed.step.pk
    if isinstance(result, Suspend):
        transitions.suspend_step(step_id, claimed.claim, result.request, usage)
        return Dispatch()
    if isinstance(result, Delegate):
        refused = delegation.refusal(result.tasks, attempt.ctx.delegates)
        if refused is not None:
            return transitions.fail_step(step_id, claimed.claim, refused, usage, None)
        return transitions.delegate_step(step_id, claimed.claim, result, usage)
    if isinstance(result, RunFlow):
        return transitions.start_flow(step_id, claimed.claim, result, usage)
    node = claimed.version.plan.nodes[claimed.step.node_id].node
    raise TypeError(f"node {node.id!r} returned {type(result).__name__}")


def _scope(claimed: Claimed) -> dict[str, Any]:
    """What templates read: the flow's input (the run's, or the one its subflow step gave it),
    the outputs they name (of the same flow), and the step's input."""
    step = claimed.step
    reads = claimed.version.reads.get(step.node_id, frozenset())
    nodes: dict[str, dict[str, Any]] = {}
    if reads:
        rows = Step.objects.filter(
            Q(status__in=SUCCEEDED_STEP_STATUSES) | Q(status="failed", branch="error"),
            run_id=claimed.run.pk,
            parent_id=step.in_flow_id,
            node_id__in=reads,
        ).values_list("node_id", "output", "branch")
        nodes = {node_id: {"output": output, "branch": branch} for node_id, output, branch in rows}
    flow_input = run_input(claimed.run.pk) if claimed.flow is None else claimed.flow.flow["input"]
    return {"input": flow_input, "nodes": nodes, "upstream": step.input}


@lru_cache(maxsize=8)
def run_input(run_id: Any) -> Any:
    """A run's input, read once per process: it never changes after the start, and the run
    transactions leave it out (a map's list of items can be megabytes). Templates only read it:
    nothing changes the object handed out."""
    return Run.objects.values_list("input", flat=True).get(pk=run_id)


def _resume_value(step: Step) -> Any:
    """A delegating node resumes with TaskResults; a suspended one with the person's answer."""
    resume = step.resume or {}
    if "tasks" in resume:
        return [TaskResult(**result) for result in resume["tasks"]]
    if "flow" in resume:
        return resume  # a subflow step: how its flow ended
    return resume.get("answer")


def _chunk_publisher(claimed: Claimed) -> Any:
    step = claimed.step
    return chunk_emitter(str(claimed.run.pk), step.key, step.node_id, step.round, step.attempt)
