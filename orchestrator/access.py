"""Which runs, steps and approvals a user may see: those in workspaces they belong to."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from orchestrator.models import Approval, Run


def runs_of(user: Any) -> QuerySet[Run]:
    if not getattr(user, "is_authenticated", False):
        return Run.objects.none()
    return Run.objects.filter(workspace__memberships__user=user)


def approvals_of(user: Any) -> QuerySet[Approval]:
    """Approvals in the user's workspaces (who may *decide* is orchestrator.approvals')."""
    if not getattr(user, "is_authenticated", False):
        return Approval.objects.none()
    return Approval.objects.filter(workspace__memberships__user=user)
