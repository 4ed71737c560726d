"""What a node type is, what it may return, and what it is given when it runs.

A node type is a class with a settings model (its JSON Schema is what the canvas renders), its
handles, and an async ``run``. ``run`` returns one of three results:

- :class:`Complete`: the step is done, with an output and the branch (handle) it leaves by;
- :class:`Suspend`: the step waits for a person; it is run again with ``ctx.resume`` set to
  their answer (the approval gate is built on this);
- :class:`Delegate`: the step hands tasks to the nodes wired to it by ``delegate`` edges; each
  task runs as a child step and the node is run again with ``ctx.resume`` holding their results
  (the manager agent is built on this).

Suspending and delegating are control flow, not errors: failures raise :mod:`runtime.errors`.
"""

from __future__ import annotations

import builtins
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

from pydantic import BaseModel, ConfigDict

from runtime.graph import DEFAULT_SOURCE_HANDLE, ERROR_HANDLE, Node
from runtime.usage import Usage

if TYPE_CHECKING:
    from runtime.budget import Budget
    from runtime.services import Services
    from runtime.tools.context import FlowCallRecorder


class NodeConfig(BaseModel):
    """Base of every node type's settings: unknown keys are an error, not silently dropped."""

    model_config = ConfigDict(extra="forbid")


ConfigT = TypeVar("ConfigT", bound=NodeConfig)


@dataclass(frozen=True, slots=True)
class Complete:
    output: Any
    branch: str = DEFAULT_SOURCE_HANDLE


@dataclass(frozen=True, slots=True)
class Suspend:
    """Wait for a person. ``request`` is shown to them (what to judge, who may decide)."""

    request: dict[str, Any]


@dataclass(frozen=True, slots=True)
class DelegateTask:
    node_id: str  # a node wired to this one by a delegate edge
    input: Any


@dataclass(frozen=True, slots=True)
class Delegate:
    tasks: list[DelegateTask]
    state: Any = None  # handed back as ctx.state when the node resumes
    # At most this many tasks run at once (None: all); the rest wait their turn, in order.
    concurrency: int | None = None
    # The first failed task cancels the tasks not started yet (those running finish).
    stop_on_failure: bool = False


@dataclass(frozen=True, slots=True)
class TaskResult:
    node_id: str
    step_id: str
    status: str  # "succeeded" | "failed"
    output: Any = None
    error: dict[str, Any] | None = None


@dataclass(frozen=True, slots=True)
class RunFlow:
    """Run the flow ``ref`` (with this input) as steps of the run, and resume with how it ended:
    ``ctx.resume`` is ``{"flow": {"status": "succeeded", "output"} | {"status": "failed",
    "error"}}``. What a subflow step returns where sub-flows run as steps (the server)."""

    ref: str
    name: str
    input: Any
    lineage: tuple[tuple[str, str], ...]  # the flows around it, outermost first, and itself


NodeResult = Complete | Suspend | Delegate | RunFlow


async def _no_tool_call_record() -> None:
    return None


@dataclass(slots=True)
class StepContext:
    """Everything a node sees while it runs one step."""

    run_id: str
    step_id: str
    node: Node
    attempt: int
    input: Any
    scope: Mapping[str, Any]  # {"input": run input, "nodes": {id: {"output": …}}, "upstream": …}
    services: Services
    usage: Usage = field(default_factory=Usage)
    emit_chunk: Callable[[str], None] = lambda _text: None
    # A tool call's events (``step.tool_call``: running, then succeeded or failed); awaited, so
    # the executor may record them before the step goes on.
    emit_tool_call: Callable[[dict[str, Any]], Awaitable[None]] = field(
        default=lambda _call: _no_tool_call_record()
    )
    resume: Any = None  # a person's answer after Suspend, or list[TaskResult] after Delegate
    state: Any = None  # Delegate.state from the previous round
    round: int = 0  # how many times this step has resumed
    delegates: tuple[str, ...] = ()  # ids of the nodes this node may delegate to
    # One entry per delegate, in the order of ``delegates``: what a manager tells its model about
    # each ({"id", "type", "label", "role"?, "goal"?}); built by
    # :func:`runtime.plan.describe_delegates`.
    delegate_info: tuple[dict[str, Any], ...] = ()
    # The run's budget, shared by every model call of the run (None: no limit). See
    # :mod:`runtime.budget`.
    budget: Budget | None = None
    # Where a workflow called as a tool records its steps, as child steps of this one (None:
    # they run unrecorded and their spend is this step's). See runtime.tools.workflow_tool.
    flow_calls: FlowCallRecorder | None = None

    @property
    def idempotency_key(self) -> str:
        """The same for every attempt of this step in this round, different for any other: a
        step runs at least once (a killed worker's attempt is run again), so calls that change
        something send this for the receiver to drop repeats."""
        return f"{self.run_id}:{self.step_id}:{self.round}"


class NodeType(Generic[ConfigT]):
    """Subclass per node type; register the class in :mod:`runtime.nodes.registry`."""

    type: ClassVar[str]
    label: ClassVar[str]
    category: ClassVar[str]  # palette group: "io", "logic", "ai", "human"
    description: ClassVar[str] = ""
    config_model: ClassVar[builtins.type[NodeConfig]]
    inputs: ClassVar[tuple[str, ...]] = ("in",)
    has_error_handle: ClassVar[bool] = False
    can_delegate: ClassVar[bool] = False  # may have outgoing delegate edges
    delegatable: ClassVar[bool] = False  # may be the target of a delegate edge
    # Iteration nodes (map, loop) hand their items to a body of any type, and to exactly one.
    delegates_to_any: ClassVar[bool] = False
    # Pure nodes do no I/O and finish at once: the orchestrator may run them inline.
    pure: ClassVar[bool] = False

    def outputs(self, config: ConfigT) -> list[str]:
        handles = [DEFAULT_SOURCE_HANDLE]
        if self.has_error_handle:
            handles.append(ERROR_HANDLE)
        return handles

    def templates(self, config: ConfigT) -> dict[str, str]:
        """Settings fields that hold templates: field name → source (checked at validation)."""
        return {}

    def expressions(self, config: ConfigT) -> dict[str, str]:
        """Settings fields that hold expressions: field name → source."""
        return {}

    def retry_policy(self, config: ConfigT) -> Any:
        """The RetryPolicy for this node's steps, or None for a single attempt."""
        return getattr(config, "retry", None)

    async def run(self, ctx: StepContext, config: ConfigT) -> NodeResult:
        raise NotImplementedError

    def describe(self) -> dict[str, Any]:
        """The catalogue entry the canvas renders."""
        schema = self.config_model.model_json_schema()
        return {
            "type": self.type,
            "label": self.label,
            "category": self.category,
            "description": self.description,
            "inputs": list(self.inputs),
            "outputs": self._static_outputs(),
            "dynamic_outputs": self._dynamic_outputs_field(),
            "can_delegate": self.can_delegate,
            "delegatable": self.delegatable,
            "delegates_to_any": self.delegates_to_any,
            "config_schema": schema,
        }

    def _static_outputs(self) -> list[str]:
        try:
            return self.outputs(self.config_model.model_construct())  # type: ignore[arg-type]
        except Exception:
            return [DEFAULT_SOURCE_HANDLE]

    def _dynamic_outputs_field(self) -> str | None:
        """Name of the settings field whose entries add handles (a router's routes)."""
        return None

    def delegate_summary(self, node: Node, config: ConfigT) -> dict[str, Any]:
        """How a node of this type is described to a manager that may delegate to it."""
        summary: dict[str, Any] = {"id": node.id, "type": node.type, "label": node.title}
        for key in ("role", "goal"):
            value = getattr(config, key, None)
            if isinstance(value, str) and value.strip():
                summary[key] = value.strip()
        return summary
