"""The runs list across workflows: its filters (outcome, workflow, who, when, trigger, search)
and what each row shows besides a run's summary (the workflow's name, who started it, how, and a
preview of its input), for the runs page (/runs) and ``GET /api/runs/``.

Filters are query parameters; a bad one is a 400 naming it, never an empty list.
"""

from __future__ import annotations

import json
import uuid
from datetime import datetime, time
from typing import Any

from django.db.models import Q, QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter
from rest_framework import serializers

from editor.models import AuditEntry
from orchestrator.models import Run
from orchestrator.outcomes import OUTCOMES, filter_by_outcome
from orchestrator.serializers import RunSummarySerializer

# How a run was started: from the app or a script (session, token), a webhook, the command line,
# or made from another run (time travel).
TRIGGERS = ("session", "token", "webhook", "command", "rerun")
PREVIEW_CHARS = 120
# A trigger filter reads the audit log's run.started entries: at most this many of the newest.
TRIGGER_SCAN = 5_000

PARAMETERS = [
    OpenApiParameter("workflow", OpenApiTypes.UUID, description="only the runs of this workflow"),
    OpenApiParameter(
        "outcome",
        str,
        enum=[*OUTCOMES, "running", "waiting"],
        description="how it ended (rejected: an approval gate was rejected), or running/waiting",
    ),
    OpenApiParameter("started_by", str, description="the username of who started it"),
    OpenApiParameter("trigger", str, enum=list(TRIGGERS), description="how it was started"),
    OpenApiParameter("since", OpenApiTypes.DATE, description="started on or after this day"),
    OpenApiParameter("until", OpenApiTypes.DATE, description="started on or before this day"),
    OpenApiParameter("search", str, description="the workflow's name, or the start of a run id"),
]


def _day(raw: str, name: str, end_of_day: bool) -> datetime:
    """A YYYY-MM-DD day's first (or last) moment, in the server's time zone."""
    day = parse_date(raw) if len(raw) == 10 else None
    if day is None:
        raise serializers.ValidationError({name: ["a date: YYYY-MM-DD"]})
    return timezone.make_aware(datetime.combine(day, time.max if end_of_day else time.min))


def filtered(runs: QuerySet[Run], params: Any) -> QuerySet[Run]:
    """``runs`` narrowed by the list's query parameters; a bad value raises a 400."""
    # a parameter that is there must be right (an empty one too): the API takes its input only
    # as its schema types it
    outcome = params.get("outcome")
    if outcome is not None:
        if outcome in ("running", "waiting"):
            runs = runs.filter(status=outcome)
        elif outcome in OUTCOMES:
            runs = filter_by_outcome(runs, outcome)
        else:
            choices = ", ".join([*OUTCOMES, "running", "waiting"])
            raise serializers.ValidationError({"outcome": [f"one of {choices}"]})
    who = params.get("started_by")
    if who:
        runs = runs.filter(created_by__username=who)
    since, until = params.get("since"), params.get("until")
    if since is not None:
        runs = runs.filter(created_at__gte=_day(since, "since", end_of_day=False))
    if until is not None:
        runs = runs.filter(created_at__lte=_day(until, "until", end_of_day=True))
    trigger = params.get("trigger")
    if trigger is not None:
        runs = _by_trigger(runs, trigger)
    search = params.get("search", "").strip()[:200]
    if search:
        words = Q()
        for word in search.split():
            words &= Q(workflow__name__icontains=word)
        prefix = search.replace("-", "").lower()
        by_id = Q()
        if all(c in "0123456789abcdef" for c in prefix) and 4 <= len(prefix) <= 32:
            low = uuid.UUID(prefix.ljust(32, "0"))
            high = uuid.UUID(prefix.ljust(32, "f"))
            by_id = Q(pk__gte=low, pk__lte=high)
        runs = runs.filter(words | by_id) if by_id else runs.filter(words)
    return runs


def _by_trigger(runs: QuerySet[Run], trigger: str) -> QuerySet[Run]:
    if trigger not in TRIGGERS:
        raise serializers.ValidationError({"trigger": [f"one of {', '.join(TRIGGERS)}"]})
    if trigger == "rerun":
        from_another = Q(reuse__isnull=False) & ~Q(reuse__mode="pinned")
        return runs.filter(Q(source_run__isnull=False) | from_another)
    started = (
        AuditEntry.objects.filter(action="run.started", via=trigger, target_type="run")
        .order_by("-created_at")
        .values_list("target_id", flat=True)[:TRIGGER_SCAN]
    )
    ids = []
    for raw in started:
        try:
            ids.append(uuid.UUID(raw))
        except ValueError:
            continue
    return runs.filter(pk__in=ids)


def preview(value: Any) -> str:
    """A run input on one line, cut at PREVIEW_CHARS ({"topic": "owls"})."""
    if value in (None, {}):
        return ""
    text = json.dumps(value, ensure_ascii=False, default=str)
    return text if len(text) <= PREVIEW_CHARS else text[: PREVIEW_CHARS - 1] + "…"


class RunListSerializer(RunSummarySerializer):
    """A row of the runs list: the summary, and what the list shows of it."""

    workflow_name = serializers.CharField(source="workflow.name", read_only=True)
    started_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    input_preview = serializers.SerializerMethodField(
        help_text=f"the input on one line, at most {PREVIEW_CHARS} characters"
    )

    class Meta(RunSummarySerializer.Meta):
        fields = [*RunSummarySerializer.Meta.fields, "workflow_name", "started_by", "input_preview"]

    def get_input_preview(self, run: Run) -> str:
        return preview(run.input)
