"""Writing the audit log: one call per action, made by the code that performed it.

Entries are written in the caller's transaction, so an action that rolls back leaves no entry
and an entry never names an action that did not happen.
"""

from __future__ import annotations

from typing import Any

from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import models

from editor.models import AuditEntry, Workspace

# Payload copied into `detail` is capped: the log records what happened, not the data itself.
MAX_DETAIL_CHARS = 2000


def record(
    action: str,
    *,
    actor: AbstractBaseUser | AnonymousUser | None,
    workspace: Workspace | None,
    target: models.Model | None = None,
    target_label: str = "",
    via: str = "session",
    detail: dict[str, Any] | None = None,
    target_type: str = "",
) -> AuditEntry:
    """Record that `actor` did `action` (e.g. "workflow.created") to `target` in `workspace`.

    ``target_type`` names the kind of a target that is not a row (a model id in the price
    catalogue: ``target_type="model"``, ``target_label=<id>``).
    """
    user = actor if actor is not None and actor.is_authenticated else None
    entry = AuditEntry(
        workspace=workspace,
        actor=user,
        actor_label=user.get_username() if user is not None else "",
        via=via,
        action=action,
        detail=_capped(detail or {}),
    )
    if target is not None:
        entry.target_type = target._meta.model_name or ""
        entry.target_id = str(target.pk)
        entry.target_label = (target_label or str(target))[:200]
    else:
        entry.target_type = target_type[:32]
        entry.target_label = target_label[:200]
    entry.save()
    return entry


def record_request(
    request: Any,
    action: str,
    *,
    workspace: Workspace | None,
    target: models.Model | None = None,
    target_label: str = "",
    detail: dict[str, Any] | None = None,
    target_type: str = "",
) -> AuditEntry:
    """:func:`record` for an API request: its user is the actor, its authentication the ``via``."""
    from editor.authentication import via_of  # editor.authentication imports the models only

    return record(
        action,
        actor=request.user,
        workspace=workspace,
        target=target,
        target_label=target_label,
        via=via_of(request),
        detail=detail,
        target_type=target_type,
    )


def _capped(detail: dict[str, Any]) -> dict[str, Any]:
    text = repr(detail)
    if len(text) <= MAX_DETAIL_CHARS:
        return detail
    return {"truncated": text[:MAX_DETAIL_CHARS]}
