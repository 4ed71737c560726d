"""Writing the audit log: one entry per action, written by the operation that performs it.

The rule: the business operation (``editor.operations.save_workflow``, ``credentials``,
``members``, ``tokens``, ``webhooks``, ``catalogue``, ``orchestrator.runs.start_run``,
``orchestrator.approvals.decide_approval`` …) calls :func:`record` itself, inside its own
transaction, with the actor and the ``via`` its caller hands it ("session", "token",
"webhook", "command"). Views never write entries: they parse, scope, pass ``request.user`` and
``editor.authentication.via_of(request)`` to the operation, and render. So every way to an
action (API, webhook, management command, a test calling the operation) leaves the same entry,
and "where is this action audited" has one answer: in the function that does it.

Because the entry shares the action's transaction, an action that rolls back leaves no entry
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


def _capped(detail: dict[str, Any]) -> dict[str, Any]:
    text = repr(detail)
    if len(text) <= MAX_DETAIL_CHARS:
        return detail
    return {"truncated": text[:MAX_DETAIL_CHARS]}
