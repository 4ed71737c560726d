"""Shapes of the editor API: read serializers for answers, input serializers for requests.

Input serializers only check types and lengths; what a graph means is the engine's business
(``runtime.validation``) and what may be stored is ``editor.operations``'.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from editor.access import allowed, role_in
from editor.api_schema import patch_requires_one_of
from editor.errors import NotFound
from editor.model_reach import model_issues
from editor.models import WebhookTrigger, Workflow, WorkflowVersion, Workspace
from editor.operations import EXPORT_FORMAT, MAX_GRAPH_DEPTH, graph_warnings_of
from editor.strict_fields import StrictCharField, StrictIntegerField
from runtime.graph import MAX_EDGES, MAX_NODES


@extend_schema_field(
    {
        "type": "object",
        "description": (
            'A graph: {"nodes": [...], "edges": [...]} (see the README, graph format); '
            f"no deeper than {MAX_GRAPH_DEPTH} levels, no NUL character anywhere"
        ),
        "required": ["nodes"],
        "properties": {
            "nodes": {"type": "array", "items": {"type": "object"}, "maxItems": MAX_NODES},
            "edges": {"type": "array", "items": {"type": "object"}, "maxItems": MAX_EDGES},
        },
    }
)
class GraphField(serializers.JSONField):
    pass


class IssueSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    node_id = serializers.CharField(required=False)
    edge_id = serializers.CharField(required=False)
    field = serializers.CharField(required=False)


class WorkspaceSerializer(serializers.ModelSerializer):
    role = serializers.CharField(read_only=True, help_text="Your role in this workspace")

    class Meta:
        model = Workspace
        fields = ["id", "name", "slug", "role", "created_at"]


VERSION_STATES = {
    "published": "the version API calls, webhooks and the MCP endpoint run",
    "draft": "saved and runnable, not published",
    "invalid": "has problems to fix before it can run or be published",
    "empty": "nothing on the canvas (a new workflow's first version)",
}


class VersionSummarySerializer(serializers.ModelSerializer):
    """A version in the history. ``context["published"]``: the workflow's published version
    number (the views pass it, so the list needs no query per row)."""

    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    valid = serializers.BooleanField(source="is_valid", read_only=True)
    issue_count = serializers.SerializerMethodField()
    name = serializers.CharField(
        source="given_name", read_only=True, help_text="the name given to it, or empty"
    )
    state = serializers.SerializerMethodField(
        help_text="; ".join(f"{state}: {meaning}" for state, meaning in VERSION_STATES.items())
    )

    class Meta:
        model = WorkflowVersion
        fields = [
            "number",
            "name",
            "state",
            "note",
            "created_by",
            "created_at",
            "valid",
            "issue_count",
        ]

    def get_issue_count(self, version: WorkflowVersion) -> int:
        return len(version.issues)

    @extend_schema_field({"type": "string", "enum": list(VERSION_STATES)})
    def get_state(self, version: WorkflowVersion) -> str:
        if version.is_empty:
            return "empty"
        if not version.is_valid:
            return "invalid"
        if version.number == self.context.get("published"):
            return "published"
        return "draft"


class VersionSerializer(VersionSummarySerializer):
    graph = GraphField(read_only=True)
    issues = IssueSerializer(many=True, read_only=True)

    class Meta(VersionSummarySerializer.Meta):
        fields = [*VersionSummarySerializer.Meta.fields, "graph", "issues"]


class PublishedSerializer(serializers.Serializer):
    number = serializers.IntegerField(source="published_version.number")
    name = serializers.CharField(source="published_version.given_name")
    published_at = serializers.DateTimeField()
    published_by = serializers.CharField(source="published_by.username", default=None)

    def to_representation(self, workflow: Any) -> Any:
        if workflow.published_version_id is None:
            return None
        return super().to_representation(workflow)


class PublishRequestSerializer(serializers.Serializer):
    name = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=100,
        help_text='a name for the version, e.g. "v2 – added approval"; blank or left out keeps '
        "the name it has",
    )


class NameVersionSerializer(serializers.Serializer):
    name = StrictCharField(
        required=True, allow_blank=True, max_length=100, help_text="blank takes the name away"
    )


patch_requires_one_of(NameVersionSerializer, "name")


class WorkflowSummarySerializer(serializers.ModelSerializer):
    workspace = serializers.PrimaryKeyRelatedField(read_only=True)
    created_by = serializers.CharField(source="created_by.username", default=None, read_only=True)
    version = serializers.IntegerField(
        source="current_version.number", default=None, read_only=True
    )
    valid = serializers.BooleanField(
        source="current_version.is_valid", default=None, read_only=True
    )
    can = serializers.SerializerMethodField(
        help_text='What you may do with it: {"edit": bool, "run": bool}, from your role'
    )
    has_webhook = serializers.SerializerMethodField(
        help_text="whether it has a webhook trigger (its state: GET …/webhook/)"
    )
    published = PublishedSerializer(
        source="*",
        read_only=True,
        allow_null=True,
        help_text="the version API calls, webhooks and the MCP endpoint run; null: none is "
        "published and they run the latest saved version",
    )

    class Meta:
        model = Workflow
        fields = [
            "id",
            "workspace",
            "can",
            "name",
            "description",
            "version",
            "valid",
            "has_webhook",
            "published",
            "created_by",
            "created_at",
            "updated_at",
        ]

    def get_has_webhook(self, workflow: Workflow) -> bool:
        found = getattr(workflow, "with_webhook", None)  # annotated by the list's query
        if found is None:
            found = WebhookTrigger.objects.filter(workflow=workflow).exists()
        return bool(found)

    def get_can(self, workflow: Workflow) -> dict[str, bool]:
        role = getattr(workflow, "role", None)  # annotated by editor.access.workflows_of
        if role is None:
            request = self.context.get("request")
            role = role_in(request.user, workflow.workspace_id) if request else None
        return allowed(role)


class WorkflowSerializer(WorkflowSummarySerializer):
    """One workflow with its current graph and that graph's validation issues."""

    graph = GraphField(source="current_version.graph", default=None, read_only=True)
    issues = IssueSerializer(
        source="current_version.issues", many=True, default=list, read_only=True
    )
    warnings = serializers.SerializerMethodField(
        help_text="what would run but is likely not meant; never stops a save or a run"
    )
    run_issues = serializers.SerializerMethodField(
        help_text="what stops a run here as the server and the workspace are set up now (a "
        "model nothing can call: no provider, no credential); not part of the saved version"
    )

    class Meta(WorkflowSummarySerializer.Meta):
        fields = [
            *WorkflowSummarySerializer.Meta.fields,
            "graph",
            "issues",
            "warnings",
            "run_issues",
        ]

    @extend_schema_field(IssueSerializer(many=True))
    def get_run_issues(self, workflow: Any) -> list[dict[str, Any]]:
        version = workflow.current_version
        return model_issues(workflow.workspace, version.graph) if version is not None else []

    @extend_schema_field(IssueSerializer(many=True))
    def get_warnings(self, workflow: Any) -> list[dict[str, Any]]:
        version = workflow.current_version
        return graph_warnings_of(version.graph) if version is not None else []


# -- input -----------------------------------------------------------------------------------------


@extend_schema_field(OpenApiTypes.INT)
class WorkspaceChoiceField(serializers.PrimaryKeyRelatedField):
    """A workspace id, looked up among the requesting user's workspaces only.

    An id of no workspace of yours answers 404, as the same id in a URL does: the request is
    well formed, the workspace is just not there for you."""

    def get_queryset(self) -> Any:
        from editor.access import workspaces_of

        return workspaces_of(self.context["request"].user)

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, bool) or not isinstance(data, int):
            raise serializers.ValidationError("Not a valid integer.", code="invalid")
        # Out of the id column's range is no workspace either (and must not reach the query).
        found = self.get_queryset().filter(pk=data).first() if 0 < data < 2**63 else None
        if found is None:
            message = "no such workspace of yours"
            raise NotFound(message, fields={self.field_name: [message]})
        return found


class WorkflowCreateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200)
    description = StrictCharField(required=False, allow_blank=True, default="")
    workspace = WorkspaceChoiceField(
        required=False, default=None, help_text="Defaults to your own workspace"
    )
    graph = GraphField(required=False, default=None, help_text="Defaults to an empty graph")
    note = StrictCharField(required=False, allow_blank=True, default="", max_length=200)


class WorkflowUpdateSerializer(serializers.Serializer):
    """PUT saves a graph (``graph`` required); PATCH may also only rename."""

    name = StrictCharField(max_length=200, required=False)
    description = StrictCharField(required=False, allow_blank=True)
    graph = GraphField(required=True)
    note = StrictCharField(required=False, allow_blank=True, default="", max_length=200)
    base_version = StrictIntegerField(
        required=False,
        min_value=0,
        help_text="The version this edit started from; a save on top of a newer one answers 409",
    )

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if self.partial and not attrs.keys() & PATCH_NEEDS_ONE_OF:
            raise serializers.ValidationError("send at least one of name, description, graph")
        return attrs


PATCH_NEEDS_ONE_OF = ("name", "description", "graph")
patch_requires_one_of(WorkflowUpdateSerializer, *PATCH_NEEDS_ONE_OF)


class ValidateRequestSerializer(serializers.Serializer):
    graph = GraphField(
        required=False, help_text="The graph to check; the workflow's current graph if omitted"
    )


class ValidateResponseSerializer(serializers.Serializer):
    valid = serializers.BooleanField()
    errors = IssueSerializer(many=True)
    warnings = IssueSerializer(
        many=True,
        help_text="what would run but is likely not meant (runtime.validation.graph_warnings); "
        "never stops a save or a run",
    )
    run_issues = IssueSerializer(
        many=True,
        help_text="what stops a run here as the server and the workspace are set up now (a "
        "model nothing can call); the editor disables Run while there are any",
    )


class DuplicateSerializer(serializers.Serializer):
    name = StrictCharField(max_length=200, required=False)


class ImportSerializer(serializers.Serializer):
    """The file ``export`` gives, or just ``{"name", "graph"}``."""

    format = serializers.ChoiceField(choices=[EXPORT_FORMAT], required=False)
    format_version = StrictIntegerField(min_value=1, max_value=1, required=False)
    name = StrictCharField(max_length=200, required=False, default="Imported workflow")
    description = StrictCharField(required=False, allow_blank=True, default="")
    graph = GraphField()
    workspace = WorkspaceChoiceField(
        required=False, default=None, help_text="Defaults to your own workspace"
    )


class ExampleSerializer(serializers.Serializer):
    """One example flow that ships with the app (``examples/<name>.json``)."""

    name = serializers.CharField(help_text="What to import it by: /api/examples/<name>/import/")
    title = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    node_count = serializers.IntegerField()


class ExampleImportSerializer(serializers.Serializer):
    name = StrictCharField(
        max_length=200, required=False, help_text="Defaults to the example's title"
    )
    workspace = WorkspaceChoiceField(
        required=False, default=None, help_text="Defaults to your own workspace"
    )


class ExportSerializer(serializers.Serializer):
    format = serializers.CharField()
    format_version = serializers.IntegerField()
    name = serializers.CharField()
    description = serializers.CharField()
    version = serializers.IntegerField(allow_null=True)
    graph = GraphField()


class ErrorDetailSerializer(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()
    fields = serializers.DictField(
        child=serializers.ListField(child=serializers.CharField()), required=False
    )


class ErrorSerializer(serializers.Serializer):
    """The body of every 4xx answer."""

    error = ErrorDetailSerializer()
