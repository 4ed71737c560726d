"""A workspace's agent tools: its MCP servers (added, changed, listed, refreshed, deleted) and
its HTTP tools, each change with its audit entry; and the operator's stdio servers, read-only.

A server's tools are listed when it is added and when someone presses Refresh, through the
official SDK and the outbound guard (:mod:`runtime.tools.mcp_client`); the listing is stored,
so steps offer those tools without asking the server first. Listing happens outside any
transaction: a slow server holds no database connection's lock.
"""

from __future__ import annotations

import asyncio
import re
from typing import Any
from urllib.parse import urlsplit

import jsonschema
from django.db import IntegrityError, transaction
from django.utils import timezone

from editor import secret_box
from editor.audit import record
from editor.errors import Conflict, NotFound, OperationError
from editor.models import Credential, HttpTool, McpServer, Workspace
from runtime.errors import StepError
from runtime.sandbox import compile_template
from runtime.secrets import Secret
from runtime.tools.credentials import CREDENTIAL_KINDS, CredentialKindError
from runtime.tools.mcp_client import McpConnection, McpToolError
from runtime.tools.refs import NAME_PATTERN
from runtime.tools.specs import HttpToolSpec, McpServerSpec, ToolInfo, stdio_servers_from_env

LIST_TIMEOUT = 30.0
MAX_URL_CHARS = 2000
MAX_TOOLS = 1000
_NAME = re.compile(rf"^{NAME_PATTERN}$")
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
HTTP_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
URL_PREFIXES = ("http://", "https://")
# What a server URL may look like (the API schema says it): http(s), a host, a port, a path.
SERVER_URL_PATTERN = r"^https?://[A-Za-z0-9.-]+(?::[0-9]{1,5})?(?:[/?#][!-~]*)?$"


def _invalid(field: str, message: str) -> OperationError:
    return OperationError(f"{field}: {message}", fields={field: [message]})


def _conflict(field: str, message: str) -> Conflict:
    # The request is well formed; what it names is of the wrong kind.
    return Conflict(f"{field}: {message}", fields={field: [message]})


def operator_servers() -> dict[str, McpServerSpec]:
    """The operator's stdio servers (``MCP_STDIO_SERVERS``); a bad value names its fault."""
    try:
        return stdio_servers_from_env()
    except ValueError as exc:
        raise OperationError(f"the server's MCP_STDIO_SERVERS is not valid: {exc}") from None


# -- checks shared by servers and HTTP tools ------------------------------------------------------


def check_name(value: Any) -> str:
    if not isinstance(value, str) or not _NAME.match(value):
        raise _invalid(
            "name", "letters, digits, - and _ (at most 64), starting with one of the first two"
        )
    return value


def check_credential(workspace: Workspace, value: Any) -> str:
    """A credential of the workspace that can authenticate a tool's requests, or ""."""
    if value in (None, ""):
        return ""
    if not isinstance(value, str):
        raise _invalid("credential", "must be a credential's name")
    kind = (
        Credential.objects.filter(workspace=workspace, name=value)
        .values_list("kind", flat=True)
        .first()
    )
    if kind is None:
        message = f"this workspace has no credential named {value!r}"
        raise NotFound(message, fields={"credential": [message]})
    if kind not in CREDENTIAL_KINDS:
        raise _conflict(
            "credential",
            f"{value!r} is a {kind} credential; a tool needs {' or '.join(CREDENTIAL_KINDS)}",
        )
    return value


def secret_of(workspace_id: Any, name: str) -> Secret | None:
    if not name:
        return None
    row = Credential.objects.filter(workspace_id=workspace_id, name=name).first()
    if row is None:
        return None
    return Secret(row.name, row.kind, secret_box.decrypt(row.ciphertext), dict(row.config or {}))


def check_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_URL_CHARS:
        raise _invalid("url", f"must be an http(s) URL of at most {MAX_URL_CHARS} characters")
    value = value.strip()
    if not re.fullmatch(SERVER_URL_PATTERN, value):
        raise _invalid("url", "must be an http(s) URL, e.g. https://mcp.example.com/mcp")
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("url", "must be an http(s) URL, e.g. https://mcp.example.com/mcp")
    if parts.username or parts.password:
        raise _invalid("url", "must not carry a user or password; use a credential")
    return value


def schema_problem(schema: Any) -> str | None:
    if not isinstance(schema, dict):
        return "the input schema is not an object"
    try:
        jsonschema.Draft202012Validator.check_schema(schema)
    except jsonschema.SchemaError as exc:
        return f"the input schema is not valid JSON Schema: {exc.message}"
    if schema.get("type", "object") != "object":
        return "the input schema does not describe an object of arguments"
    return None


# -- MCP servers -----------------------------------------------------------------------------------


def list_tools(spec: McpServerSpec, secret: Secret | None) -> list[ToolInfo]:
    """The server's tools, asked now; McpToolError saying why not."""

    async def listing() -> list[ToolInfo]:
        connection = McpConnection(spec, secret)
        try:
            return await connection.list_tools(LIST_TIMEOUT)
        finally:
            await connection.aclose()

    try:
        return asyncio.run(listing())[:MAX_TOOLS]
    except CredentialKindError as exc:
        raise McpToolError(str(exc)) from None


def _listing(server: McpServer) -> tuple[list[dict[str, Any]], str]:
    spec = McpServerSpec(server.name, url=server.url, credential=server.credential or None)
    try:
        tools = list_tools(spec, secret_of(server.workspace_id, server.credential))
    except (McpToolError, StepError) as exc:
        return list(server.tools or []), str(exc)
    return [tool.to_dict() for tool in tools], ""


def _record(
    action: str, server: McpServer | HttpTool, user: Any, via: str, detail: dict[str, Any]
) -> None:
    record(
        action,
        actor=user,
        workspace=server.workspace,
        target=server,
        target_label=server.name,
        via=via,
        detail=detail,
    )


def create_server(
    workspace: Workspace,
    *,
    user: Any,
    name: Any,
    url: Any,
    credential: Any = "",
    via: str = "session",
) -> McpServer:
    name = check_name(name)
    if name in operator_servers():
        raise Conflict(
            f"{name!r} is the name of a server the operator declared; choose another",
            fields={"name": ["taken by an operator's server"]},
        )
    server = McpServer(
        workspace=workspace,
        name=name,
        url=check_url(url),
        credential=check_credential(workspace, credential),
        created_by=user,
    )
    if McpServer.objects.filter(workspace=workspace, name=name).exists():
        raise _taken(name)
    server.tools, server.tools_error = _listing(server)
    server.refreshed_at = timezone.now()
    try:
        with transaction.atomic():
            server.save()
            _record(
                "mcp_server.created",
                server,
                user,
                via,
                {"url": server.url, "tools": len(server.tools)},
            )
    except IntegrityError:
        raise _taken(name) from None
    return server


def _taken(name: str) -> Conflict:
    return Conflict(
        f"this workspace already has a tool source named {name!r}",
        fields={"name": ["already taken"]},
    )


def update_server(
    server: McpServer, *, user: Any, changes: dict[str, Any], via: str = "session"
) -> McpServer:
    unknown = sorted(set(changes) - {"url", "credential"})
    if unknown:
        raise _invalid(unknown[0], "cannot be changed (a server's name is how flows name it)")
    if "url" in changes:
        server.url = check_url(changes["url"])
    if "credential" in changes:
        server.credential = check_credential(server.workspace, changes["credential"])
    server.tools, server.tools_error = _listing(server)
    server.refreshed_at = timezone.now()
    with transaction.atomic():
        server.save()
        _record("mcp_server.updated", server, user, via, {"changed": sorted(changes)})
    return server


def refresh_server(server: McpServer) -> McpServer:
    server.tools, server.tools_error = _listing(server)
    server.refreshed_at = timezone.now()
    server.save(update_fields=["tools", "tools_error", "refreshed_at", "updated_at"])
    return server


def delete_server(server: McpServer, *, user: Any, via: str = "session") -> None:
    with transaction.atomic():
        _record("mcp_server.deleted", server, user, via, {"url": server.url})
        server.delete()


def operator_server_tools(name: str) -> tuple[list[dict[str, Any]], str]:
    spec = operator_servers().get(name)
    if spec is None:
        raise NotFound(f"there is no MCP server {name!r}")
    try:
        return [tool.to_dict() for tool in list_tools(spec, None)], ""
    except McpToolError as exc:
        return [], str(exc)


# -- HTTP tools ------------------------------------------------------------------------------------


def check_http_tool(
    workspace: Workspace, data: dict[str, Any], current: HttpTool | None
) -> dict[str, Any]:
    """The clean fields of an HTTP tool from ``data`` (all of them for a new one)."""
    allowed = {
        "name",
        "description",
        "method",
        "url",
        "headers",
        "parameters",
        "body",
        "credential",
        "timeout",
    }
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise _invalid(unknown[0], "not a setting of an HTTP tool")
    clean: dict[str, Any] = {}
    if current is None or "name" in data:
        clean["name"] = check_name(data.get("name"))
    if "description" in data:
        if not isinstance(data["description"], str) or len(data["description"]) > 2000:
            raise _invalid("description", "must be a text of at most 2,000 characters")
        clean["description"] = data["description"]
    if "method" in data:
        if data["method"] not in HTTP_METHODS:
            raise _invalid("method", f"must be one of {', '.join(HTTP_METHODS)}")
        clean["method"] = data["method"]
    if current is None or "url" in data:
        url = data.get("url")
        if not isinstance(url, str) or len(url) > 8000 or not url.startswith(URL_PREFIXES):
            raise _invalid(
                "url", "must start with http:// or https:// (the rest may be a template)"
            )
        clean["url"] = url.strip()
    if "headers" in data:
        headers = data["headers"]
        if not isinstance(headers, dict) or len(headers) > 50:
            raise _invalid("headers", "must be an object of at most 50 name → value")
        if not all(isinstance(v, str) and len(v) <= 8000 for v in headers.values()):
            raise _invalid("headers", "each value must be a text of at most 8,000 characters")
        clean["headers"] = headers
    if "parameters" in data:
        if not isinstance(data["parameters"], dict):
            raise _invalid("parameters", "must be a JSON Schema (an object)")
        clean["parameters"] = data["parameters"]
    elif current is None:
        clean["parameters"] = {"type": "object", "properties": {}}
    if "body" in data:
        if not isinstance(data["body"], str) or len(data["body"]) > 100_000:
            raise _invalid("body", "must be a text of at most 100,000 characters")
        clean["body"] = data["body"]
    if "credential" in data:
        clean["credential"] = check_credential(workspace, data["credential"])
    if "timeout" in data:
        timeout = data["timeout"]
        if (
            isinstance(timeout, bool)
            or not isinstance(timeout, int | float)
            or not 0 < timeout <= 600
        ):
            raise _invalid("timeout", "must be a number of seconds above 0, at most 600")
        clean["timeout"] = float(timeout)
    return clean


def http_tool_problem(tool: HttpTool) -> str | None:
    """What keeps a saved HTTP tool from being called (its calls answer this), or None. Saved
    all the same, as a draft of a flow is: the list shows the problem beside the tool."""
    problem = schema_problem(tool.parameters)
    if problem is not None:
        return f"parameters: {problem}"
    for key in tool.headers or {}:
        if not _HEADER_NAME.match(str(key)):
            return f"headers: {key!r} is not a header name"
    templates = {"url": tool.url, "body": tool.body}
    templates.update({f"headers.{k}": v for k, v in (tool.headers or {}).items()})
    for where, source in templates.items():
        try:
            compile_template(source)
        except StepError as exc:
            return f"{where}: {exc}"
    return None


def create_http_tool(
    workspace: Workspace, *, user: Any, data: dict[str, Any], via: str = "session"
) -> HttpTool:
    tool = HttpTool(workspace=workspace, created_by=user, **check_http_tool(workspace, data, None))
    try:
        with transaction.atomic():
            tool.save()
            _record("http_tool.created", tool, user, via, {"method": tool.method, "url": tool.url})
    except IntegrityError:
        raise _taken(tool.name) from None
    return tool


def update_http_tool(
    tool: HttpTool, *, user: Any, data: dict[str, Any], via: str = "session"
) -> HttpTool:
    for key, value in check_http_tool(tool.workspace, data, tool).items():
        setattr(tool, key, value)
    try:
        with transaction.atomic():
            tool.save()
            _record("http_tool.updated", tool, user, via, {"changed": sorted(data)})
    except IntegrityError:
        raise _taken(tool.name) from None
    return tool


def delete_http_tool(tool: HttpTool, *, user: Any, via: str = "session") -> None:
    with transaction.atomic():
        _record("http_tool.deleted", tool, user, via, {})
        tool.delete()


def http_tool_spec(tool: HttpTool) -> HttpToolSpec:
    return HttpToolSpec(
        name=tool.name,
        url=tool.url,
        description=tool.description,
        method=tool.method,  # type: ignore[arg-type]
        headers=dict(tool.headers or {}),
        parameters=dict(tool.parameters or {}),
        body=tool.body,
        credential=tool.credential or None,
        timeout=tool.timeout,
    )
