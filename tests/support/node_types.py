"""Node types for tests: real node types (registered in a registry, run by the real executors)
whose behaviour a test sets through their settings: fail N attempts, delegate by rounds.

Used by the engine's own tests and by the tests that run one graph through both executors.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from pydantic import Field

from runtime.errors import PermanentError, RateLimitError
from runtime.nodes.base import (
    Complete,
    Delegate,
    DelegateTask,
    NodeConfig,
    NodeResult,
    NodeType,
    StepContext,
    TaskResult,
)
from runtime.retry import RetryPolicy


class FailingConfig(NodeConfig):
    failures: int = 1  # attempts that fail before one succeeds
    error: Literal["rate_limited", "permanent", "bug"] = "permanent"
    retry_after: float | None = 0.25
    retry: RetryPolicy = Field(default_factory=RetryPolicy)


class Failing(NodeType[FailingConfig]):
    type = "test_failing"
    label = "Failing"
    category = "ai"
    config_model = FailingConfig
    has_error_handle = True

    async def run(self, ctx: StepContext, config: FailingConfig) -> NodeResult:
        if ctx.attempt <= config.failures:
            if config.error == "rate_limited":
                raise RateLimitError("the vendor says slow down", retry_after=config.retry_after)
            if config.error == "bug":
                raise KeyError("oops")
            raise PermanentError(f"{ctx.node.id} cannot do this")
        return Complete(f"done on attempt {ctx.attempt}")


class ManagerConfig(NodeConfig):
    rounds: int = 2
    rogue: str | None = None  # delegate to this node id instead (not wired: must fail)
    delegate_nothing: bool = False  # hand out an empty task list (must fail: nothing to wait for)


class Manager(NodeType[ManagerConfig]):
    """A manager agent in miniature: hands a task to every delegate per round, then synthesises."""

    type = "test_manager"
    label = "Manager"
    category = "ai"
    config_model = ManagerConfig
    can_delegate: ClassVar[bool] = True

    def __init__(self) -> None:
        self.history: list[list[TaskResult]] = []
        self.rounds_seen: list[int] = []

    async def run(self, ctx: StepContext, config: ManagerConfig) -> NodeResult:
        self.rounds_seen.append(ctx.round)
        if config.rogue:
            return Delegate([DelegateTask(config.rogue, "anything")])
        if config.delegate_nothing:
            return Delegate([])
        history: list[list[TaskResult]] = list(ctx.state or [])
        if ctx.round:
            history.append(list(ctx.resume))
        if ctx.round < config.rounds:
            tasks = [
                DelegateTask(node_id, f"round {ctx.round + 1} for {node_id}: {ctx.input}")
                for node_id in ctx.delegates
            ]
            return Delegate(tasks, state=history)
        self.history = history
        return Complete("synthesis of " + ", ".join(r.step_id for rnd in history for r in rnd))
