"""The audit log: who created, changed, ran, approved and deleted what, and when."""

from __future__ import annotations

from django.conf import settings
from django.db import models

from editor.models.workspaces import Workspace


class AuditEntry(models.Model):
    """One recorded action. Written, never changed; labels are copies so that an entry still
    reads right after its actor or target is deleted."""

    workspace = models.ForeignKey(
        Workspace, null=True, blank=True, on_delete=models.CASCADE, related_name="audit_entries"
    )
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    actor_label = models.CharField(max_length=150, blank=True, default="")
    # How the actor came in: "session", "token", "webhook", "system".
    via = models.CharField(max_length=16, default="session")
    action = models.CharField(max_length=64)  # e.g. "workflow.created", "run.started"
    target_type = models.CharField(max_length=32, blank=True, default="")
    target_id = models.CharField(max_length=64, blank=True, default="")
    target_label = models.CharField(max_length=200, blank=True, default="")
    detail = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace", "-created_at"], name="audit_by_workspace")]

    def __str__(self) -> str:
        return f"{self.actor_label} {self.action} {self.target_type}:{self.target_id}"
