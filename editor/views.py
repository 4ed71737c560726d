"""The editor's REST API. Thin: parse with a serializer, scope with ``access``, call operations.

The operations write the audit entries; a view only says who acts and how they came in
(``via_of``)."""

from __future__ import annotations

from typing import Any

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils.text import slugify
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.renderers import JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor import catalogue, examples, operations, publishing, version_compare
from editor.access import require, workflows_of, workspaces_of
from editor.api_schema import QUERY_ID_SCHEMA, errors, query_id
from editor.authentication import via_of
from editor.errors import NotFound
from editor.model_reach import model_issues
from editor.models import WebhookTrigger, Workflow, WorkflowVersion, Workspace
from editor.serializers import (
    DuplicateSerializer,
    ExampleImportSerializer,
    ExampleSerializer,
    ExportSerializer,
    ImportSerializer,
    NameVersionSerializer,
    PublishRequestSerializer,
    ValidateRequestSerializer,
    ValidateResponseSerializer,
    VersionSerializer,
    VersionSummarySerializer,
    WorkflowCreateSerializer,
    WorkflowSerializer,
    WorkflowSummarySerializer,
    WorkflowUpdateSerializer,
    WorkspaceSerializer,
)
from editor.strict_fields import StrictFloatField, StrictIntegerField, StrictRegexField
from runtime.nodes.registry import default_registry

NUMBER = OpenApiParameter("number", int, OpenApiParameter.PATH, description="Version number")
EXAMPLE_NAME = OpenApiParameter(
    "name", str, OpenApiParameter.PATH, description="An example's name, e.g. research"
)
WORKSPACE_FILTER = OpenApiParameter(
    "workspace",
    QUERY_ID_SCHEMA,
    OpenApiParameter.QUERY,
    description="Only this workspace's workflows",
)
SEARCH_FILTER = OpenApiParameter(
    "search",
    str,
    OpenApiParameter.QUERY,
    description="Only workflows whose name or description holds every word (any case)",
)


@extend_schema_view(
    list=extend_schema(
        parameters=[WORKSPACE_FILTER, SEARCH_FILTER],
        responses=WorkflowSummarySerializer(many=True),
    ),
    retrieve=extend_schema(responses=WorkflowSerializer),
    create=extend_schema(
        request=WorkflowCreateSerializer, responses={201: WorkflowSerializer, **errors(404)}
    ),
    update=extend_schema(
        request=WorkflowUpdateSerializer,
        responses={200: WorkflowSerializer, **errors(409)},
        description="Save the graph as a new version (and rename if name/description are sent).",
    ),
    partial_update=extend_schema(
        request=WorkflowUpdateSerializer,
        responses={200: WorkflowSerializer, **errors(409)},
        description="With `graph`: save a new version. Without: rename or re-describe only.",
    ),
    destroy=extend_schema(responses={204: None, **errors(409)}),
)
class WorkflowViewSet(
    mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet[Workflow]
):
    """Workflows in your workspaces; every graph save is a new immutable version."""

    queryset = Workflow.objects.none()  # for schema introspection; see get_queryset
    serializer_class = WorkflowSerializer

    def get_queryset(self) -> QuerySet[Workflow]:
        workflows = workflows_of(self.request.user).select_related(
            "current_version",
            "created_by",
            "current_version__created_by",
            "published_version__name_record",
            "published_by",
        )
        if self.action == "list":
            # Graphs can be large; a list shows only names and validity.
            workflows = workflows.defer(
                "current_version__graph", "published_version__graph"
            ).annotate(with_webhook=Exists(WebhookTrigger.objects.filter(workflow=OuterRef("pk"))))
            raw = self.request.query_params.get("workspace")
            if raw is not None:
                workspace = query_id(raw)
                if workspace is None:
                    raise serializers.ValidationError({"workspace": ["a workspace id is a number"]})
                workflows = workflows.filter(workspace_id=workspace)
            search = self.request.query_params.get("search", "").strip()[:200]
            if search:
                # every word, in the name or the description, in any case
                for word in search.split():
                    workflows = workflows.filter(
                        Q(name__icontains=word) | Q(description__icontains=word)
                    )
        return workflows

    def get_serializer_class(self) -> type[serializers.BaseSerializer[Any]]:
        return WorkflowSummarySerializer if self.action == "list" else WorkflowSerializer

    def _input(self, serializer_class: type[serializers.Serializer[Any]], **kwargs: Any) -> Any:
        serializer = serializer_class(
            data=self.request.data, context={"request": self.request}, **kwargs
        )
        serializer.is_valid(raise_exception=True)
        return serializer.validated_data

    def _answer(self, workflow: Workflow, code: int = status.HTTP_200_OK) -> Response:
        return Response(
            WorkflowSerializer(workflow, context={"request": self.request}).data, status=code
        )

    def _editable(self) -> Workflow:
        """The workflow of this URL, if the user's role may change it (else 403)."""
        workflow = self.get_object()
        require(self.request.user, workflow.workspace_id, "edit")
        return workflow

    def _may_add_to(self, workspace: Workspace | None) -> None:
        # No workspace named: the user's own, where they are the owner.
        if workspace is not None:
            require(self.request.user, workspace.pk, "edit")

    def create(self, request: Request) -> Response:
        data = self._input(WorkflowCreateSerializer)
        self._may_add_to(data.get("workspace"))
        workflow = operations.create_workflow(user=request.user, via=via_of(request), **data)
        return self._answer(workflow, status.HTTP_201_CREATED)

    def update(self, request: Request, pk: str | None = None, partial: bool = False) -> Response:
        workflow = self._editable()
        data = self._input(WorkflowUpdateSerializer, partial=partial)
        if "graph" in data:
            workflow = operations.save_workflow(
                workflow, user=request.user, via=via_of(request), **data
            )
        else:
            workflow = operations.rename_workflow(
                workflow,
                user=request.user,
                name=data.get("name"),
                description=data.get("description"),
                via=via_of(request),
            )
        return self._answer(workflow)

    def partial_update(self, request: Request, pk: str | None = None) -> Response:
        return self.update(request, pk, partial=True)

    def destroy(self, request: Request, pk: str | None = None) -> Response:
        workflow = self._editable()
        operations.delete_workflow(workflow, user=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)

    # -- versions ----------------------------------------------------------------------------------

    def _version(self, workflow: Workflow, number: str) -> WorkflowVersion:
        version = workflow.versions.select_related("created_by", "name_record")
        found = version.filter(number=int(number)).first()
        if found is None:
            raise NotFound(f"this workflow has no version {number}")
        return found

    @staticmethod
    def _version_context(workflow: Workflow) -> dict[str, Any]:
        published = workflow.published_version
        return {"published": published.number if published is not None else None}

    @extend_schema(responses=VersionSummarySerializer(many=True))
    @action(detail=True, methods=["get"])
    def versions(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        versions = workflow.versions.select_related("created_by", "name_record").defer("graph")
        page = self.paginate_queryset(versions.order_by("-number"))
        data = VersionSummarySerializer(
            page, many=True, context=self._version_context(workflow)
        ).data
        return self.get_paginated_response(data)

    @extend_schema(
        parameters=version_compare.PARAMETERS,
        responses=version_compare.COMPARISON,
        description=(
            "Two versions side by side: nodes added, removed, changed (type or settings, with "
            "every differing setting by path) and only moved or renamed, and edges added and "
            "removed. A version the workflow does not have answers 404 naming it."
        ),
    )
    @action(detail=True, methods=["get"], url_path="versions/compare")
    def compare(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        start, end = version_compare.read_numbers(request.query_params)
        return Response(version_compare.compare_versions(workflow, start, end))

    @extend_schema(parameters=[NUMBER], responses=VersionSerializer)
    @extend_schema(
        methods=["PATCH"],
        parameters=[NUMBER],
        request=NameVersionSerializer,
        responses=VersionSerializer,
        description="Name the version (a blank name takes it away); the graph never changes.",
    )
    @action(detail=True, methods=["get", "patch"], url_path=r"versions/(?P<number>[0-9]{1,9})")
    def version(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        if request.method == "PATCH":
            workflow = self._editable()
            data = self._input(NameVersionSerializer)
            self._version(workflow, number)  # 404 before anything else
            version = publishing.name_version(
                workflow,
                user=request.user,
                number=int(number),
                name=data["name"],
                via=via_of(request),
            )
        else:
            workflow = self.get_object()
            version = self._version(workflow, number)
        context = self._version_context(workflow)
        return Response(VersionSerializer(version, context=context).data)

    @extend_schema(
        request=PublishRequestSerializer,
        parameters=[NUMBER],
        responses={200: WorkflowSerializer, **errors(404)},
        description=(
            "Publish this version (optionally naming it): API calls, webhooks and the MCP "
            "endpoint run it from now on; the editor's Run keeps running the latest version. "
            "Publishing an older version rolls callers back to it. An empty or invalid version "
            "is refused (400, not_publishable)."
        ),
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>[0-9]{1,9})/publish")
    def publish(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        workflow = self._editable()
        data = self._input(PublishRequestSerializer)
        publishing.publish_version(
            workflow,
            user=request.user,
            number=int(number),
            name=data.get("name"),
            via=via_of(request),
        )
        return self._answer(self.get_object())

    @extend_schema(
        request=None,
        responses={200: WorkflowSerializer, **errors(409)},
        description=(
            "Stop publishing: callers run the latest saved version again. 409 when nothing is "
            "published."
        ),
    )
    @action(detail=True, methods=["post"])
    def unpublish(self, request: Request, pk: str | None = None) -> Response:
        publishing.unpublish(self._editable(), user=request.user, via=via_of(request))
        return self._answer(self.get_object())

    @extend_schema(
        request=None,
        parameters=[NUMBER],
        responses=WorkflowSerializer,
        description="Save a new version with this version's graph.",
    )
    @action(detail=True, methods=["post"], url_path=r"versions/(?P<number>[0-9]{1,9})/restore")
    def restore(self, request: Request, pk: str | None = None, number: str = "") -> Response:
        workflow = operations.restore_version(
            self._editable(), user=request.user, number=int(number), via=via_of(request)
        )
        return self._answer(workflow)

    # -- whole-workflow actions --------------------------------------------------------------------

    @extend_schema(request=DuplicateSerializer, responses={201: WorkflowSerializer})
    @action(detail=True, methods=["post"])
    def duplicate(self, request: Request, pk: str | None = None) -> Response:
        workflow = self._editable()  # the copy goes into the same workspace
        data = self._input(DuplicateSerializer)
        copy = operations.duplicate_workflow(
            workflow, user=request.user, name=data.get("name"), via=via_of(request)
        )
        return self._answer(copy, status.HTTP_201_CREATED)

    @extend_schema(
        request=ValidateRequestSerializer,
        responses=ValidateResponseSerializer,
        description="Check the posted graph, or the current one if none is posted. Never saves.",
    )
    @action(detail=True, methods=["post"])
    def validate(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        data = self._input(ValidateRequestSerializer)
        if "graph" in data:
            graph = data["graph"]
            issues = operations.graph_issues(graph)
        else:
            graph = workflow.current_version.graph if workflow.current_version else None
            issues = workflow.current_version.issues if workflow.current_version else []
        warnings = operations.graph_warnings_of(graph) if graph is not None else []
        here = model_issues(workflow.workspace, graph) if graph is not None else []
        return Response(
            {"valid": not issues, "errors": issues, "warnings": warnings, "run_issues": here}
        )

    @extend_schema(responses=ExportSerializer)
    @action(detail=True, methods=["get"], renderer_classes=[JSONRenderer])
    def export(self, request: Request, pk: str | None = None) -> Response:
        workflow = self.get_object()
        filename = f"{slugify(workflow.name) or 'workflow'}.json"
        return Response(
            operations.export_workflow(workflow),
            headers={"Content-Disposition": f'attachment; filename="{filename}"'},
        )

    @extend_schema(request=ImportSerializer, responses={201: WorkflowSerializer, **errors(404)})
    @action(detail=False, methods=["post"], url_path="import")
    def import_(self, request: Request) -> Response:
        data = self._input(ImportSerializer)
        self._may_add_to(data.get("workspace"))
        workflow = operations.import_workflow(
            user=request.user,
            graph=data["graph"],
            name=data["name"],
            description=data["description"],
            workspace=data["workspace"],
            via=via_of(request),
        )
        return self._answer(workflow, status.HTTP_201_CREATED)


class WorkspaceViewSet(mixins.ListModelMixin, viewsets.GenericViewSet[Workspace]):
    """Your workspaces, each with your role in it."""

    queryset = Workspace.objects.none()  # for schema introspection; see get_queryset
    serializer_class = WorkspaceSerializer

    def get_queryset(self) -> QuerySet[Workspace]:
        return workspaces_of(self.request.user)


class NodeTypeSerializer(serializers.Serializer):
    type = serializers.CharField()
    label = serializers.CharField()
    category = serializers.CharField()
    description = serializers.CharField()
    inputs = serializers.ListField(child=serializers.CharField())
    outputs = serializers.ListField(child=serializers.CharField())
    dynamic_outputs = serializers.CharField(allow_null=True)
    can_delegate = serializers.BooleanField()
    delegatable = serializers.BooleanField()
    delegates_to_any = serializers.BooleanField(
        help_text="map and loop: one delegate edge, to a body of any type that takes an input"
    )
    config_schema = serializers.JSONField(help_text="JSON Schema of the node's settings")


class NodeTypeListView(APIView):
    """The node-type catalogue the canvas builds its palette and settings forms from."""

    @extend_schema(responses=NodeTypeSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(default_registry.catalogue())


class ExampleListView(APIView):
    """The example flows that ship with the app, to start a workflow from."""

    @extend_schema(responses=ExampleSerializer(many=True))
    def get(self, request: Request) -> Response:
        return Response(ExampleSerializer(examples.list_examples(), many=True).data)


class ExampleImportView(APIView):
    """Create a workflow from an example, in your own workspace unless you name another."""

    @extend_schema(
        request=ExampleImportSerializer,
        parameters=[EXAMPLE_NAME],
        responses={201: WorkflowSerializer},
    )
    def post(self, request: Request, name: str) -> Response:
        serializer = ExampleImportSerializer(data=request.data, context={"request": request})
        serializer.is_valid(raise_exception=True)
        data = serializer.validated_data
        if data.get("workspace") is not None:
            require(request.user, data["workspace"].pk, "edit")
        workflow = examples.import_example(
            user=request.user,
            name=name,
            workspace=data["workspace"],
            workflow_name=data.get("name"),
            via=via_of(request),
        )
        return Response(
            WorkflowSerializer(workflow, context={"request": request}).data,
            status=status.HTTP_201_CREATED,
        )


MODEL_ID = r"^[A-Za-z0-9_.\-]+/[A-Za-z0-9_.:\-/]+$"


def _capability_field(name: str, help_text: str) -> serializers.ChoiceField:
    """One of a model's capability settings: its modes, or "" / "auto" to have it detected."""
    modes = [mode for mode in catalogue.CAPABILITY_CHOICES[name] if mode]
    message = f"must be one of auto, {', '.join(modes)} (auto, or empty: detected)"
    return serializers.ChoiceField(
        choices=["", "auto", *modes],
        allow_blank=True,
        required=False,
        help_text=f"{help_text} Left out: unchanged; auto or empty: detected from the server.",
        error_messages={"invalid_choice": message},
    )


class ModelPriceSerializer(serializers.Serializer):
    model = StrictRegexField(
        MODEL_ID, max_length=200, help_text="provider/model, e.g. openai/gpt-4o-mini"
    )
    input_price = StrictFloatField(min_value=0, help_text="USD per million input tokens")
    output_price = StrictFloatField(min_value=0, help_text="USD per million output tokens")
    context = StrictIntegerField(min_value=1, required=False, allow_null=True)
    # How the model's server is asked (runtime.providers.capabilities); answers give "" for auto.
    structured_output = _capability_field(
        "structured_output",
        "How a JSON answer is asked for: json_schema (response_format json_schema), "
        "json_object (json_object with the schema) or instructions (the schema in the prompt).",
    )
    stream_usage = _capability_field(
        "stream_usage",
        "Whether a stream reports its tokens (reported) or they are counted from the text "
        "(counted).",
    )
    tools = _capability_field(
        "tools",
        "Tools as the request's tools (native) or described in the prompt and called by JSON "
        "(prompted).",
    )
    source = serializers.CharField(read_only=True)
    builtin = serializers.BooleanField(read_only=True)
    note = serializers.CharField(
        read_only=True,
        help_text="What to know before picking the model (e.g. a tiny local model's hardware); "
        "empty for most",
    )
    unavailable = serializers.CharField(
        read_only=True,
        help_text="Why nothing here can call the model now (no provider on the server and no "
        "credential of its kind in the workspace); empty when something can",
    )


class ModelResetSerializer(serializers.Serializer):
    model = StrictRegexField(MODEL_ID, max_length=200)


WORKSPACE_PARAM = OpenApiParameter(
    "workspace", QUERY_ID_SCHEMA, description="a workspace of yours (default: your own)"
)


def _workspace_of(request: Request) -> Workspace:
    raw = request.query_params.get("workspace")
    if raw is None:
        return operations.default_workspace(request.user)
    found = workspaces_of(request.user).filter(pk=query_id(raw)).first() if query_id(raw) else None
    if found is None:
        raise NotFound("no such workspace of yours")
    return found


class ModelCatalogueView(APIView):
    """The model catalogue of a workspace: built-in prices, and the workspace's own entries.

    Costs of runs in the workspace are computed from it; the canvas's model picker lists it.
    """

    @extend_schema(
        parameters=[WORKSPACE_PARAM],
        responses={200: ModelPriceSerializer(many=True), **errors(404)},
    )
    def get(self, request: Request) -> Response:
        return Response(catalogue.catalogue(_workspace_of(request)))

    @extend_schema(
        parameters=[WORKSPACE_PARAM],
        request=ModelPriceSerializer,
        responses={200: ModelPriceSerializer(many=True), **errors(404)},
    )
    def post(self, request: Request) -> Response:
        """Set a model's price, context and capability settings in the workspace (adds the model
        if the catalogue lacks it); capability settings left out stay as they are."""
        body = ModelPriceSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = _workspace_of(request)
        require(request.user, workspace.pk, "edit")
        data = body.validated_data
        catalogue.set_price(
            workspace,
            data["model"],
            data["input_price"],
            data["output_price"],
            data.get("context"),
            user=request.user,
            via=via_of(request),
            structured_output=data.get("structured_output"),
            stream_usage=data.get("stream_usage"),
            tools=data.get("tools"),
        )
        return Response(catalogue.catalogue(workspace))


class ModelResetView(APIView):
    @extend_schema(
        parameters=[WORKSPACE_PARAM],
        request=ModelResetSerializer,
        responses={200: ModelPriceSerializer(many=True), **errors(404)},
    )
    def post(self, request: Request) -> Response:
        """Drop the workspace's own price for a model (back to the built-in one, if any)."""
        body = ModelResetSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        workspace = _workspace_of(request)
        require(request.user, workspace.pk, "edit")
        model = body.validated_data["model"]
        catalogue.reset_price(workspace, model, user=request.user, via=via_of(request))
        return Response(catalogue.catalogue(workspace))
