"""Which delegations a step may make: every task must go to a node wired to it by a delegate
edge, and a delegation hands over at least one task (a step that waits for nothing would wait
for ever). Both executors check a node's :class:`~runtime.nodes.base.Delegate` here."""

from __future__ import annotations

from collections.abc import Iterable

from runtime.errors import PermanentError
from runtime.nodes.base import DelegateTask


def refusal(tasks: Iterable[DelegateTask], delegates: Iterable[str]) -> PermanentError | None:
    """The error that fails a step delegating ``tasks``, or None when the delegation is sound."""
    tasks = list(tasks)
    unknown = sorted({task.node_id for task in tasks} - set(delegates))
    if unknown:
        return PermanentError(
            f"cannot delegate to {', '.join(unknown)}: no delegate edge leads there"
        )
    if not tasks:
        return PermanentError("the node delegated no tasks")
    return None
