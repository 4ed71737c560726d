"""Who sees what: the one place that scopes querysets to the requesting user's workspaces.

Every view (and the run side's) starts from these, so an object in someone else's workspace is
simply not found (404), never "forbidden" (403), and its existence does not leak.
Roles are stored on Membership but not yet enforced: every member may do everything.
"""

from __future__ import annotations

from typing import Any

from django.db.models import OuterRef, QuerySet, Subquery

from editor.models import Membership, Workflow, Workspace


def workspaces_of(user: Any) -> QuerySet[Workspace]:
    """The user's workspaces, each annotated with ``role`` (the user's role in it)."""
    if not getattr(user, "is_authenticated", False):
        return Workspace.objects.none()
    role = Membership.objects.filter(workspace=OuterRef("pk"), user=user).values("role")[:1]
    return Workspace.objects.filter(memberships__user=user).annotate(role=Subquery(role))


def workflows_of(user: Any) -> QuerySet[Workflow]:
    if not getattr(user, "is_authenticated", False):
        return Workflow.objects.none()
    return Workflow.objects.filter(workspace__memberships__user=user)
