"""A workspace's tools for its agents: MCP servers reached by URL, and HTTP APIs as tools.

Servers that run as a local command (stdio) are not rows: only the operator declares them
(``MCP_STDIO_SERVERS``), since a command a member typed would run on the server.
"""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from editor.models.workspaces import Workspace


class McpServer(models.Model):
    """A streamable-HTTP MCP server, with the tools its last listing found (``tools``: name,
    description, input_schema each). Steps offer those tools without asking the server first,
    so a server that is down costs only its own calls."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="mcp_servers")
    name = models.SlugField(max_length=64)
    url = models.CharField(max_length=2000)
    # A workspace credential (http_bearer or http_header), by name, sent with every request.
    credential = models.CharField(max_length=64, blank=True, default="")
    tools = models.JSONField(default=list, blank=True)
    # Why the last listing failed ("" when it did not), and when it was made.
    tools_error = models.TextField(blank=True, default="")
    refreshed_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="one_mcp_server_per_name")
        ]

    def __str__(self) -> str:
        return f"MCP server {self.name} in {self.workspace}"


class HttpTool(models.Model):
    """An HTTP API as a tool: a method, a URL template over the arguments, headers, a JSON Schema
    of the arguments and a credential."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="http_tools")
    name = models.CharField(max_length=64)
    description = models.TextField(blank=True, default="")
    method = models.CharField(max_length=8, default="GET")
    url = models.CharField(max_length=8000)
    headers = models.JSONField(default=dict, blank=True)
    parameters = models.JSONField(default=dict, blank=True)
    body = models.TextField(blank=True, default="")
    credential = models.CharField(max_length=64, blank=True, default="")
    timeout = models.FloatField(default=30.0)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="one_http_tool_per_name")
        ]

    def __str__(self) -> str:
        return f"HTTP tool {self.name} in {self.workspace}"
