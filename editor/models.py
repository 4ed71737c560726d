"""Workspaces, who belongs to them, and workflows with their immutable version history."""

from __future__ import annotations

import uuid
from typing import Any

from django.conf import settings
from django.db import models


class Role(models.TextChoices):
    # Stored now, enforced later: every member may do everything in their workspaces for the time
    # being (see editor.access).
    OWNER = "owner", "Owner"
    EDITOR = "editor", "Editor"
    RUNNER = "runner", "Runner"
    APPROVER = "approver", "Approver"
    VIEWER = "viewer", "Viewer"


class Workspace(models.Model):
    name = models.CharField(max_length=100)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    members = models.ManyToManyField(
        settings.AUTH_USER_MODEL, through="Membership", related_name="workspaces"
    )

    class Meta:
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="memberships")
    role = models.CharField(max_length=16, choices=Role.choices, default=Role.EDITOR)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["user", "workspace"], name="one_membership_per_user")
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.workspace} ({self.role})"


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


class ModelPrice(models.Model):
    """A workspace's entry in the model catalogue: context size and USD per million tokens.

    The built-in catalogue (runtime.usage.DEFAULT_PRICES) applies where a workspace has no
    entry of its own; an entry here overrides it, or adds a model it does not know.
    """

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="model_prices")
    model = models.CharField(max_length=200)  # provider/model, e.g. openai/gpt-4o-mini
    input_price = models.FloatField(default=0.0)  # USD per million input tokens
    output_price = models.FloatField(default=0.0)  # USD per million output tokens
    context = models.PositiveIntegerField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["model"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "model"], name="one_price_per_model")
        ]

    def __str__(self) -> str:
        return f"{self.model} in {self.workspace}"
