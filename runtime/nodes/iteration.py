"""Iteration: ``map`` runs a body once per item of a list, ``loop`` runs a body again and again
until a condition holds.

The body is the one node wired to the iteration node by a ``delegate`` edge: any node that takes
an input (a worker, a transform, an HTTP request, an approval gate, a subflow node for a whole
workflow). Each run of the body is a child step, on the step machinery managers use (a
:class:`~runtime.nodes.base.Delegate`): on the server every item or iteration is a step on the
Celery workers with its own status, output, tokens and cost, shown live and counted in the run's
budget; in-process they are child steps of the run as well.

``map`` hands out every item at once with a ``concurrency`` limit (the engine starts the next
item as one finishes, in order) and puts the results back in item order. ``on_item_error``:

* ``stop``: the first failed item stops the map (items not started are cancelled) and the step
  fails, naming the item;
* ``skip``: failed items are left out of the output;
* ``collect``: the output is ``{"results": [...], "errors": [{"index", "step", "error"}]}``,
  with ``null`` in ``results`` where an item failed.

``loop`` hands the body its input, then each iteration's output to the next, until ``until``
(an expression over ``output``, ``iteration`` and the usual names) holds or ``max_iterations``
is reached; it outputs the last iteration's output. A loop has no default maximum: leaving it
out is a validation error, so no loop can run for ever.
"""

from __future__ import annotations

from typing import Any, ClassVar, Literal

from pydantic import Field

from runtime.errors import PermanentError
from runtime.graph import json_kind
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
from runtime.sandbox import compile_expression

MAX_ITEMS = 10_000  # items one map may hand out; a longer list is refused, not truncated
MAX_CONCURRENCY = 64
MAX_ITERATIONS = 100


class MapConfig(NodeConfig):
    items: str = Field(
        default="upstream",
        min_length=1,
        max_length=2_000,
        title="Items",
        description="An expression giving the list to map over, e.g. upstream.leads or "
        "nodes.search.output.results",
        json_schema_extra={"widget": "expression"},
    )
    concurrency: int = Field(
        default=4,
        ge=1,
        le=MAX_CONCURRENCY,
        title="Concurrency",
        description="How many items run at once (across all workers)",
    )
    max_items: int = Field(
        default=1_000,
        ge=1,
        le=MAX_ITEMS,
        title="Item limit",
        description=f"A longer list fails the step instead of running (at most {MAX_ITEMS})",
    )
    on_item_error: Literal["stop", "skip", "collect"] = Field(
        default="stop",
        title="When an item fails",
        description="stop: fail the map (items not started are cancelled); skip: leave it out "
        "of the output; collect: output {results, errors} with null where an item failed",
    )


def _error_of(result: TaskResult) -> dict[str, Any]:
    if result.status == "cancelled":
        return {"code": "cancelled", "message": "cancelled: an earlier item failed"}
    return dict(result.error or {"code": "failed", "message": "the item failed"})


class MapNode(NodeType[MapConfig]):
    type = "map"
    label = "Map"
    category = "logic"
    description = (
        "Runs the node wired to it (by a delegate edge) once per item of a list, in parallel up "
        "to a limit; outputs the results in item order."
    )
    config_model = MapConfig
    has_error_handle = True
    can_delegate = True
    delegates_to_any = True
    expression_names: ClassVar[frozenset[str]] = frozenset()

    def expressions(self, config: MapConfig) -> dict[str, str]:
        return {"items": config.items}

    async def run(self, ctx: StepContext, config: MapConfig) -> NodeResult:
        if ctx.resume is not None:
            return Complete(self.gather(config, list(ctx.resume)))
        items = compile_expression(config.items).evaluate(ctx.scope)
        if not isinstance(items, list):
            raise PermanentError(
                f"map {ctx.node.id!r}: items must be a list; {config.items!r} gave "
                f"{json_kind(items)}"
            )
        if len(items) > config.max_items:
            raise PermanentError(
                f"map {ctx.node.id!r}: {len(items)} items is more than its item limit of "
                f"{config.max_items} (max_items; at most {MAX_ITEMS})"
            )
        if not items:
            return Complete([])
        (body,) = ctx.delegates
        return Delegate(
            [DelegateTask(body, item) for item in items],
            concurrency=config.concurrency,
            stop_on_failure=config.on_item_error == "stop",
        )

    @staticmethod
    def gather(config: MapConfig, results: list[TaskResult]) -> Any:
        failed = [(index, r) for index, r in enumerate(results) if r.status != "succeeded"]
        if config.on_item_error == "stop" and failed:
            index, first = next(((i, r) for i, r in failed if r.status != "cancelled"), failed[0])
            message = _error_of(first).get("message", "failed")
            raise PermanentError(
                f"item {index + 1} of {len(results)} failed ({first.step_id}): {message}"
            )
        if config.on_item_error == "skip":
            return [r.output for r in results if r.status == "succeeded"]
        if config.on_item_error == "collect":
            return {
                "results": [r.output if r.status == "succeeded" else None for r in results],
                "errors": [
                    {"index": index, "step": r.step_id, "error": _error_of(r)}
                    for index, r in failed
                ],
            }
        return [r.output for r in results]


class LoopConfig(NodeConfig):
    until: str = Field(
        default="",
        max_length=2_000,
        title="Stop when",
        description="An expression over output (the last iteration's), iteration (1, 2, …) "
        "and the usual names, e.g. 'APPROVED' in output; empty: run max_iterations times",
        json_schema_extra={"widget": "expression"},
    )
    max_iterations: int = Field(
        ge=1,
        le=MAX_ITERATIONS,
        title="At most",
        description=f"How many iterations at most (1 to {MAX_ITERATIONS}); required",
    )


class LoopNode(NodeType[LoopConfig]):
    type = "loop"
    label = "Loop"
    category = "logic"
    description = (
        "Runs the node wired to it (by a delegate edge) again and again, each time on the last "
        "output, until a condition holds or a maximum count."
    )
    config_model = LoopConfig
    has_error_handle = True
    can_delegate = True
    delegates_to_any = True
    expression_names: ClassVar[frozenset[str]] = frozenset({"output", "iteration"})

    def expressions(self, config: LoopConfig) -> dict[str, str]:
        return {"until": config.until} if config.until.strip() else {}

    async def run(self, ctx: StepContext, config: LoopConfig) -> NodeResult:
        (body,) = ctx.delegates
        if ctx.resume is None:
            return Delegate([DelegateTask(body, ctx.input)], state={"iteration": 1})
        (result,) = list(ctx.resume)
        iteration = int((ctx.state or {}).get("iteration", 1))
        if result.status != "succeeded":
            message = (result.error or {}).get("message", "failed")
            raise PermanentError(f"iteration {iteration} ({result.step_id}) failed: {message}")
        done = iteration >= config.max_iterations
        if config.until.strip() and not done:
            scope = {**ctx.scope, "output": result.output, "iteration": iteration}
            done = bool(compile_expression(config.until).evaluate(scope))
        if done:
            return Complete(result.output)
        return Delegate([DelegateTask(body, result.output)], state={"iteration": iteration + 1})
