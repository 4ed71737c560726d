"""Sub-flows run inline, for the in-process executor: compiled against a node registry and run to
their end by a fresh in-process executor, nested inside the step that calls them (its steps are
not steps of the run there; on the server they are, see ``runtime.services.SubflowsAsSteps``).

The executor class is handed in rather than imported: the in-process executor provides this
runner itself (``Services.subflows``), so importing it here would close a circle.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

from runtime.budget import Budget
from runtime.events import EventSink
from runtime.nodes.registry import NodeRegistry
from runtime.plan import Plan
from runtime.records import RunResult
from runtime.services import Services
from runtime.validation import compile_graph


class FlowExecutor(Protocol):
    async def run(
        self,
        graph: Any,
        run_input: Any = None,
        run_id: str | None = None,
        budget: Budget | None = None,
    ) -> RunResult: ...


# (registry, services, sink) → an executor; the in-process executor's class is one.
ExecutorFactory = Callable[[NodeRegistry, Services, EventSink], FlowExecutor]


@dataclass(frozen=True)
class InlineSubflow:
    plan: Plan
    registry: NodeRegistry
    executor: ExecutorFactory

    @property
    def node_types(self) -> dict[str, str]:
        return {node_id: planned.type.type for node_id, planned in self.plan.nodes.items()}

    async def run(
        self,
        run_input: Any,
        *,
        services: Services,
        sink: EventSink,
        run_id: str,
        budget: Budget | None,
    ) -> RunResult:
        executor = self.executor(self.registry, services, sink)
        return await executor.run(self.plan, run_input, run_id=run_id, budget=budget)


@dataclass(frozen=True)
class InlineSubflows:
    """A :class:`~runtime.services.SubflowRunner` that runs sub-flows in this process."""

    registry: NodeRegistry
    executor: ExecutorFactory
    # Whether the executors it makes can ask a person (an approval gate inside can be decided).
    answers_people: bool = False

    def compile(self, graph: Any) -> InlineSubflow:
        return InlineSubflow(compile_graph(graph, self.registry), self.registry, self.executor)
