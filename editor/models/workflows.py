"""Workflows with their immutable version history."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models
from django.db.models.functions import Coalesce

from editor.models.workspaces import Workspace


class Workflow(models.Model):
    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="workflows")
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    # The latest version, kept as a pointer so a list of workflows needs no "max(number)" subquery.
    current_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    # Pinned data ({node id: output}) for test runs from the editor: a pinned node is not
    # executed, it gives this output (see editor.pins). Not part of any version.
    pins = models.JSONField(default=dict, blank=True)
    # Served as a tool of the workspace's MCP endpoint (/mcp/<workspace id>/, orchestrator.mcp):
    # off until someone who may edit turns it on, as a webhook is made, not there by default.
    mcp_exposed = models.BooleanField(default=False)
    # The version that API calls, webhooks, the MCP endpoint and the command line run (see
    # ``trigger_version``); the editor's Run runs the latest saved version instead, so edits can
    # be tried without changing what callers get. None: nothing published.
    published_version = models.ForeignKey(
        "WorkflowVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    published_at = models.DateTimeField(null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        ordering = ["-updated_at", "id"]

    def __str__(self) -> str:
        return self.name

    @property
    def trigger_version(self) -> WorkflowVersion | None:
        """What a trigger that names no version runs: the published version when there is one,
        else the latest saved (a workflow never published behaves as before publishing existed).
        Another flow calling this one (a sub-flow step, a workflow tool) runs it too."""
        return self.published_version or self.current_version


def trigger_version_id() -> Coalesce:
    """``Workflow.trigger_version``'s id as a query expression (for values and filters)."""
    return Coalesce("published_version_id", "current_version_id")


class ImmutableVersion(Exception):
    pass


class WorkflowVersionQuerySet(models.QuerySet["WorkflowVersion"]):
    def update(self, **kwargs: Any) -> int:
        raise ImmutableVersion("workflow versions are immutable; save a new version instead")


class WorkflowVersion(models.Model):
    """One saved graph. Never changed once written: runs point at the exact graph they ran."""

    workflow = models.ForeignKey(Workflow, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    graph = models.JSONField()
    # Validation issues at save time (Issue.to_dict() each): the history shows which versions
    # were runnable without re-validating every graph.
    issues = models.JSONField(default=list, blank=True)
    note = models.CharField(max_length=200, blank=True, default="")
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    objects = WorkflowVersionQuerySet.as_manager()

    class Meta:
        ordering = ["workflow", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["workflow", "number"], name="one_number_per_version")
        ]

    def __str__(self) -> str:
        return f"{self.workflow} v{self.number}"

    @property
    def is_valid(self) -> bool:
        return not self.issues

    @property
    def is_empty(self) -> bool:
        """Nothing on the canvas (a new workflow's first version). Read from the issues saved
        with it, so lists that leave the graph out can still say so."""
        return any(issue.get("code") == "empty_graph" for issue in self.issues)

    @property
    def given_name(self) -> str:
        try:
            return self.name_record.name
        except VersionName.DoesNotExist:
            return ""

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersion("workflow versions are immutable; save a new version instead")
        super().save(*args, **kwargs)


class VersionName(models.Model):
    """The name someone gave a version ("v2 – added approval"), usually when publishing it.

    Kept apart from the version so the version itself stays immutable: naming or renaming
    changes this row, never the graph a run pinned."""

    version = models.OneToOneField(
        WorkflowVersion, primary_key=True, on_delete=models.CASCADE, related_name="name_record"
    )
    name = models.CharField(max_length=100)
    named_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    named_at = models.DateTimeField(auto_now=True)

    def __str__(self) -> str:
        return self.name
