"""Running one step: a single attempt (shared by every executor), and the in-process loop of
attempts, retries, waits for a person and delegation rounds around it."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from functools import partial
from typing import Any, Protocol

from runtime import delegation
from runtime.budget import Budget
from runtime.errors import PermanentError, RunCancelled, StepError, StepTimeoutError
from runtime.events import EventType
from runtime.nodes.base import (
    Complete,
    Delegate,
    NodeResult,
    StepContext,
    Suspend,
    TaskResult,
)
from runtime.plan import PlannedNode
from runtime.records import StepRecord
from runtime.services import Services
from runtime.usage import Usage


class Emit(Protocol):
    def __call__(
        self, type_: EventType, step: StepRecord | None = None, data: dict[str, Any] | None = None
    ) -> None: ...


# (the delegating step, what it delegates, its round) -> the tasks' results, in task order
DelegateFn = Callable[[StepRecord, Delegate, int], Awaitable[list[TaskResult]]]


@dataclass(frozen=True, slots=True)
class ResumeAt:
    """Start a delegating step at a later round: with this state, resumed with these results
    (a re-run from one of its tasks; see runtime.reuse.ResumePoint)."""

    round: int
    state: Any
    results: list[TaskResult]


HumanFn = Callable[[StepRecord, dict[str, Any]], Awaitable[Any]]


class InternalNodeError(PermanentError):
    """A node raised something that is not one of our errors: a bug, reported as a failure."""

    code = "internal_error"


async def run_attempt(planned: PlannedNode, ctx: StepContext) -> NodeResult:
    """One attempt of one step, with the node's timeout; every failure comes out as StepError."""
    timeout = planned.timeout
    try:
        if timeout:
            return await asyncio.wait_for(planned.type.run(ctx, planned.config), timeout)
        return await planned.type.run(ctx, planned.config)
    except StepError:
        raise
    except TimeoutError:
        raise StepTimeoutError(f"the step took longer than its timeout of {timeout} s") from None
    except (asyncio.CancelledError, RunCancelled):
        raise
    except Exception as exc:
        raise InternalNodeError(f"{type(exc).__name__}: {exc}") from exc


class StepRunner:
    def __init__(
        self,
        services: Services,
        emit: Emit,
        sleep: Callable[[float], Awaitable[None]],
        delegate: DelegateFn,
        human: HumanFn | None,
        budget: Budget | None = None,
    ) -> None:
        self.services = services
        self.emit = emit
        self.sleep = sleep
        self.delegate = delegate
        self.human = human
        self.budget = budget  # the run's, shared by all its steps

    async def run(
        self,
        run_id: str,
        planned: PlannedNode,
        step: StepRecord,
        scope: Mapping[str, Any],
        delegates: tuple[str, ...],
        delegate_info: tuple[dict[str, Any], ...] = (),
        start: ResumeAt | None = None,
    ) -> Usage:
        """Drive ``step`` to succeeded, failed or waiting; returns what it spent.

        Rounds (a person's answer, a delegation's results) around attempts (retries), in one
        coroutine: every frame between the executor and the node is paid once per step.
        """
        usage = Usage()
        policy = planned.retry
        step.status = "running"
        step.started_at = step.started_at or time.time()
        resume: Any = None
        state: Any = None
        round_ = 0
        if start is not None:
            resume, state, round_ = start.results, start.state, start.round
            self.emit("step.resumed", step, {"round": round_})
        try:
            while True:
                result: NodeResult | None = None
                attempt = 0
                while True:
                    attempt += 1
                    step.attempt = attempt
                    self.emit(
                        "step.started",
                        step,
                        {
                            "attempt": attempt,
                            "input": step.input,
                            "parent": step.parent,
                            "round": round_,
                        },
                    )
                    # Positional, in StepContext's field order (run_id, step_id, node, attempt,
                    # input, scope, services, usage, emit_chunk, emit_tool_call, resume, state,
                    # round, delegates, delegate_info, budget): a class called with keywords
                    # builds a dict of them first, on every step.
                    ctx = StepContext(
                        run_id,
                        step.id,
                        planned.node,
                        attempt,
                        step.input,
                        scope,
                        self.services,
                        usage,
                        lambda text: self.emit("step.chunk", step, {"text": text}),
                        partial(self._tool_call, step),
                        resume,
                        state,
                        round_,
                        delegates,
                        delegate_info,
                        self.budget,
                    )
                    try:
                        result = await run_attempt(planned, ctx)
                        break
                    except StepError as exc:
                        delay = policy.next_delay(attempt, exc)
                        if delay is None:
                            self._fail(step, exc)
                            break
                        self.emit(
                            "step.retrying",
                            step,
                            {"attempt": attempt, "error": exc.to_dict(), "delay": delay},
                        )
                        await self.sleep(delay)
                if result is None:  # failed for good
                    break
                if isinstance(result, Complete):
                    step.status = "succeeded"
                    step.output = result.output
                    step.branch = result.branch
                    break
                if isinstance(result, Suspend):
                    if not await self._wait_for_person(step, result.request):
                        break
                    resume = step.output
                    step.output = None
                elif isinstance(result, Delegate):
                    refused = delegation.refusal(result.tasks, delegates)
                    if refused is not None:
                        self._fail(step, refused)
                        break
                    resume = await self.delegate(step, result, round_)
                    state = result.state
                round_ += 1
                self.emit("step.resumed", step, {"round": round_})
        finally:
            step.model = usage.model
            step.tokens_in = usage.tokens_in
            step.tokens_out = usage.tokens_out
            step.cost = usage.cost
        if step.status == "succeeded":
            step.finished_at = time.time()
            self.emit(
                "step.succeeded",
                step,
                {
                    "output": step.output,
                    "branch": step.branch,
                    "attempt": step.attempt,
                    **usage.to_dict(),
                    "duration_ms": step.duration_ms,
                    # The node's settings as it ran: what an exported log is reused against.
                    "fingerprint": planned.fingerprint,
                },
            )
        return usage

    async def _tool_call(self, step: StepRecord, data: dict[str, Any]) -> None:
        self.emit("step.tool_call", step, data)

    def _fail(self, step: StepRecord, exc: StepError) -> None:
        step.status = "failed"
        step.error = exc.to_dict()
        step.finished_at = time.time()
        self.emit("step.failed", step, {"error": step.error, "attempt": step.attempt})

    async def _wait_for_person(self, step: StepRecord, request: dict[str, Any]) -> bool:
        """Ask the human handler; without one the step stays waiting (the server resumes it)."""
        step.status = "waiting"
        self.emit("step.waiting", step, {"request": request})
        if self.human is None:
            return False
        answer = await self.human(step, request)
        step.status = "running"
        step.output = answer
        return True
