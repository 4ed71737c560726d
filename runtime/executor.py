"""Run a whole flow in one process on asyncio: the CLI, the tests and the benchmarks use this.

The executor owns no scheduling logic of its own: :mod:`runtime.scheduling` decides what is
ready and what is skipped, and :mod:`runtime.step` runs one step (attempts, retries, timeouts).
Steps that do I/O run as concurrent tasks, so independent branches overlap; pure steps
(``transform``, ``router`` …) run inline, since they finish at once and a task would only add
overhead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import deque
from collections.abc import Awaitable, Callable
from dataclasses import replace
from functools import partial
from typing import Any

from runtime.budget import Budget
from runtime.events import SUCCEEDED_STEP_STATUSES, Event, EventSink, EventType, NullSink
from runtime.failures import run_error, takes_error_edge
from runtime.graph import ERROR_HANDLE
from runtime.inline_subflows import InlineSubflows
from runtime.nodes.base import Delegate, TaskResult
from runtime.nodes.registry import NodeRegistry, default_registry
from runtime.plan import Plan, describe_delegates, template_reads
from runtime.records import RunResult, StepRecord
from runtime.reuse import ResumePoint, Reused, ReusePlan, decide, reused_event
from runtime.run_input import prepare_input
from runtime.scheduling import (
    SKIPPED,
    JoinCounts,
    advance,
    initial_ready,
    live_sources,
    run_output,
    step_input,
)
from runtime.services import Services
from runtime.step import ResumeAt, StepRunner
from runtime.validation import compile_graph

HumanHandler = Callable[[StepRecord, dict[str, Any]], Awaitable[Any]]


class InProcessExecutor:
    def __init__(
        self,
        registry: NodeRegistry = default_registry,
        services: Services | None = None,
        sink: EventSink | None = None,
        human: HumanHandler | None = None,
        sleep: Callable[[float], Awaitable[None]] = asyncio.sleep,
    ) -> None:
        self.registry = registry
        # A subflow step runs its workflow with this executor's node types, nested in the step.
        self.services = replace(
            services or Services(),
            # With a human handler a sub-flow's approval gates are asked through it too.
            subflows=InlineSubflows(
                registry,
                partial(InProcessExecutor, human=human) if human else InProcessExecutor,
                answers_people=human is not None,
            ),
        )
        self.sink = sink or NullSink()
        self.human = human
        self.sleep = sleep

    def run_sync(
        self,
        graph: Any,
        run_input: Any = None,
        run_id: str | None = None,
        budget: Budget | None = None,
        reuse: ReusePlan | None = None,
    ) -> RunResult:
        return asyncio.run(self.run(graph, run_input, run_id, budget, reuse))

    async def run(
        self,
        graph: Any,
        run_input: Any = None,
        run_id: str | None = None,
        budget: Budget | None = None,
        reuse: ReusePlan | None = None,
    ) -> RunResult:
        """Run ``graph`` to its end. ``budget`` caps the run's spend; every model call of every
        step charges that one object, so it also tells what the run spent. ``reuse``: recorded,
        edited or pinned outputs steps may take instead of executing (see runtime.reuse)."""
        plan = graph if isinstance(graph, Plan) else compile_graph(graph, self.registry)
        run_input = prepare_input(plan, run_input)
        run = _Run(self, plan, run_input, run_id or uuid.uuid4().hex, budget, reuse)
        try:
            return await run.execute()
        finally:
            run.close()


def task_result(child: StepRecord) -> TaskResult:
    """What a delegating step hears of a finished task (a reused task: the success it stands
    for)."""
    status = "succeeded" if child.status in SUCCEEDED_STEP_STATUSES else child.status
    return TaskResult(
        node_id=child.node,
        step_id=child.id,
        status=status,
        output=child.output,
        error=child.error,
    )


class _Run:
    """The state of one run while it executes."""

    def __init__(
        self,
        executor: InProcessExecutor,
        plan: Plan,
        run_input: Any,
        run_id: str,
        budget: Budget | None = None,
        reuse: ReusePlan | None = None,
    ) -> None:
        self.executor = executor
        self.reuse = reuse if reuse is not None and not reuse.empty else None
        self.executed: set[str] = set()  # top-level nodes executed, not reused
        self.reads: dict[str, frozenset[str]] = {}
        self.plan = plan
        self.run_input = run_input
        self.result = RunResult(run_id=run_id, status="running")
        self.outcomes: dict[str, str] = {}
        self.joins = JoinCounts(plan)  # every outcome of this run goes through advance
        self.outputs: dict[str, Any] = {}
        self.nodes_scope: dict[str, dict[str, Any]] = {}  # what templates read as nodes.<id>
        self.ready: deque[str] = deque()
        self.tasks: set[asyncio.Task[None]] = set()  # running: each removes itself as it ends
        self.loop: asyncio.AbstractEventLoop
        self.settled: asyncio.Future[None]  # resolved when no task is left
        self.crash: Exception | None = None  # the first exception a task raised
        self.failure: StepRecord | None = None
        self.waiting: list[StepRecord] = []
        self.child_counts: dict[str, int] = {}
        self.delegate_info: dict[str, tuple[dict[str, Any], ...]] = {}
        self.sink_emit = executor.sink.emit
        self.runner = StepRunner(
            services=executor.services,
            emit=self.emit,
            sleep=executor.sleep,
            delegate=self.delegate,
            human=executor.human,
            budget=budget,
        )

    def close(self) -> None:
        """The runner points back at this run (its emit and delegate): let go of it once the
        run is over, so that the run's records and events go when its caller drops them, not at
        the collector's next pass over an older generation (about 500 objects a 200-wide run
        left there, and full passes of 50-80 ms every second batch of bench/engine.py)."""
        del self.runner

    def emit(
        self, type_: EventType, step: StepRecord | None = None, data: dict[str, Any] | None = None
    ) -> None:
        if data is None:
            data = {}
        if step is None:
            event = Event(type_, self.result.run_id, None, None, self.result.status, data)
        else:  # twice per step: positional, one test
            event = Event(type_, self.result.run_id, step.id, step.node, step.status, data)
        self.sink_emit(event)

    async def execute(self) -> RunResult:
        self.result.started_at = time.time()
        self.emit("run.started", data={"input": self.run_input})
        self.ready.extend(initial_ready(self.plan))
        self.loop = asyncio.get_running_loop()
        self.settled = self.loop.create_future()
        try:
            # The first drive gets a task of its own too: a failure elsewhere must be able to
            # cancel the step it runs inline, and a branch cancelled that way must not surface
            # here as the whole run being cancelled.
            self.spawn(None)
            await self.settled
        except asyncio.CancelledError:
            await self.cancel_running()
            self.result.status = "cancelled"
            self.finish_run("run.cancelled", {})
            raise
        if self.crash is not None:
            raise self.crash
        return self.conclude()

    def spawn(self, step: StepRecord | None) -> None:
        # Named after its first step: a task left unnamed formats "Task-<n>" for itself.
        name = self.result.run_id if step is None else step.id
        self.tasks.add(self.loop.create_task(self.branch(step), name=name))

    async def branch(self, step: StepRecord | None) -> None:
        """Run ``step`` (None: none), then ready steps until none is left for this task.

        The last ready I/O step continues in the current task and the others get tasks of their
        own: a chain never pays for a task switch, a fan-out still runs its branches at once.
        Each task takes itself off ``tasks`` as it ends and the last one settles the run: a
        done callback and a gather over the tasks cost two more callbacks of the event loop per
        branch.
        """
        try:
            if step is not None:
                self.finish_step(await self.run_step(step))
            while self.ready and self.failure is None:
                node_id = self.ready.popleft()
                step = self.new_step(node_id)
                if self.reuse is not None and self.reused(step):
                    self.finish_step(step)
                    continue
                self.executed.add(node_id)
                if self.plan.nodes[node_id].type.pure or not self.ready:
                    self.finish_step(await self.run_step(step))
                else:
                    self.spawn(step)
        except Exception as exc:  # a bug, not a step's failure: the run raises it once all end
            if self.crash is None:
                self.crash = exc
        finally:
            # Cancelled (a step failed elsewhere) or not, this task is done with the run.
            self.task_ended(asyncio.current_task(self.loop))  # type: ignore[arg-type]

    def task_ended(self, task: asyncio.Task[None]) -> None:
        self.tasks.discard(task)
        if not self.tasks and not self.settled.done():
            self.settled.set_result(None)

    def new_step(
        self, node_id: str, parent: str | None = None, task_input: Any = None
    ) -> StepRecord:
        planned = self.plan.nodes[node_id]
        if parent is None:
            step_id = node_id
            value = step_input(self.plan, node_id, self.outputs, self.outcomes)
        else:
            count = self.child_counts[parent] = self.child_counts.get(parent, 0) + 1
            step_id = f"{parent}.{node_id}.{count}"
            value = task_input
        # Positional: a class called with keywords builds a dict of them first (once per step).
        step = StepRecord(step_id, node_id, planned.node.type, "pending", parent, value)
        self.result.steps[step_id] = step
        return step

    def reused(self, step: StepRecord) -> bool:
        """Give ``step`` a recorded, edited or pinned output if the reuse rule allows."""
        assert self.reuse is not None
        planned = self.plan.nodes[step.node]
        reads = self.reads.get(step.node)
        if reads is None:
            reads = self.reads[step.node] = template_reads(planned)
        dependencies = [*live_sources(self.plan, step.node, self.outcomes), *reads]
        decision = decide(
            self.reuse, step.node, planned.fingerprint, step.input, dependencies, self.executed
        )
        if decision is None:
            return False
        self.mark_reused(step, decision)
        return True

    def mark_reused(self, step: StepRecord, decision: Reused) -> None:
        assert self.reuse is not None
        step.status = "reused"
        step.output = decision.output
        step.branch = decision.branch
        step.started_at = step.finished_at = time.time()
        step.reused_from = self.reuse.link(decision)
        fingerprint = self.plan.nodes[step.node].fingerprint
        data = reused_event(self.reuse, decision, step.input, fingerprint)
        self.result.totals.add_reused(data["saved_cost"])
        self.emit("step.reused", step, data)

    async def run_step(self, step: StepRecord) -> StepRecord:
        planned = self.plan.nodes[step.node]
        scope = {"input": self.run_input, "nodes": self.nodes_scope, "upstream": step.input}
        delegates = self.plan.delegates[step.node]
        info = self.delegate_info.get(step.node)
        if info is None and delegates:
            info = self.delegate_info[step.node] = describe_delegates(self.plan, step.node)
        point = None
        if self.reuse is not None and step.parent is None:
            point = self.reuse.resume.get(step.node)
        start = None
        if point is not None:
            step.started_at = time.time()
            start = await self.replay_round(step, point)
        usage = await self.runner.run(
            self.result.run_id, planned, step, scope, delegates, info or (), start
        )
        self.result.totals.add(step, usage.by_model)
        return step

    async def delegate(
        self, parent: StepRecord, request: Delegate, round_: int
    ) -> list[TaskResult]:
        """Run the tasks as child steps, at most ``request.concurrency`` at once in task order;
        with ``stop_on_failure`` a failed task cancels those not started yet."""
        children = [
            self.new_step(task.node_id, parent=parent.id, task_input=task.input)
            for task in request.tasks
        ]
        self.emit(
            "step.delegated",
            parent,
            {
                "round": round_,
                "tasks": [{"step": child.id, "node": child.node} for child in children],
                "state": request.state,  # what a re-run from one of these tasks starts from
            },
        )
        limit = request.concurrency or len(children)
        if limit >= len(children) and not request.stop_on_failure:
            finished = await asyncio.gather(*(self.run_step(child) for child in children))
            return [task_result(child) for child in finished]
        waiting = deque(children)
        stopped = False

        async def worker() -> None:
            nonlocal stopped
            while waiting and not stopped:
                child = waiting.popleft()
                await self.run_step(child)
                if child.status == "failed" and request.stop_on_failure:
                    stopped = True

        await asyncio.gather(*(worker() for _ in range(min(limit, len(children)))))
        for child in waiting:  # not started: an earlier task failed
            child.status = "cancelled"
            child.finished_at = time.time()
            self.emit("step.cancelled", child)
        return [task_result(child) for child in children]

    async def replay_round(self, parent: StepRecord, point: ResumePoint) -> ResumeAt:
        """Make ``parent``'s tasks up to ``point.round`` again (reused, or executed when the
        rule says so) and what it resumes with after that round."""
        assert self.reuse is not None
        made: list[StepRecord] = []
        pending: list[StepRecord] = []
        for task in point.tasks:
            child = StepRecord(
                id=task.step,
                node=task.node,
                type=self.plan.nodes[task.node].node.type,
                parent=parent.id,
                input=task.input,
            )
            self.result.steps[child.id] = child
            number = int(task.step.rsplit(".", 1)[1])
            self.child_counts[parent.id] = max(self.child_counts.get(parent.id, 0), number)
            choice = point.task_decision(task)
            if choice is None:
                pending.append(child)
            else:
                self.mark_reused(child, choice)
            if task.round == point.round:
                made.append(child)
        self.emit(
            "step.delegated",
            parent,
            {
                "round": point.round,
                "tasks": [{"step": child.id, "node": child.node} for child in made],
                "state": point.state,
                "resumed_at": {"run": self.reuse.source_run, "task": point.rerun},
            },
        )
        await asyncio.gather(*(self.run_step(child) for child in pending))
        return ResumeAt(point.round + 1, point.state, [task_result(child) for child in made])

    def finish_step(self, step: StepRecord) -> None:
        node_id = step.node
        if step.status in SUCCEEDED_STEP_STATUSES:
            self.record_outcome(node_id, step.branch or "out", step.output)
        elif step.status == "failed":
            if takes_error_edge(self.plan, node_id, step.error or {}):
                # Routed along the error edge: it advances like any other outcome, so the
                # error branch is scheduled and the run goes on.
                self.record_outcome(node_id, ERROR_HANDLE, step.error)
            else:
                if self.failure is None:
                    self.failure = step
                    current = asyncio.current_task()
                    for task in list(self.tasks):
                        if task is not current:
                            task.cancel()
                            # A task cancelled before it began never runs its finally.
                            task.add_done_callback(self.task_ended)
                return
        elif step.status == "waiting":
            self.waiting.append(step)
            return
        else:
            return
        progress = advance(self.plan, self.outcomes, node_id, self.joins)
        for skipped in progress.skipped:
            self.outcomes[skipped] = SKIPPED
            record = self.new_step(skipped)
            record.status = "skipped"
            record.input = None
            self.emit("step.skipped", record)
        self.ready.extend(progress.ready)

    def record_outcome(self, node_id: str, branch: str, output: Any) -> None:
        self.outcomes[node_id] = branch
        self.outputs[node_id] = output
        self.nodes_scope[node_id] = {"output": output, "branch": branch}

    async def cancel_running(self) -> None:
        for task in self.tasks:
            task.cancel()
        if self.tasks:
            await asyncio.gather(*self.tasks, return_exceptions=True)
        for step in self.result.steps.values():
            if step.status in ("pending", "queued", "running", "waiting"):
                step.status = "cancelled"
                step.finished_at = time.time()
                self.emit("step.cancelled", step)

    def conclude(self) -> RunResult:
        if self.failure is not None:
            for step in self.result.steps.values():
                if step.status in ("pending", "running"):
                    step.status = "cancelled"
                    self.emit("step.cancelled", step)
            self.result.status = "failed"
            self.result.error = run_error(self.failure.id, self.failure.node, self.failure.error)
            self.finish_run("run.failed", {"error": self.result.error})
        elif self.waiting:
            self.result.status = "waiting"
            self.finish_run("run.waiting", {"steps": [step.id for step in self.waiting]})
        else:
            self.result.status = "succeeded"
            self.result.output = run_output(self.plan, self.outputs, self.outcomes)
            self.finish_run(
                "run.succeeded",
                {"output": self.result.output, "totals": self.result.totals.to_dict()},
            )
        return self.result

    def finish_run(self, type_: EventType, data: dict[str, Any]) -> None:
        self.result.finished_at = time.time()
        self.emit(type_, data=data)
