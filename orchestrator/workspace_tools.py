"""The ToolDefinitions a run's steps get: the MCP servers and HTTP tools of the run's workspace,
and the operator's stdio servers (``MCP_STDIO_SERVERS``).

Nothing is read when it is made (it is made for every step); a worker asks for a definition
from a thread of its own (the node runs on the worker's event loop, where the ORM may not be
used), which closes its connection when done.
"""

from __future__ import annotations

from typing import Any

from django.db import connection

from editor.models import HttpTool, McpServer
from editor.workspace_tools import http_tool_spec
from runtime.tools.specs import (
    HttpToolSpec,
    McpServerSpec,
    ToolInfo,
    ToolNotFound,
    stdio_servers_from_env,
)


class WorkspaceToolDefinitions:
    """runtime.tools.specs.ToolDefinitions over one workspace's rows."""

    def __init__(self, workspace_id: Any) -> None:
        self.workspace_id = workspace_id

    def __repr__(self) -> str:
        return f"WorkspaceToolDefinitions(workspace={self.workspace_id})"

    def mcp_server(self, name: str) -> McpServerSpec:
        operator = stdio_servers_from_env().get(name)
        if operator is not None:
            return operator
        try:
            row = McpServer.objects.filter(workspace_id=self.workspace_id, name=name).first()
        finally:
            connection.close()
        if row is None:
            raise ToolNotFound(f"this workspace has no MCP server {name!r}")
        return McpServerSpec(
            name=row.name,
            url=row.url,
            credential=row.credential or None,
            tools=tuple(ToolInfo.from_dict(tool) for tool in row.tools or []),
        )

    def http_tool(self, name: str) -> HttpToolSpec:
        try:
            row = HttpTool.objects.filter(workspace_id=self.workspace_id, name=name).first()
        finally:
            connection.close()
        if row is None:
            raise ToolNotFound(f"this workspace has no HTTP tool {name!r}")
        return http_tool_spec(row)
