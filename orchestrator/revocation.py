"""A changed or deleted membership reaches the person's open WebSockets.

The run socket and the notification socket check membership when they connect; without this, a
member removed from a workspace would keep receiving its live events on sockets opened before.
So whenever a :class:`~editor.models.Membership` is saved (a role change) or deleted (removed,
left, or gone with its user or workspace), the person's sockets are told, once the transaction
has committed, to check again: every socket of theirs joins :func:`access_group` and gets
``{"type": "access.changed", "workspace": <id>, "user": <id>}`` (see :mod:`orchestrator.consumers`;
the run sockets of a process hear it through :mod:`orchestrator.fanout`).

Model signals rather than calls in ``editor.members``: they catch every way a membership ends
(the API, the admin, a cascade), and the editor may not import the orchestrator (import-linter
layers), while the orchestrator may listen to the editor's models. Bulk ``QuerySet.update()`` of
roles sends no signal; nothing in the app changes roles that way.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.db.models.signals import post_delete, post_save

from editor.models import Membership
from orchestrator.publisher import publish

ACCESS_CHANGED = "access.changed"


def access_group(user_id: object) -> str:
    """The channel-layer group of every open socket of one person (run and notification)."""
    return f"access.{user_id}"


def announce(user_id: int, workspace_id: int) -> None:
    """After commit, tell ``user_id``'s open sockets to re-check their access to the workspace.

    After commit, not now: a socket that re-checked before the commit would still see the old
    membership and stay open. ``publish`` only queues the message, so the request never waits on
    Redis, and a lost message is logged, not raised into a change that already committed."""
    # The person too: a process's run sockets hear it through one membership of the group for all
    # of them (orchestrator/fanout.py), which has to tell whose sockets it is for.
    message = {"type": ACCESS_CHANGED, "workspace": workspace_id, "user": user_id}
    transaction.on_commit(lambda: publish(access_group(user_id), message))


def _saved(sender: Any, instance: Membership, created: bool, **kwargs: Any) -> None:
    if created:
        return  # joining takes nothing away; a new socket checks for itself
    announce(instance.user_id, instance.workspace_id)


def _deleted(sender: Any, instance: Membership, **kwargs: Any) -> None:
    announce(instance.user_id, instance.workspace_id)


def connect_signals() -> None:
    """Called once from ``OrchestratorConfig.ready``."""
    post_save.connect(_saved, sender=Membership, dispatch_uid="orchestrator.revocation.saved")
    post_delete.connect(_deleted, sender=Membership, dispatch_uid="orchestrator.revocation.deleted")
