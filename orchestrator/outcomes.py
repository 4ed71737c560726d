"""How a finished run ended, as a person reads it: a run whose approval gate was rejected (by a
person or by its deadline) has "succeeded" as its status (every step did what it was asked) but
"rejected" as its outcome, so the list, the run view and the API do not call it a success.

An outcome is read from the steps, not stored: the run machinery keeps its statuses, and a run
recorded before outcomes existed gets one too.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, QuerySet

from orchestrator.models import Run, Step

REJECTED = "rejected"
OUTCOMES = ("succeeded", REJECTED, "failed", "cancelled")
# an approval step of the flow itself (not a map's item or a sub-flow's step, whose rejection is
# that item's or that flow's data) that left by its "rejected" branch, or a reused one
_ENDED_BY_REJECTION = {
    "parent__isnull": True,
    "in_flow__isnull": True,
    "node_type": "approval",
    "branch": REJECTED,
    "status__in": ("succeeded", "reused"),
}


def with_outcomes(runs: QuerySet[Run]) -> QuerySet[Run]:
    """``runs`` with what :func:`outcome_of` needs, in the same query (a list of runs)."""
    return runs.annotate(
        rejected_gate=Exists(Step.objects.filter(run=OuterRef("pk"), **_ENDED_BY_REJECTION))
    )


def outcome_of(run: Run) -> str | None:
    """succeeded, rejected, failed or cancelled; None while the run is not finished."""
    if not run.is_finished:
        return None
    if run.status != "succeeded":
        return run.status
    rejected: Any = getattr(run, "rejected_gate", None)
    if rejected is None:
        rejected = Step.objects.filter(run=run, **_ENDED_BY_REJECTION).exists()
    return REJECTED if rejected else "succeeded"


def filter_by_outcome(runs: QuerySet[Run], outcome: str) -> QuerySet[Run]:
    """Runs that ended with ``outcome`` (one of OUTCOMES)."""
    rejected = Exists(Step.objects.filter(run=OuterRef("pk"), **_ENDED_BY_REJECTION))
    if outcome == REJECTED:
        return runs.filter(rejected, status="succeeded")
    if outcome == "succeeded":
        return runs.filter(~rejected, status="succeeded")
    return runs.filter(status=outcome)
