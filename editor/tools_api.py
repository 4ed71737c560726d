"""``/api/workspaces/<id>/mcp-servers/``, ``…/http-tools/`` and ``…/tools/``: the workspace's
agent tools. Every member lists them (workers' settings name them); owners and editors add,
change, refresh and delete. Credentials are named, never shown.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers, status
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from editor import workspace_tools as tools
from editor.access import require, workspaces_of
from editor.api_schema import errors
from editor.authentication import via_of
from editor.errors import Forbidden, NotFound
from editor.models import HttpTool, McpServer, Workflow, Workspace
from editor.strict_fields import StrictCharField, StrictFloatField, StrictRegexField
from runtime.tools import default_tools
from runtime.tools.refs import NAME_PATTERN
from runtime.tools.workflow_tool import parameters_of

WORKSPACE_ID = OpenApiParameter("workspace_id", int, OpenApiParameter.PATH, description="Workspace")
NAME = OpenApiParameter("name", str, OpenApiParameter.PATH, description="Its name")
NAME_ERRORS = {"invalid": "letters, digits, - and _ (at most 64), starting with a letter or digit"}


def _workspace(request: Request, workspace_id: int) -> Workspace:
    try:
        return workspaces_of(request.user).get(pk=workspace_id)
    except Workspace.DoesNotExist:
        raise NotFound("no such workspace of yours") from None


class ToolInfoSerializer(serializers.Serializer):
    name = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    input_schema = serializers.JSONField(help_text="JSON Schema of the tool's arguments")
    ref = serializers.CharField(help_text="How a worker's tools setting names it")
    problem = serializers.CharField(
        allow_null=True, help_text="Why it cannot be called (an invalid schema), or null"
    )


class McpServerSerializer(serializers.Serializer):
    name = serializers.CharField()
    source = serializers.ChoiceField(
        choices=["workspace", "operator"],
        help_text="workspace: added here (streamable HTTP); operator: a local command the "
        "server's operator declared (read-only)",
    )
    transport = serializers.ChoiceField(choices=["http", "stdio"])
    url = serializers.CharField(allow_blank=True)
    credential = serializers.CharField(allow_blank=True)
    tools = ToolInfoSerializer(many=True)
    tools_error = serializers.CharField(allow_blank=True, help_text="Why the last listing failed")
    refreshed_at = serializers.DateTimeField(allow_null=True)


class McpServerCreateSerializer(serializers.Serializer):
    name = StrictRegexField(
        f"^{NAME_PATTERN}$",
        max_length=64,
        error_messages=NAME_ERRORS,
        help_text="How flows name it (mcp:<name>/<tool>)",
    )
    url = StrictRegexField(
        tools.SERVER_URL_PATTERN,
        max_length=tools.MAX_URL_CHARS,
        help_text="The streamable-HTTP endpoint",
    )
    credential = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=64,
        help_text="An http_bearer or http_header credential sent with every request",
    )


class McpServerUpdateSerializer(serializers.Serializer):
    url = StrictRegexField(tools.SERVER_URL_PATTERN, required=False, max_length=tools.MAX_URL_CHARS)
    credential = StrictCharField(required=False, allow_blank=True, max_length=64)


class HttpToolSerializer(serializers.Serializer):
    name = serializers.CharField()
    ref = serializers.CharField()
    description = serializers.CharField(allow_blank=True)
    method = serializers.ChoiceField(choices=list(tools.HTTP_METHODS))
    url = serializers.CharField()
    headers = serializers.DictField(child=serializers.CharField(allow_blank=True))
    parameters = serializers.JSONField()
    body = serializers.CharField(allow_blank=True)
    credential = serializers.CharField(allow_blank=True)
    timeout = serializers.FloatField()
    problem = serializers.CharField(
        allow_null=True,
        help_text="What keeps it from being called (an invalid schema or template), or null",
    )


class HttpToolWriteSerializer(serializers.Serializer):
    name = StrictRegexField(
        f"^{NAME_PATTERN}$",
        max_length=64,
        error_messages=NAME_ERRORS,
        help_text="The tool's name, as the model sees it",
    )
    description = StrictCharField(required=False, allow_blank=True, max_length=2000)
    method = serializers.ChoiceField(choices=list(tools.HTTP_METHODS), required=False)
    url = StrictRegexField(
        r"^https?://",
        max_length=8000,
        help_text="http(s) URL; a template over the arguments ({{ city | urlencode }})",
    )
    headers = serializers.DictField(
        child=StrictCharField(allow_blank=True, max_length=8000),
        required=False,
        help_text="Name → value template",
    )
    parameters = serializers.DictField(
        required=False,
        help_text="JSON Schema (an object) of the arguments the model fills; one that is not "
        "valid is kept and named in the tool's problem",
    )
    body = StrictCharField(
        required=False,
        allow_blank=True,
        max_length=100_000,
        help_text="A template; empty: the arguments as JSON for POST, PUT and PATCH",
    )
    credential = StrictCharField(required=False, allow_blank=True, max_length=64)
    timeout = StrictFloatField(required=False, min_value=0.1, max_value=600)


class HttpToolUpdateSerializer(HttpToolWriteSerializer):
    name = StrictRegexField(
        f"^{NAME_PATTERN}$", max_length=64, error_messages=NAME_ERRORS, required=False
    )
    url = StrictRegexField(r"^https?://", max_length=8000, required=False)


class WorkflowToolSerializer(serializers.Serializer):
    ref = serializers.CharField()
    name = serializers.CharField()
    workflow = serializers.CharField()
    parameters = serializers.JSONField()


class BuiltinToolSerializer(serializers.Serializer):
    ref = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    parameters = serializers.JSONField()


class ToolCatalogueSerializer(serializers.Serializer):
    builtin = BuiltinToolSerializer(many=True)
    mcp_servers = McpServerSerializer(many=True)
    http_tools = HttpToolSerializer(many=True)
    workflows = WorkflowToolSerializer(many=True)


def _tool_infos(server: str, listing: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {
            "name": tool.get("name", ""),
            "description": tool.get("description") or "",
            "input_schema": tool.get("input_schema") or {},
            "ref": f"mcp:{server}/{tool.get('name', '')}",
            "problem": tools.schema_problem(tool.get("input_schema")),
        }
        for tool in listing
    ]


def server_data(server: McpServer) -> dict[str, Any]:
    return {
        "name": server.name,
        "source": "workspace",
        "transport": "http",
        "url": server.url,
        "credential": server.credential,
        "tools": _tool_infos(server.name, server.tools or []),
        "tools_error": server.tools_error,
        "refreshed_at": server.refreshed_at,
    }


def operator_data(
    name: str, listing: list[dict[str, Any]] | None, error: str = ""
) -> dict[str, Any]:
    return {
        "name": name,
        "source": "operator",
        "transport": "stdio",
        "url": "",
        "credential": "",
        "tools": _tool_infos(name, listing or []),
        "tools_error": error,
        "refreshed_at": None,
    }


def http_data(tool: HttpTool) -> dict[str, Any]:
    return {
        "name": tool.name,
        "ref": f"http:{tool.name}",
        "description": tool.description,
        "method": tool.method,
        "url": tool.url,
        "headers": tool.headers or {},
        "parameters": tool.parameters or {},
        "body": tool.body,
        "credential": tool.credential,
        "timeout": tool.timeout,
        "problem": tools.http_tool_problem(tool),
    }


def _server(request: Request, workspace_id: int, name: str) -> McpServer:
    workspace = _workspace(request, workspace_id)
    found = McpServer.objects.filter(workspace=workspace, name=name).first()
    if found is None:
        if name in tools.operator_servers():
            raise Forbidden(
                f"{name!r} is the operator's server: it is changed in the server's "
                "configuration (MCP_STDIO_SERVERS), not here"
            )
        raise NotFound(f"this workspace has no MCP server {name!r}")
    return found


class McpServerListView(APIView):
    @extend_schema(parameters=[WORKSPACE_ID], responses=McpServerSerializer(many=True))
    def get(self, request: Request, workspace_id: int) -> Response:
        workspace = _workspace(request, workspace_id)
        rows = [server_data(s) for s in McpServer.objects.filter(workspace=workspace)]
        rows += [operator_data(name, None) for name in sorted(tools.operator_servers())]
        return Response(McpServerSerializer(rows, many=True).data)

    @extend_schema(
        parameters=[WORKSPACE_ID],
        request=McpServerCreateSerializer,
        responses={201: McpServerSerializer, **errors(409)},
        description="Adds the server and lists its tools at once (a listing that fails is "
        "kept in tools_error; the server is added all the same).",
    )
    def post(self, request: Request, workspace_id: int) -> Response:
        workspace = _workspace(request, workspace_id)
        require(request.user, workspace.pk, "edit")
        body = McpServerCreateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        server = tools.create_server(
            workspace, user=request.user, via=via_of(request), **body.validated_data
        )
        return Response(
            McpServerSerializer(server_data(server)).data, status=status.HTTP_201_CREATED
        )


class McpServerDetailView(APIView):
    @extend_schema(parameters=[WORKSPACE_ID, NAME], responses=McpServerSerializer)
    def get(self, request: Request, workspace_id: int, name: str) -> Response:
        return Response(McpServerSerializer(server_data(_server(request, workspace_id, name))).data)

    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        request=McpServerUpdateSerializer,
        responses=McpServerSerializer,
        description="Change the URL or credential; the tools are listed again.",
    )
    def patch(self, request: Request, workspace_id: int, name: str) -> Response:
        server = _server(request, workspace_id, name)
        require(request.user, server.workspace_id, "edit")
        body = McpServerUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        server = tools.update_server(
            server, user=request.user, changes=dict(body.validated_data), via=via_of(request)
        )
        return Response(McpServerSerializer(server_data(server)).data)

    @extend_schema(parameters=[WORKSPACE_ID, NAME], responses={204: None})
    def delete(self, request: Request, workspace_id: int, name: str) -> Response:
        server = _server(request, workspace_id, name)
        require(request.user, server.workspace_id, "edit")
        tools.delete_server(server, user=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class McpServerRefreshView(APIView):
    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        request=None,
        responses=McpServerSerializer,
        description="List the server's tools again (an operator's server too).",
    )
    def post(self, request: Request, workspace_id: int, name: str) -> Response:
        workspace = _workspace(request, workspace_id)
        require(request.user, workspace.pk, "edit")
        if name in tools.operator_servers():
            listing, error = tools.operator_server_tools(name)
            return Response(McpServerSerializer(operator_data(name, listing, error)).data)
        server = tools.refresh_server(_server(request, workspace_id, name))
        return Response(McpServerSerializer(server_data(server)).data)


def _http_tool(request: Request, workspace_id: int, name: str) -> HttpTool:
    workspace = _workspace(request, workspace_id)
    found = HttpTool.objects.filter(workspace=workspace, name=name).first()
    if found is None:
        raise NotFound(f"this workspace has no HTTP tool {name!r}")
    return found


class HttpToolListView(APIView):
    @extend_schema(parameters=[WORKSPACE_ID], responses=HttpToolSerializer(many=True))
    def get(self, request: Request, workspace_id: int) -> Response:
        workspace = _workspace(request, workspace_id)
        rows = [http_data(t) for t in HttpTool.objects.filter(workspace=workspace)]
        return Response(HttpToolSerializer(rows, many=True).data)

    @extend_schema(
        parameters=[WORKSPACE_ID],
        request=HttpToolWriteSerializer,
        responses={201: HttpToolSerializer, **errors(409)},
    )
    def post(self, request: Request, workspace_id: int) -> Response:
        workspace = _workspace(request, workspace_id)
        require(request.user, workspace.pk, "edit")
        body = HttpToolWriteSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tool = tools.create_http_tool(
            workspace, user=request.user, data=dict(body.validated_data), via=via_of(request)
        )
        return Response(HttpToolSerializer(http_data(tool)).data, status=status.HTTP_201_CREATED)


class HttpToolDetailView(APIView):
    @extend_schema(parameters=[WORKSPACE_ID, NAME], responses=HttpToolSerializer)
    def get(self, request: Request, workspace_id: int, name: str) -> Response:
        return Response(HttpToolSerializer(http_data(_http_tool(request, workspace_id, name))).data)

    @extend_schema(
        parameters=[WORKSPACE_ID, NAME],
        request=HttpToolUpdateSerializer,
        responses={200: HttpToolSerializer, **errors(409)},
    )
    def patch(self, request: Request, workspace_id: int, name: str) -> Response:
        tool = _http_tool(request, workspace_id, name)
        require(request.user, tool.workspace_id, "edit")
        body = HttpToolUpdateSerializer(data=request.data)
        body.is_valid(raise_exception=True)
        tool = tools.update_http_tool(
            tool, user=request.user, data=dict(body.validated_data), via=via_of(request)
        )
        return Response(HttpToolSerializer(http_data(tool)).data)

    @extend_schema(parameters=[WORKSPACE_ID, NAME], responses={204: None})
    def delete(self, request: Request, workspace_id: int, name: str) -> Response:
        tool = _http_tool(request, workspace_id, name)
        require(request.user, tool.workspace_id, "edit")
        tools.delete_http_tool(tool, user=request.user, via=via_of(request))
        return Response(status=status.HTTP_204_NO_CONTENT)


class ToolCatalogueView(APIView):
    """Everything a worker in this workspace may be given, as the settings panel's picker
    shows it: the built-ins, every server's tools, the HTTP tools and the workflows."""

    @extend_schema(parameters=[WORKSPACE_ID], responses=ToolCatalogueSerializer)
    def get(self, request: Request, workspace_id: int) -> Response:
        workspace = _workspace(request, workspace_id)
        builtin = [
            {
                "ref": t["name"],
                "name": t["name"],
                "description": t["description"],
                "parameters": t["parameters"],
            }
            for t in default_tools.catalogue()
        ]
        servers = [server_data(s) for s in McpServer.objects.filter(workspace=workspace)]
        servers += [operator_data(name, None) for name in sorted(tools.operator_servers())]
        http = [http_data(t) for t in HttpTool.objects.filter(workspace=workspace)]
        flows = [
            {
                "ref": f"workflow:{pk}",
                "name": name,
                "workflow": str(pk),
                "parameters": parameters_of(graph),
            }
            for pk, name, graph in Workflow.objects.filter(
                workspace=workspace, current_version__isnull=False
            ).values_list("pk", "name", "current_version__graph")[:500]
        ]
        data = {"builtin": builtin, "mcp_servers": servers, "http_tools": http, "workflows": flows}
        return Response(ToolCatalogueSerializer(data).data)
