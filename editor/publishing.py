"""Publishing: which saved version the workflow's callers run, and the names people give versions.

Every save is a version and the editor's Run runs the latest one, so edits can be tried at once.
API calls, webhooks, the MCP endpoint and the command line run the *published* version instead
(``Workflow.trigger_version``), so saving an edit never changes what they get until someone who
may edit publishes it. Publishing an older version is the rollback; unpublishing goes back to
callers running the latest saved version, as before anything was published.

Each operation is one transaction with its audit entry, under the workflow's row lock (as saves
are), so a publish and a save never interleave.
"""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from editor.audit import record
from editor.errors import Conflict, NotFound, OperationError
from editor.models import VersionName, Workflow, WorkflowVersion

MAX_NAME_CHARS = 100


class NotPublishable(OperationError):
    code = "not_publishable"


@transaction.atomic
def publish_version(
    workflow: Workflow, *, user: Any, number: int, name: str | None = None, via: str = "session"
) -> Workflow:
    """Make version ``number`` the one callers run, naming it if ``name`` is given (a blank name
    keeps the name it had). An empty or invalid version is refused: callers would only get a
    refusal. Publishing the version already published just renames it."""
    workflow = _locked(workflow)
    version = _version(workflow, number)
    if version.is_empty:
        raise NotPublishable(
            f"version {number} is empty: add steps and save before publishing",
            fields={"version": ["an empty version cannot be published"]},
        )
    if not version.is_valid:
        count = len(version.issues)
        raise NotPublishable(
            f"version {number} has {count} problem{'' if count == 1 else 's'}; fix "
            f"{'it' if count == 1 else 'them'} and save, then publish the new version",
            fields={"version": ["an invalid version cannot be published"]},
        )
    name = _checked_name(name)
    if name:
        VersionName.objects.update_or_create(
            version=version, defaults={"name": name, "named_by": _user(user)}
        )
    previous = workflow.published_version.number if workflow.published_version else None
    workflow.published_version = version
    workflow.published_at = timezone.now()
    workflow.published_by = _user(user)
    workflow.save(update_fields=["published_version", "published_at", "published_by"])
    record(
        "workflow.published",
        actor=user,
        workspace=workflow.workspace,
        target=workflow,
        via=via,
        detail={"version": number, "name": version.given_name, "previous": previous},
    )
    return workflow


@transaction.atomic
def unpublish(workflow: Workflow, *, user: Any, via: str = "session") -> Workflow:
    """Stop serving a published version: callers run the latest saved version again."""
    workflow = _locked(workflow)
    if workflow.published_version is None:
        raise Conflict("this workflow has no published version", code="not_published")
    number = workflow.published_version.number
    workflow.published_version = None
    workflow.published_at = None
    workflow.published_by = None
    workflow.save(update_fields=["published_version", "published_at", "published_by"])
    record(
        "workflow.unpublished",
        actor=user,
        workspace=workflow.workspace,
        target=workflow,
        via=via,
        detail={"version": number},
    )
    return workflow


@transaction.atomic
def name_version(
    workflow: Workflow, *, user: Any, number: int, name: str, via: str = "session"
) -> WorkflowVersion:
    """Give version ``number`` a name, or take it away with a blank one."""
    workflow = _locked(workflow)
    version = _version(workflow, number)
    name = _checked_name(name)
    if name:
        VersionName.objects.update_or_create(
            version=version, defaults={"name": name, "named_by": _user(user)}
        )
    else:
        VersionName.objects.filter(version=version).delete()
    record(
        "workflow.version_named",
        actor=user,
        workspace=workflow.workspace,
        target=workflow,
        via=via,
        detail={"version": number, "name": name},
    )
    return (
        WorkflowVersion.objects.select_related("created_by", "name_record")
        .filter(pk=version.pk)
        .get()
    )


def _locked(workflow: Workflow) -> Workflow:
    return (
        Workflow.objects.select_for_update(of=("self",))
        .select_related("published_version", "workspace")
        .get(pk=workflow.pk)
    )


def _version(workflow: Workflow, number: int) -> WorkflowVersion:
    version = workflow.versions.filter(number=number).first()
    if version is None:
        raise NotFound(f"this workflow has no version {number}")
    return version


def _checked_name(name: str | None) -> str:
    name = (name or "").strip()
    if len(name) > MAX_NAME_CHARS:
        raise OperationError(
            f"a version's name is at most {MAX_NAME_CHARS} characters",
            fields={"name": [f"at most {MAX_NAME_CHARS} characters"]},
        )
    return name


def _user(user: Any) -> Any:
    return user if getattr(user, "is_authenticated", False) else None
