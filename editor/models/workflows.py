"""Workflows with their immutable version history."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models

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

    class Meta:
        ordering = ["-updated_at", "id"]

    def __str__(self) -> str:
        return self.name


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

    def save(self, *args: Any, **kwargs: Any) -> None:
        if not self._state.adding:
            raise ImmutableVersion("workflow versions are immutable; save a new version instead")
        super().save(*args, **kwargs)
