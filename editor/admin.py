from __future__ import annotations

from typing import Any

from django.contrib import admin

from editor.models import Membership, Workflow, WorkflowVersion, Workspace


class MembershipInline(admin.TabularInline):
    model = Membership
    extra = 0
    autocomplete_fields = ["user"]


@admin.register(Workspace)
class WorkspaceAdmin(admin.ModelAdmin):
    list_display = ["name", "slug", "created_at"]
    search_fields = ["name", "slug"]
    inlines = [MembershipInline]


@admin.register(Workflow)
class WorkflowAdmin(admin.ModelAdmin):
    list_display = ["name", "workspace", "current_version", "updated_at"]
    list_filter = ["workspace"]
    search_fields = ["name"]
    readonly_fields = ["current_version", "created_by", "created_at", "updated_at"]


@admin.register(WorkflowVersion)
class WorkflowVersionAdmin(admin.ModelAdmin):
    """Read-only: versions are immutable, and new ones come from the API's operations."""

    list_display = ["workflow", "number", "note", "created_by", "created_at"]
    search_fields = ["workflow__name", "note"]

    def has_add_permission(self, request: Any) -> bool:
        return False

    def has_change_permission(self, request: Any, obj: Any = None) -> bool:
        return False
