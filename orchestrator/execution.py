"""Executing one step inside a Celery worker: claim, run the node on the process loop while
keeping the lease alive, and record the result. Pure steps made ready run inline right after."""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Coroutine
from concurrent.futures import CancelledError as FutureCancelled
from concurrent.futures import TimeoutError as FutureTimeout
from dataclasses import replace
from functools import lru_cache, partial
from typing import Any, TypeVar

from django.db import InterfaceError, OperationalError, connection
from django.db.models import Q

from editor.catalogue import prices_for
from orchestrator import loop, transitions
from orchestrator.lost_workers import worker_name
from orchestrator.models import Run, Step
from orchestrator.publisher import publish, run_group
from orchestrator.stream_buffer import Appender, stream_key
from orchestrator.stream_buffer import client as stream_client
from orchestrator.transitions import Claimed, lease_seconds
from orchestrator.unit_of_work import FINISHED_RUN, Dispatch, RunTransaction
from runtime import delegation
from runtime.budget import Budget
from runtime.errors import StepError
from runtime.events import SUCCEEDED_STEP_STATUSES
from runtime.flows import Lineage
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
    return replace(Services.from_env(), subflows=SubflowsAsSteps())


def _services_for(claimed: Claimed) -> Services:
    """The process's providers with the prices and the credentials of the run's workspace, and
    the workflows a subflow step may run (with the flows running around this step)."""
    from orchestrator.workspace_flows import workspace_flows
    from orchestrator.workspace_secrets import WorkspaceSecrets

    run = claimed.run
    flows = workspace_flows(run)
    if claimed.flow is not None:
        flows = Lineage(flows.loader, tuple(map(tuple, claimed.flow.flow["lineage"])), True)
    return replace(
        services(),
        prices=prices_for(run.workspace_id),
        secrets=WorkspaceSecrets(run.workspace_id),
        flows=flows,
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
        pending = deque(step.pk for step in first.inline)
        while pending:
            batch = reconnecting(partial(_execute_pure, pending.popleft(), run_id))
            pending.extend(step.pk for step in batch.inline)
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
        result = run_now(run_attempt(planned, ctx))
    except StepError as error:
        retry_in = planned.retry.next_delay(step.attempt, error)
        transitions.fail_in(txn, step, error, ctx.usage, retry_in)  # writes the claim fields too
        return
    if not isinstance(result, Complete):
        error = InternalNodeError(f"pure node {planned.node.id!r} did not complete")
        transitions.fail_in(txn, step, error, ctx.usage, None)
        return
    transitions.complete_in(txn, step, result.output, result.branch, ctx.usage)


def _context(claimed: Claimed, usage: Usage) -> StepContext:
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
        services=services() if planned.type.pure else _services_for(claimed),
        usage=usage,
        emit_chunk=_chunk_publisher(claimed),
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
    claimed = reconnecting(lambda: transitions.claim_step(step_id, worker_name(), run_id))
    if claimed is None:
        return Dispatch()  # someone else has it, it is finished, or the run is over
    step = claimed.step
    planned = claimed.version.plan.nodes[step.node_id]
    usage = Usage()
    ctx = _context(claimed, usage)
    future = loop.submit(run_attempt(planned, ctx))
    heartbeat = max(lease_seconds() / 3, 0.05)
    while True:
        try:
            result = future.result(timeout=heartbeat)
            break
        except FutureTimeout:
            if not reconnecting(lambda: transitions.renew_lease(step_id, claimed.claim)):
                # Cancelled, or our lease ran out and another worker has the step: stop here.
                future.cancel()
                return Dispatch()
        except FutureCancelled:
            return Dispatch()
        except StepError as error:
            result = error
            break
    return reconnecting(lambda: _record(step_id, claimed, ctx, result, usage))


def _record(
    step_id: int, claimed: Claimed, ctx: StepContext, result: Any, usage: Usage
) -> Dispatch:
    """Record how an attempt ended; each transition names the claim, so doing it twice (after a
    lost connection) changes nothing the second time."""
    planned = claimed.version.plan.nodes[claimed.step.node_id]
    if isinstance(result, StepError):
        retry_in = planned.retry.next_delay(claimed.step.attempt, result)
        return transitions.fail_step(step_id, claimed.claim, result, usage, retry_in)
    if isinstance(result, Complete):
        return transitions.complete_step(
            step_id, claimed.claim, result.output, result.branch, usage
        )
    if isinstance(result, Suspend):
        transitions.suspend_step(step_id, claimed.claim, result.request, usage)
        return Dispatch()
    if isinstance(result, Delegate):
        refused = delegation.refusal(result.tasks, ctx.delegates)
        if refused is not None:
            return transitions.fail_step(step_id, claimed.claim, refused, usage, None)
        return transitions.delegate_step(step_id, claimed.claim, result, usage)
    if isinstance(result, RunFlow):
        return transitions.start_flow(step_id, claimed.claim, result, usage)
    raise TypeError(f"node {planned.node.id!r} returned {type(result).__name__}")


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
    flow_input = claimed.run.input if claimed.flow is None else claimed.flow.flow["input"]
    return {"input": flow_input, "nodes": nodes, "upstream": step.input}


def _resume_value(step: Step) -> Any:
    """A delegating node resumes with TaskResults; a suspended one with the person's answer."""
    resume = step.resume or {}
    if "tasks" in resume:
        return [TaskResult(**result) for result in resume["tasks"]]
    if "flow" in resume:
        return resume  # a subflow step: how its flow ended
    return resume.get("answer")


def _chunk_publisher(claimed: Claimed) -> Any:
    """Streamed text goes to live viewers, and into Redis for those who connect mid-step
    (:mod:`orchestrator.stream_buffer`); the step's final output is what the database stores."""
    run_id = str(claimed.run.pk)
    step = claimed.step
    group = run_group(run_id)
    appender = Appender(stream_key(run_id, step.key, step.round, step.attempt))
    count = 0

    def emit(text: str) -> None:
        nonlocal count
        index = count
        count += 1

        async def store() -> None:
            # Awaited by the publisher's drain just before this chunk's broadcast, on the same
            # loop and in the same queue, so the stored text never lags behind what went out.
            await appender.append(stream_client(), index, text)

        publish(
            group,
            {
                "type": "run.event",
                "event": {
                    "seq": None,
                    "type": "step.chunk",
                    "run": run_id,
                    "step": step.key,
                    "node": step.node_id,
                    "status": "running",
                    "data": {
                        "text": text,
                        "attempt": step.attempt,
                        "round": step.round,
                        "index": index,
                    },
                    "ts": None,
                },
            },
            before=store,
        )

    return emit
