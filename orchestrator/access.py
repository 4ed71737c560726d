"""Which runs and steps a user may see: those in workspaces they belong to."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from orchestrator.models import Run


def runs_of(user: Any) -> QuerySet[Run]:
    if not getattr(user, "is_authenticated", False):
        return Run.objects.none()
    return Run.objects.filter(workspace__memberships__user=user)
