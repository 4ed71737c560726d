"""``GET /api/workspaces/<id>/audit/``: a workspace's audit log, newest first, for its owners.

Outsiders get 404 (they learn nothing about the workspace), members who are not owners 403.
Filters: ``action`` (exact, or a prefix ending in ``.`` such as ``workflow.``), ``actor``
(username), ``target_type`` (``workflow``, ``run``, ``approval``, ``model``, …) and ``since``
(an ISO 8601 date or time).
"""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django.db.models import QuerySet
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import generics, serializers
from rest_framework.pagination import PageNumberPagination
from rest_framework.request import Request
from rest_framework.response import Response

from editor.api_schema import errors
from editor.errors import OperationError
from editor.members import member_workspace, require_owner
from editor.models import AuditEntry

MAX_FILTER_CHARS = 150


class AuditEntrySerializer(serializers.ModelSerializer[AuditEntry]):
    actor = serializers.CharField(source="actor_label", help_text="username at the time")
    target = serializers.SerializerMethodField()

    class Meta:
        model = AuditEntry
        fields = ["id", "created_at", "actor", "via", "action", "target", "detail"]

    def get_target(self, entry: AuditEntry) -> dict[str, str]:
        return {"type": entry.target_type, "id": entry.target_id, "label": entry.target_label}


class AuditPagination(PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


_TEXT = {"type": "string", "maxLength": MAX_FILTER_CHARS}
FILTERS = [
    OpenApiParameter("action", _TEXT, description="e.g. run.started, or a prefix: workflow."),
    OpenApiParameter("actor", _TEXT, description="username"),
    OpenApiParameter("target_type", _TEXT, description="workflow, run, approval, model, …"),
    OpenApiParameter(
        "since",
        {
            "anyOf": [
                {"type": "string", "format": "date"},
                {"type": "string", "format": "date-time"},
            ]
        },
        description="ISO 8601 date or date-time",
    ),
]


def _since(raw: str) -> Any:
    refused = OperationError(
        "since must be an ISO 8601 date or date-time",
        fields={"since": ["e.g. 2026-11-24 or 2026-11-24T09:00:00Z"]},
    )
    try:
        when = parse_datetime(raw)
        if when is None:
            day = parse_date(raw)
            if day is None:
                raise refused
            when = datetime.combine(day, time.min)
        if timezone.is_naive(when):
            when = timezone.make_aware(when, timezone.get_current_timezone())
        # In UTC: PostgreSQL refuses offsets beyond ±15:59, which ISO 8601 text may carry.
        return when.astimezone(UTC)
    except (ValueError, OverflowError):  # well-formed but no such moment (month 13, year 0)
        raise refused from None


class AuditLogView(generics.ListAPIView[AuditEntry]):
    serializer_class = AuditEntrySerializer
    pagination_class = AuditPagination

    def get_queryset(self) -> QuerySet[AuditEntry]:
        workspace = member_workspace(self.request.user, self.kwargs["workspace_id"])
        require_owner(self.request.user, workspace, "read the audit log")
        entries = AuditEntry.objects.filter(workspace=workspace)
        params = self.request.query_params
        for name in ("action", "actor", "target_type", "since"):
            if len(params.get(name, "")) > MAX_FILTER_CHARS:
                raise OperationError(f"{name} is too long", fields={name: ["too long"]})
        action = params.get("action", "").strip()
        if action:
            # "workflow." lists every workflow action; anything else is one action exactly.
            entries = (
                entries.filter(action__startswith=action)
                if action.endswith(".")
                else entries.filter(action=action)
            )
        actor = params.get("actor", "").strip()
        if actor:
            entries = entries.filter(actor_label=actor)
        target_type = params.get("target_type", "").strip()
        if target_type:
            entries = entries.filter(target_type=target_type)
        since = params.get("since", "").strip()
        if since:
            entries = entries.filter(created_at__gte=_since(since))
        return entries.order_by("-created_at", "-id")

    @extend_schema(
        parameters=FILTERS, responses={200: AuditEntrySerializer(many=True), **errors(403)}
    )
    def get(self, request: Request, *args: Any, **kwargs: Any) -> Response:
        return super().get(request, *args, **kwargs)
