"""What surrounds each step's attempt on a worker: its ids on every log line made inside, a line
when it ends (what it came to, how long it took, what it spent), its metrics and its span (a
child of the run's, orchestrator.tracing).

:func:`attempt` wraps the coroutine of a step run on the process loop (each runs in an asyncio
task of its own, so steps running at once keep their own ids); :func:`observed` is the same
around a pure step, which runs inline in its transaction.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

from orchestrator import metrics, tracing
from runtime.errors import StepError
from runtime.log_context import bound
from runtime.nodes.base import Complete, Delegate, RunFlow, StepContext, Suspend

if TYPE_CHECKING:
    from orchestrator.transitions import Claimed

log = logging.getLogger("orchestrator.steps")
T = TypeVar("T")


@dataclass
class Outcome:
    """How an attempt ended: succeeded, failed, waiting (for a person), delegated (tasks),
    subflow (a flow started), cancelled (its lease lost, or the run cancelled)."""

    status: str = "failed"
    error: str | None = None

    def of(self, result: Any) -> None:
        if isinstance(result, Complete):
            self.status = "succeeded"
        elif isinstance(result, Suspend):
            self.status = "waiting"
        elif isinstance(result, Delegate):
            self.status = "delegated"
        elif isinstance(result, RunFlow):
            self.status = "subflow"


@contextlib.contextmanager
def observed(claimed: Claimed, ctx: StepContext) -> Iterator[Outcome]:
    """Bind the step's ids for what runs inside; log how it ended."""
    step = claimed.step
    outcome = Outcome()
    started = time.perf_counter()
    with (
        tracing.step_span(claimed.run, step) as span,
        bound(run_id=claimed.run.pk, step_id=step.key, workspace_id=claimed.run.workspace_id),
    ):
        try:
            yield outcome
        except StepError as error:
            outcome.status, outcome.error = "failed", f"{error.code}: {error}"
            raise
        except (asyncio.CancelledError, GeneratorExit):
            outcome.status = "cancelled"
            raise
        except Exception as error:  # a bug in a node: the step fails with an internal error
            outcome.status, outcome.error = "failed", f"internal: {error.__class__.__name__}"
            raise
        finally:
            seconds = time.perf_counter() - started
            _log_end(claimed, ctx, outcome, seconds)
            metrics.count_step(step.node_type, outcome.status, seconds, ctx.usage)
            tracing.step_ended(span, outcome.status, outcome.error, ctx.usage)


def _log_end(claimed: Claimed, ctx: StepContext, outcome: Outcome, seconds: float) -> None:
    step = claimed.step
    usage = ctx.usage
    spent = (
        f"; {usage.tokens_in} tokens in, {usage.tokens_out} out, ${usage.cost:.6f}"
        if usage.calls
        else ""
    )
    message = "step %s (%s) attempt %d %s in %.3f s%s"
    args = (step.node_id, step.node_type, step.attempt, outcome.status, seconds, spent)
    if outcome.error:
        log.warning(message + ": %s", *args, outcome.error)
    else:
        log.info(message, *args)


async def attempt(claimed: Claimed, ctx: StepContext, coro: Coroutine[Any, Any, T]) -> T:
    with observed(claimed, ctx) as outcome:
        result = await coro
        outcome.of(result)
        return result
