"""Who sees what: the one place that scopes querysets to the requesting user's workspaces.

Every view (and the run side's) starts from these, so an object in someone else's workspace is
simply not found (404), never "forbidden" (403), and its existence does not leak. What a
member may do there follows their role (PERMISSIONS below; `require` answers 403).
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
    """The workflows of the user's workspaces, each annotated with ``role`` (the user's role in
    its workspace) so that answers can say what the user may do with it."""
    if not getattr(user, "is_authenticated", False):
        return Workflow.objects.none()
    role = Membership.objects.filter(workspace=OuterRef("workspace_id"), user=user).values("role")
    return Workflow.objects.filter(workspace__memberships__user=user).annotate(
        role=Subquery(role[:1])
    )


def allowed(role: str | None) -> dict[str, bool]:
    """What a role may do, as the API tells the browser (which greys out the rest)."""
    return {action: role in roles for action, roles in PERMISSIONS.items()}


# What each role may do in its workspace. Everyone who belongs may look; deciding approvals is
# checked by orchestrator.approvals (named approvers, the gate's role, or owners).
PERMISSIONS: dict[str, frozenset[str]] = {
    "edit": frozenset({"owner", "editor"}),  # build and change workflows, prices
    "run": frozenset({"owner", "editor", "runner"}),  # start and cancel runs
}
VERBS = {"edit": "change workflows", "run": "start or cancel runs"}


def role_in(user: Any, workspace_id: Any) -> str | None:
    if not getattr(user, "is_authenticated", False):
        return None
    return (
        Membership.objects.filter(user=user, workspace_id=workspace_id)
        .values_list("role", flat=True)
        .first()
    )


def require(user: Any, workspace_id: Any, action: str) -> None:
    """Raise Forbidden (403) unless the user's role in the workspace allows ``action``."""
    from editor.errors import Forbidden

    role = role_in(user, workspace_id)
    if role not in PERMISSIONS[action]:
        raise Forbidden(
            f"your role in this workspace ({role or 'none'}) may not {VERBS[action]}; "
            f"that takes {' or '.join(sorted(PERMISSIONS[action]))}"
        )
