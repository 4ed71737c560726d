"""What running a tool needs of the step that calls it. The worker passes its
:class:`~runtime.nodes.base.StepContext`; naming only these keeps the tools below the node types
(as :class:`runtime.llm.ModelCallContext` does for model calls)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, Protocol

from runtime.budget import Budget
from runtime.events import Event
from runtime.flows import Flow
from runtime.records import RunResult
from runtime.usage import Usage


class FlowCall(Protocol):
    """One call of a workflow tool being recorded as child steps of the calling step: the
    nested run's events as they come (a sink), then how the call ended (``result`` None when it
    was stopped before the nested run ended: a time limit, a budget)."""

    def emit(self, event: Event) -> None: ...

    async def close(self, ok: bool, text: str, result: RunResult | None) -> None: ...


class FlowCallRecorder(Protocol):
    """Where a step's workflow tool calls are recorded (the server: Step rows of the run)."""

    async def open(
        self,
        call_id: str,
        tool: str,
        flow: Flow,
        arguments: dict[str, Any],
        node_types: dict[str, str],
    ) -> FlowCall: ...


class ToolCallContext(Protocol):
    @property
    def run_id(self) -> str: ...

    @property
    def step_id(self) -> str: ...

    @property
    def attempt(self) -> int: ...

    @property
    def round(self) -> int: ...

    @property
    def idempotency_key(self) -> str: ...

    @property
    def services(self) -> Any: ...

    @property
    def usage(self) -> Usage: ...

    @property
    def budget(self) -> Budget | None: ...

    @property
    def emit_chunk(self) -> Callable[[str], None]: ...

    @property
    def emit_tool_call(self) -> Callable[[dict[str, Any]], Awaitable[None]]: ...

    @property
    def flow_calls(self) -> FlowCallRecorder | None: ...
