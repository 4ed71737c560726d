"""Time travel's one rule: when a recorded step may stand in for executing a node again.

A new run made from an earlier one (re-run from a step, edit a step's output and continue, retry a
failed run on its own or a newer version) or a test run with pinned data executes only what it
must. Every executor asks :func:`decide` as a node becomes ready; a reused step takes the recorded
output, costs nothing and takes no time.

A node's recorded step is reused when

* the node is not at or after the point the user re-runs from (``forced``),
* nothing it depends on executed in the new run: every live source and every node its templates
  read was itself reused (so a changed node and everything downstream of it runs again, and an
  approval gate downstream of the re-run point asks again),
* its settings (type and config; not its label or position) are identical to the recorded ones,
* its resolved input is identical to the recorded input, and
* the recorded step succeeded or was itself reused (a failure, a skip or a cancellation is
  never reused).

An edited or pinned output replaces the recorded step of its node outright.
"""

from __future__ import annotations

from collections.abc import Container, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Literal

from jsonschema import Draft202012Validator

from runtime.events import SUCCEEDED_STEP_STATUSES

# node_fingerprint, the rule for "node unchanged", lives with the graph format; re-exported here.
from runtime.graph import canonical_json
from runtime.graph import node_fingerprint as node_fingerprint
from runtime.plan import Plan

ReuseKind = Literal["recorded", "edited", "pinned"]


def same_value(left: Any, right: Any) -> bool:
    """JSON equality (key order aside): values read back from the database compare equal."""
    return canonical_json(left) == canonical_json(right)


@dataclass(frozen=True, slots=True)
class Recorded:
    """A finished top-level step of the source run, as recorded."""

    step: str  # the step's key in its run
    fingerprint: str  # node_fingerprint of the node in the source run's version
    status: str
    input: Any
    output: Any
    branch: str | None
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0


@dataclass(frozen=True, slots=True)
class Reused:
    """The decision to reuse: what the step takes instead of executing."""

    kind: ReuseKind
    output: Any
    branch: str
    source: Recorded | None  # None for pinned data typed in the editor


@dataclass(frozen=True, slots=True)
class RecordedTask:
    """A delegated task of the source run, as recorded (a manager's subtask, a conversation
    turn): ``step`` is its key, ``<parent>.<node>.<n>``."""

    step: str
    node: str
    round: int
    input: Any
    status: str
    output: Any
    error: Any = None
    cost: float = 0.0
    tokens_in: int = 0
    tokens_out: int = 0

    def to_dict(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__slots__}


NO_EDIT: Any = object()  # no edited output given (None is an output like any other)


@dataclass(frozen=True)
class ResumePoint:
    """Where a delegating step (a manager, a conversation) picks up in a re-run from one of its
    tasks: the round that task belongs to, the state the step had when it handed that round out,
    the tasks of that round and of the rounds before, and the task that executes again (or takes
    an edited output). The step then goes on as it would have: its later rounds execute."""

    round: int
    state: Any
    tasks: tuple[RecordedTask, ...]  # every task of rounds up to ``round``, in the order made
    rerun: str  # the key of the task re-run from
    edited: Any = NO_EDIT

    def to_dict(self) -> dict[str, Any]:
        found = {
            "round": self.round,
            "state": self.state,
            "tasks": [task.to_dict() for task in self.tasks],
            "rerun": self.rerun,
        }
        if self.edited is not NO_EDIT:
            found["edited"] = self.edited
        return found

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ResumePoint:
        return cls(
            round=int(data["round"]),
            state=data.get("state"),
            tasks=tuple(RecordedTask(**task) for task in data.get("tasks", ())),
            rerun=str(data["rerun"]),
            edited=data.get("edited", NO_EDIT),
        )

    def task_decision(self, task: RecordedTask) -> Reused | None:
        """Whether a task of the resumed rounds is reused (as recorded, or edited) or executes:
        the task re-run from executes (unless edited), and so does a task that failed; earlier
        rounds' tasks are already part of the step's state and are only shown, as reused."""
        recorded = Recorded(
            task.step,
            "",
            task.status,
            task.input,
            task.output,
            "out",
            task.cost,
            task.tokens_in,
            task.tokens_out,
        )
        if task.step == self.rerun:
            if self.edited is NO_EDIT:
                return None
            return Reused("edited", self.edited, "out", recorded)
        if task.round == self.round and task.status not in SUCCEEDED_STEP_STATUSES:
            return None
        return Reused("recorded", task.output, "out", recorded)


@dataclass(frozen=True)
class ReusePlan:
    """What a new run may reuse: the source run's steps by node id, the nodes that must execute,
    and outputs given by the user (edited or pinned) by node id."""

    source_run: str | None = None
    recorded: Mapping[str, Recorded] = field(default_factory=dict)
    forced: frozenset[str] = frozenset()
    edited: Mapping[str, Any] = field(default_factory=dict)
    pinned: Mapping[str, Any] = field(default_factory=dict)
    # Delegating steps that pick up at a round instead of starting over, by node id.
    resume: Mapping[str, ResumePoint] = field(default_factory=dict)

    @property
    def empty(self) -> bool:
        return not (self.recorded or self.edited or self.pinned or self.resume)

    def link(self, decision: Reused) -> dict[str, Any]:
        """Where a reused step's output came from, as steps and events show it; for a recorded
        step, also what it had cost (carried along, so a re-run of a re-run still knows)."""
        source = decision.source
        if source is None:
            return {"kind": decision.kind, "run": None, "step": None}
        link: dict[str, Any] = {"kind": decision.kind, "run": self.source_run, "step": source.step}
        if decision.kind == "recorded":
            link["cost"] = source.cost
            link["tokens_in"] = source.tokens_in
            link["tokens_out"] = source.tokens_out
        return link


def reused_event(
    reuse: ReusePlan, decision: Reused, step_input: Any, fingerprint: str
) -> dict[str, Any]:
    """The data of a ``step.reused`` event: the output taken, where from, and what it saved;
    with the step's input and its node's settings fingerprint, so an exported log can be
    reused again."""
    link = reuse.link(decision)
    return {
        "input": step_input,
        "fingerprint": fingerprint,
        "output": decision.output,
        "branch": decision.branch,
        "from": link,
        "saved_cost": link.get("cost", 0.0),
        "saved_tokens": link.get("tokens_in", 0) + link.get("tokens_out", 0),
    }


def decide(
    reuse: ReusePlan,
    node_id: str,
    fingerprint: str,
    step_input: Any,
    dependencies: Iterable[str],
    executed: Container[str],
) -> Reused | None:
    """Whether node ``node_id``, ready with ``step_input``, reuses a step instead of executing.

    ``dependencies``: the nodes it depends on (its live sources and the nodes its templates
    read); ``executed``: the nodes the new run has executed (not reused) so far."""
    if node_id in reuse.edited:
        return Reused("edited", reuse.edited[node_id], "out", reuse.recorded.get(node_id))
    if node_id in reuse.pinned:
        return Reused("pinned", reuse.pinned[node_id], "out", None)
    if node_id in reuse.forced or any(source in executed for source in dependencies):
        return None
    recorded = reuse.recorded.get(node_id)
    if recorded is None or recorded.status not in SUCCEEDED_STEP_STATUSES:
        return None
    if recorded.fingerprint != fingerprint or not same_value(recorded.input, step_input):
        return None
    return Reused("recorded", recorded.output, recorded.branch or "out", recorded)


def downstream(plan: Plan, start: str, reads: Mapping[str, Iterable[str]]) -> set[str]:
    """``start`` and every node after it: along flow edges and to nodes whose templates read
    one of them."""
    readers: dict[str, set[str]] = {}
    for reader, sources in reads.items():
        for source in sources:
            readers.setdefault(source, set()).add(reader)
    found = {start}
    frontier = [start]
    while frontier:
        node_id = frontier.pop()
        targets = [edge.target for edge in plan.outgoing.get(node_id, ())]
        for target in [*targets, *readers.get(node_id, ())]:
            if target not in found:
                found.add(target)
                frontier.append(target)
    return found


Verdict = Literal["reuse", "execute", "skip"]


def forecast(
    plan: Plan, reuse: ReusePlan, reads: Mapping[str, Iterable[str]]
) -> dict[str, Verdict]:
    """What a new run would do with each node it schedules, in topological order, if every
    executed step behaved as recorded: the preview shown before a re-run starts.

    It assumes a node whose dependencies are all reused receives its recorded input; a node
    after an executed router is counted as executed (its branch is not known in advance)."""
    verdicts: dict[str, Verdict] = {}
    executed: set[str] = set()
    for node_id in plan.by_order(list(plan.nodes)):
        if node_id in plan.delegate_only:
            continue
        dependencies = [edge.source for edge in plan.incoming[node_id]]
        dependencies += list(reads.get(node_id, ()))
        recorded = reuse.recorded.get(node_id)
        untouched = not any(source in executed for source in dependencies)
        skipped = recorded is not None and recorded.status == "skipped"
        if skipped and untouched and node_id not in reuse.forced:
            verdicts[node_id] = "skip"
            continue
        step_input = recorded.input if recorded is not None else None
        fingerprint = plan.nodes[node_id].fingerprint
        if decide(reuse, node_id, fingerprint, step_input, dependencies, executed) is None:
            executed.add(node_id)
            verdicts[node_id] = "execute"
        else:
            verdicts[node_id] = "reuse"
    return verdicts


def output_problems(schema: Any, output: Any) -> list[str]:
    """Why an edited output does not fit the node's output schema (none: it fits)."""
    if not isinstance(schema, dict):
        return []
    validator = Draft202012Validator(schema)
    problems = []
    for error in sorted(validator.iter_errors(output), key=lambda e: list(e.absolute_path)):
        where = "/".join(str(part) for part in error.absolute_path) or "(the whole output)"
        problems.append(f"{where}: {error.message}")
    return problems[:20]
