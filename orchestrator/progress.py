"""Moving a run forward inside its run transaction: new steps, what a finished step makes
ready or skipped, a delegation round that is done, and the run's end.

What is ready, what is skipped and what a step receives are decided by :mod:`runtime.scheduling`
and how a failure ends by :mod:`runtime.failures`, the same functions the in-process executor
uses; this module applies their answers to the rows.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from orchestrator import reuse, waits
from orchestrator.models import Step
from orchestrator.spending import totals
from orchestrator.unit_of_work import (
    ACTIVE_STEP,
    FINISHED_RUN,
    OPEN_STEP,
    RunTransaction,
    insert_rows,
)
from runtime.events import SUCCEEDED_STEP_STATUSES
from runtime.failures import run_error
from runtime.nodes.base import Delegate, DelegateTask
from runtime.reuse import ResumePoint
from runtime.scheduling import SKIPPED, advance, input_from, is_complete, live_sources, run_output


def new_step(
    txn: RunTransaction,
    node_id: str,
    step_input: Any,
    *,
    parent: Step | None = None,
    number: int = 0,
    status: str = "queued",
    round_: int | None = None,
    flow: Step | None = None,
) -> Step:
    """A step of ``node_id``: a top-level step of the run's flow; a task delegated by ``parent``
    (key ``<parent>.<node>.<n>``); or, with ``flow``, a step of the flow that subflow step runs
    (key ``<flow step>/<node>``)."""
    in_flow = flow if flow is not None else parent.in_flow if parent is not None else None
    # A delegated task: the round of its parent it belongs to (a flow's steps belong to none).
    handed_in = None
    if parent is not None and flow is None:
        handed_in = round_ if round_ is not None else parent.round
    node = txn.version_for(in_flow.pk if in_flow else None).plan.nodes[node_id].node
    if flow is not None:
        key, parent = f"{flow.key}/{node_id}", flow
    else:
        key = node_id if parent is None else f"{parent.key}.{node_id}.{number}"
    step = Step(
        run=txn.run,
        key=key,
        node_id=node_id,
        node_type=node.type,
        parent=parent,
        in_flow=in_flow,
        status=status,
        input=step_input,
        round=handed_in or 0,
        task_round=handed_in,
        finished_at=timezone.now() if status in ("skipped", "reused") else None,
    )
    if parent is None:
        # Inserted when the transaction ends or needs it read (see RunTransaction.flush). A
        # delegated task is written now: its siblings and parent are read back from the table.
        txn.unsaved.append(step)
    else:
        step.save(force_insert=True)
    if status == "queued":
        txn.emit("step.queued", step, {"parent": parent.key if parent else None})
        txn.created[id(step)] = step
    return step


# Outcomes this process's transactions left behind, by (run, flow): the run's last event number
# when the transaction committed, and the outcomes then. Every change of a step's outcome emits
# an event under the run's lock, so a later transaction that locks the run and finds the same
# number knows nobody changed it since and goes on from them instead of reading them again: a
# chain's steps, recorded one transaction each by the lane that runs them, read them once.
_left: dict[tuple[Any, Any], tuple[int, dict[str, str]]] = {}
MAX_LEFT = 256


def _leave(txn: RunTransaction, flow_id: Any, outcomes: dict[str, str]) -> None:
    """Keep a flow's outcomes for the run's next transaction here, once this one commits (the
    number and the copy taken then, with what the rest of the transaction added)."""

    def committed() -> None:
        if len(_left) >= MAX_LEFT:
            del _left[next(iter(_left))]  # the oldest
        _left[(txn.run.pk, flow_id)] = (txn.run.last_seq, dict(outcomes))

    transaction.on_commit(committed)


def _outcomes(txn: RunTransaction, flow_id: Any = None) -> dict[str, str]:
    """Outcomes (branch or SKIPPED) of the finished steps of one flow (the run's: ``flow_id``
    None; a sub-flow's: its subflow step's id); outputs stay behind.

    Read once per transaction (or taken from the run's last transaction here, see _left);
    :func:`advance_after` keeps the copy current."""
    known = txn.outcomes.get(flow_id)
    if known is not None:
        return known
    left = _left.pop((txn.run.pk, flow_id), None)
    if left is not None and left[0] == txn.locked_seq:
        txn.outcomes[flow_id] = left[1]
        _leave(txn, flow_id, left[1])
        return left[1]
    txn.flush()
    outcomes: dict[str, str] = {}
    rows = Step.objects.filter(
        run=txn.run,
        parent_id=flow_id,
        status__in=(*SUCCEEDED_STEP_STATUSES, "failed", "skipped"),
    ).values_list("node_id", "status", "branch")
    for node_id, status, branch in rows:
        if status == "skipped":
            outcomes[node_id] = SKIPPED
        elif branch:  # a failed step has a branch only when its error edge handles it
            outcomes[node_id] = branch
    txn.outcomes[flow_id] = outcomes
    _leave(txn, flow_id, outcomes)
    return outcomes


def _outputs(
    txn: RunTransaction, node_ids: set[str], finished: Step, flow_id: Any = None
) -> dict[str, Any]:
    """Outputs of some finished steps of one flow (those finished in this transaction are in
    hand; some of them are not even inserted yet)."""
    outputs: dict[str, Any] = {
        node_id: step.output
        for node_id, step in txn.finished.get(flow_id, {}).items()
        if node_id in node_ids and step.branch
    }
    if finished.node_id in node_ids and finished.parent_id == flow_id:
        outputs[finished.node_id] = finished.output
    wanted = node_ids - outputs.keys()
    if wanted:
        rows = Step.objects.filter(
            run=txn.run, parent_id=flow_id, node_id__in=wanted, branch__isnull=False
        ).values_list("node_id", "output")
        outputs.update(rows)
    return outputs


def advance_after(txn: RunTransaction, finished: Step) -> None:
    """A step of a flow (the run's, or a sub-flow's) left by a branch: make ready and skip what
    that decides, and end the flow when every node has its outcome. A node made ready either
    executes (queued) or, in a run made from an earlier one, reuses a recorded step, which
    advances the run in turn."""
    flow_id = finished.in_flow_id
    flow = txn.flow_step(flow_id)
    plan = txn.version_for(flow_id).plan
    outcomes = _outcomes(txn, flow_id)
    done = [finished]
    while done:
        finished = done.pop()
        txn.finished.setdefault(flow_id, {})[finished.node_id] = finished
        outcomes[finished.node_id] = finished.branch or "out"  # when read before it finished
        progress = advance(plan, outcomes, finished.node_id)
        # Each node becomes ready or skipped exactly once: when the last of its incoming edges
        # is decided, which happens in exactly one (conditional, run-locked) completion. The
        # unique (run, key) constraint backs that up.
        for node_id in progress.skipped:
            outcomes[node_id] = SKIPPED
            step = new_step(txn, node_id, None, status="skipped", flow=flow)
            txn.emit("step.skipped", step, {})
        sources = {node_id: live_sources(plan, node_id, outcomes) for node_id in progress.ready}
        complete = is_complete(plan, outcomes)
        needed = {source for live in sources.values() for source in live}
        if complete:
            needed |= set(plan.output_nodes)
        outputs = _outputs(txn, needed, finished, flow_id)
        for node_id, live in sources.items():
            reused = start_or_reuse(txn, node_id, input_from(live, outputs), live, flow)
            if reused is not None:
                done.append(reused)
        if complete:
            output = run_output(plan, outputs, outcomes)
            if flow is None:
                _succeed_run(txn, output)
            else:
                flow_ended(txn, flow, {"status": "succeeded", "output": output})


def start_roots(txn: RunTransaction, flow: Step | None = None) -> None:
    """A flow's first steps: the run's (each queued or reused), or those of the flow the
    subflow step ``flow`` runs (queued)."""
    plan = txn.version_for(flow.pk if flow else None).plan
    for node_id in plan.roots:
        reused = start_or_reuse(txn, node_id, None, [], flow)
        if reused is not None:
            advance_after(txn, reused)


def flow_ended(txn: RunTransaction, flow: Step, outcome: dict[str, Any]) -> None:
    """The flow a subflow step runs has ended: the step resumes with how (``{"status":
    "succeeded", "output"}`` or ``{"status": "failed", "error"}``). On a failure the flow's
    steps not finished are cancelled first."""
    if outcome["status"] != "succeeded":
        txn.flush_claimed()  # a step that ended here is not open any more
        open_steps = Step.objects.filter(run=txn.run, in_flow=flow, status__in=OPEN_STEP)
        for step in open_steps.order_by("id"):
            step.status = "cancelled"
            step.claim = None
            step.lease_expires_at = None
            step.finished_at = timezone.now()
            step.save(update_fields=["status", "claim", "lease_expires_at", "finished_at"])
            txn.emit("step.cancelled", step, {"reason": "its sub-flow failed"})
    flow = Step.objects.select_for_update().get(pk=flow.pk)
    if flow.status != "waiting":
        return
    flow.resume = {"flow": {**outcome, "name": (flow.flow or {}).get("name")}}
    flow.round += 1
    flow.attempt = 0  # resuming is not a retry
    flow.status = "queued"
    flow.due_at = timezone.now()
    flow.save()
    txn.emit("step.resumed", flow, {"round": flow.round})
    txn.queue(flow)


def flow_failed(txn: RunTransaction, failed: Step) -> None:
    """A step of a sub-flow failed with no error edge to take: the sub-flow fails, and its
    subflow step resumes to say so (it fails in turn, by its own rules)."""
    flow = txn.flow_step(failed.in_flow_id)
    assert flow is not None
    # Named by its node, as an in-process sub-flow names its step: the same message anywhere.
    flow_ended(txn, flow, {"status": "failed", "error": failed.error, "step": failed.node_id})


def start_or_reuse(
    txn: RunTransaction, node_id: str, step_input: Any, live: list[str], flow: Step | None = None
) -> Step | None:
    """Queue a ready node of a flow, or give it a reused step (returned: it is finished), or
    let a top-level one pick up at a round of its delegated tasks (a re-run from one of them)."""
    point = reuse.resume_point(txn, node_id) if txn.run.reuse and flow is None else None
    if point is not None:
        start_at_round(txn, node_id, step_input, point)
        return None
    decision = reuse.decision(txn, node_id, step_input, live, flow) if txn.run.reuse else None
    if decision is None:
        txn.queue(new_step(txn, node_id, step_input, flow=flow))
        return None
    step = new_step(txn, node_id, step_input, status="reused", flow=flow)
    reuse.apply(txn, step, decision)
    if step.pk is not None:
        step.save()  # a sub-flow's step is written when made: write what reuse gave it
    return step


def start_at_round(txn: RunTransaction, node_id: str, step_input: Any, point: ResumePoint) -> None:
    """A delegating step that picks up at ``point.round``: it waits with the state it had when
    it handed that round out, its tasks up to that round are made again (reused, or queued
    when they execute again), and it resumes once that round's tasks are done."""
    reuse.note_executed(txn, node_id)
    step = new_step(txn, node_id, step_input, status="waiting")
    step.round = point.round
    step.state = point.state
    step.started_at = timezone.now()
    txn.flush()  # its tasks point at it
    links = reuse.source_plan(txn)
    made: list[Step] = []
    for task in point.tasks:
        number = int(task.step.rsplit(".", 1)[1])
        choice = point.task_decision(task)
        status = "queued" if choice is None else "reused"
        child = new_step(
            txn, task.node, task.input, parent=step, number=number, status=status, round_=task.round
        )
        if choice is not None:
            reuse.apply(txn, child, (links, choice))
            child.save()
        made.append(child)
    txn.emit(
        "step.delegated",
        step,
        {
            "round": point.round,
            "tasks": [
                {"step": c.key, "node": c.node_id} for c in made if c.task_round == point.round
            ],
            "state": point.state,
            "resumed_at": {"run": links.source_run, "task": point.rerun},
        },
    )
    for child in made:
        if child.status == "queued":
            txn.queue(child)
    if made and all(child.status != "queued" for child in made):
        child_finished(txn, made[-1])  # nothing executes again in that round: go on at once


def fan_out_of(request: Delegate, *, base: int) -> dict[str, Any] | None:
    """How a delegation's tasks are started: all at once (None), or ``concurrency`` at a time
    in order, the next as one finishes (counts kept on the delegating step, under the run's
    lock: no scan of the siblings per finished task)."""
    total = len(request.tasks)
    limit = request.concurrency or total
    if limit >= total and not request.stop_on_failure:
        return None
    nodes = {task.node_id for task in request.tasks}
    return {
        "concurrency": limit,
        "stop": request.stop_on_failure,
        "total": total,
        "base": base,  # tasks of earlier rounds: this round's keys are numbered after them
        "node": nodes.pop() if len(nodes) == 1 else None,
        "started": min(limit, total),
        "done": 0,
        "stopped": False,
    }


def new_tasks(txn: RunTransaction, parent: Step, tasks: list[DelegateTask]) -> list[Step]:
    """A delegation's tasks as child steps, inserted together: queued as many as may run at once
    (all, or the step's ``fan_out`` concurrency), the rest pending until a place frees up."""
    fan = parent.fan_out
    start = fan["started"] if fan else len(tasks)
    base = fan["base"] if fan else parent.children.count()
    now = timezone.now()
    children = [
        Step(
            run=txn.run,
            key=f"{parent.key}.{task.node_id}.{base + number}",
            node_id=task.node_id,
            node_type=txn.version_for(parent.in_flow_id).plan.nodes[task.node_id].node.type,
            parent=parent,
            in_flow_id=parent.in_flow_id,
            status="queued" if number <= start else "pending",
            input=task.input,
            round=parent.round,
            task_round=parent.round,
            due_at=now,
        )
        for number, task in enumerate(tasks, start=1)
    ]
    txn.flush()
    insert_rows(children)
    for child in children[:start]:
        txn.emit("step.queued", child, {"parent": parent.key})
        txn.queue(child)
    return children


def child_finished(txn: RunTransaction, child: Step) -> None:
    """A task is done: start the next one where tasks run a few at a time, and once the last
    task of the round is done, the delegating step resumes with every result in task order.

    The writes this transaction holds back (the task's own end, the next task's claim) are
    flushed only before a read of the tasks that must see them: an item that starts the next
    one by its key reads nothing of the kind, and its writes go in the transaction's one batch
    at the end."""
    parent = txn.parents.get(child.parent_id)
    if parent is None:
        # Read on every finished task: not with a map's whole list of items (its input) and
        # the other large fields it does not need here. Once per transaction: tasks that end
        # together are recorded together.
        parent = (
            Step.objects.select_for_update()
            .defer("input", "output", "state", "request", "resume", "error")
            .get(pk=child.parent_id)
        )
        txn.parents[parent.pk] = parent
    if parent.status != "waiting":
        return
    fan = parent.fan_out
    if fan is not None:
        if not _next_task(txn, parent, fan, child):
            return
    else:
        txn.flush()
        finished = (*SUCCEEDED_STEP_STATUSES, "failed", "cancelled")
        pending = parent.children.filter(task_round=parent.round).exclude(status__in=finished)
        if pending.exists():
            return
    txn.flush()
    siblings = parent.children.filter(task_round=parent.round).order_by("id")
    parent.resume = {
        "tasks": [
            {
                "node_id": node_id,
                "step_id": key,
                # A reused task hands its step the success it stands for.
                "status": "succeeded" if status in SUCCEEDED_STEP_STATUSES else status,
                "output": output,
                "error": error,
            }
            for node_id, key, status, output, error in siblings.values_list(
                "node_id", "key", "status", "output", "error"
            )
        ]
    }
    parent.round += 1
    parent.attempt = 0  # attempts count within a round: resuming is not a retry
    parent.status = "queued"
    parent.fan_out = None
    parent.due_at = timezone.now()  # else the sweeper takes it for a lost message at once
    parent.save()
    txn.emit("step.resumed", parent, {"round": parent.round})
    txn.queue(parent)


def _next_task(txn: RunTransaction, parent: Step, fan: dict[str, Any], child: Step) -> bool:
    """Count ``child`` done and start the next pending task (or, after a failure that stops
    the rest, cancel them all); True once every task of the round is done."""
    fan["done"] += 1
    failed = child.status in ("failed", "cancelled")
    if failed and fan["stop"] and not fan["stopped"]:
        fan["stopped"] = True
        fan["done"] += _cancel_pending(txn, parent)
    elif not fan["stopped"] and fan["started"] < fan["total"]:
        fan["started"] += 1
        number = fan["base"] + fan["started"]
        if fan["node"] is not None:  # its key is known: one probe of the (run, key) index
            key = f"{parent.key}.{fan['node']}.{number}"
            waiting = Step.objects.filter(run_id=parent.run_id, key=key, status="pending").first()
        else:
            txn.flush()  # the tasks made queued here are not pending any more
            waiting = parent.children.filter(status="pending").order_by("id").first()
        if waiting is not None:
            txn.make_queued(waiting)
            txn.emit("step.queued", waiting, {"parent": parent.key})
            txn.queue(waiting)
    txn.write_at_end(parent, "fan_out")
    return bool(fan["done"] >= fan["total"])


def _cancel_pending(txn: RunTransaction, parent: Step) -> int:
    txn.flush()  # the tasks made queued here are not pending any more
    now = timezone.now()
    pending = parent.children.filter(task_round=parent.round, status="pending")
    cancelled = list(pending.order_by("id"))
    Step.objects.filter(pk__in=[step.pk for step in cancelled]).update(
        status="cancelled", finished_at=now
    )
    for step in cancelled:
        step.status = "cancelled"
        txn.emit("step.cancelled", step, {"reason": "an earlier task failed"})
    return len(cancelled)


def _succeed_run(txn: RunTransaction, output: Any) -> None:
    run = txn.run
    run.status = "succeeded"
    run.output = output
    run.finished_at = timezone.now()
    txn.touch("status", "output", "finished_at")
    txn.emit("run.succeeded", data={"output": output, "totals": totals(run)})


def fail_run(txn: RunTransaction, step: Step) -> None:
    error = run_error(step.key, step.node_id, step.error)
    txn.run.error = error
    txn.touch("error")
    close_run(txn, "failed")
    txn.emit("run.failed", data={"error": error})


def close_run(txn: RunTransaction, status: str) -> None:
    """End the run: every step not finished is cancelled (a running one loses its lease), and
    every kind of wait hears that nobody can answer any more."""
    run = txn.run
    run.status = status
    run.finished_at = timezone.now()
    txn.touch("status", "finished_at")
    txn.flush()  # the steps made here are cancelled too
    waits.run_closed(txn)
    # One statement for them all (a map's thousands of pending items): nothing else changes
    # this run's steps while its row is locked.
    still_open = Step.objects.filter(run=run, status__in=OPEN_STEP)
    cancelled = list(still_open.order_by("id").only("id", "key", "node_id"))
    still_open.update(
        status="cancelled", claim=None, lease_expires_at=None, finished_at=run.finished_at
    )
    for step in cancelled:
        step.status = "cancelled"
        txn.emit("step.cancelled", step, {})


def settle_status(txn: RunTransaction) -> None:
    """A run with nothing queued or running but a step waiting for a person is ``waiting``."""
    run = txn.run
    if run.status in FINISHED_RUN or (txn.active and run.status == "running"):
        return
    txn.flush()  # a step that ended here is not running any more, one claimed here is
    active = any(step.status in ACTIVE_STEP for step in txn.unsaved) or (
        Step.objects.filter(run=run, status__in=ACTIVE_STEP).exists()
    )
    waiting_for_person = (
        not active
        and Step.objects.filter(run=run, status="waiting", request__isnull=False).exists()
    )
    status = "waiting" if waiting_for_person else "running"
    if status != run.status:
        run.status = status
        txn.touch("status")
        if status == "waiting":
            txn.emit("run.waiting", data={})
