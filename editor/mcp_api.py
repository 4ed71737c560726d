"""``/api/workspaces/<id>/mcp/``: the workspace's MCP endpoint (its URL and the tools it serves),
and ``…/mcp/workflows/<workflow id>/``: serve a workflow there or stop. Every member reads;
owners and editors choose (the same role that makes a webhook). See editor.mcp_exposure."""

from __future__ import annotations

import dataclasses
from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor import mcp_exposure
from editor.access import require, workspaces_of
from editor.api_schema import errors
from editor.authentication import via_of
from editor.errors import NotFound
from editor.models import Workflow, Workspace
from editor.strict_fields import StrictBooleanField

WORKSPACE_ID = OpenApiParameter("workspace_id", int, OpenApiParameter.PATH, description="Workspace")
WORKFLOW_ID = OpenApiParameter("workflow_id", str, OpenApiParameter.PATH, description="Workflow")


class ServedToolSerializer(serializers.Serializer):
    name = serializers.CharField(help_text="The tool's name on the endpoint")
    workflow_id = serializers.UUIDField()
    workflow_name = serializers.CharField()
    description = serializers.CharField()
    input_schema = serializers.JSONField(help_text="The workflow's input fields (JSON Schema)")
    exposed = serializers.BooleanField(help_text="Whether MCP clients see and call it")
    problem = serializers.CharField(
        allow_null=True, help_text="Why a call cannot start a run now, or null"
    )


class McpEndpointSerializer(serializers.Serializer):
    url = serializers.URLField(help_text="Point an MCP client here (streamable HTTP)")
    auth = serializers.CharField(help_text="The header an MCP client sends")
    tools = ServedToolSerializer(
        many=True, help_text="Every workflow of the workspace, served or not"
    )


class ExposeSerializer(serializers.Serializer):
    exposed = StrictBooleanField(help_text="true: MCP clients list and call it; false: they don't")


def _workspace(request: Request, workspace_id: int) -> Workspace:
    found = workspaces_of(request.user).filter(pk=workspace_id).first()
    if found is None:
        raise NotFound("no such workspace of yours")
    return found


def endpoint_url(request: Request, workspace_id: int) -> str:
    return request.build_absolute_uri(mcp_exposure.ENDPOINT_PATH.format(workspace=workspace_id))


def _shown(tool: mcp_exposure.ServedTool) -> dict[str, Any]:
    return ServedToolSerializer(dataclasses.asdict(tool)).data  # type: ignore[no-any-return]


class McpEndpointView(APIView):
    @extend_schema(parameters=[WORKSPACE_ID], responses=McpEndpointSerializer)
    def get(self, request: Request, workspace_id: int) -> Response:
        """The endpoint's URL and every workflow of the workspace with its tool (served or not)."""
        workspace = _workspace(request, workspace_id)
        tools = mcp_exposure.served_tools(workspace.pk, exposed_only=False)
        return Response(
            {
                "url": endpoint_url(request, workspace.pk),
                "auth": "Authorization: Bearer <API token> (or Token <API token>)",
                "tools": [_shown(tool) for tool in tools],
            }
        )


class McpExposureView(APIView):
    @extend_schema(
        parameters=[WORKSPACE_ID, WORKFLOW_ID],
        request=ExposeSerializer,
        responses={200: ServedToolSerializer, **errors(403, 404)},
    )
    def put(self, request: Request, workspace_id: int, workflow_id: str) -> Response:
        """Serve the workflow as a tool of the workspace's MCP endpoint (true) or stop (false)."""
        workspace = _workspace(request, workspace_id)
        workflow = Workflow.objects.filter(workspace=workspace, pk=workflow_id).first()
        if workflow is None:
            raise NotFound("this workspace has no such workflow")
        require(request.user, workspace.pk, "edit")
        body = ExposeSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        mcp_exposure.set_exposed(
            workflow, body.validated_data["exposed"], user=request.user, via=via_of(request)
        )
        tools = mcp_exposure.served_tools(workspace.pk, exposed_only=False)
        return Response(_shown(next(t for t in tools if t.workflow_id == str(workflow.pk))))
