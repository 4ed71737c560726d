"""What a workspace defines for its agents' tools, as the engine sees it: MCP servers (with the
tools their last listing found) and HTTP tools. :class:`ToolDefinitions` is how a step finds the
definition a reference names (``Services.tool_definitions``); the app reads it from the
workspace, the command line and tests hand definitions over (:class:`StaticToolDefinitions`).

A server run as a local command (stdio) is never a workspace's to define: only the operator's
``MCP_STDIO_SERVERS`` (:func:`stdio_servers_from_env`) declares them, by name, and a workspace's
flows use them by that name. A command typed into a web form would run anything on the server.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from typing import Any, Literal, Protocol

from runtime.errors import NodeConfigError
from runtime.tools.refs import NAME_PATTERN

STDIO_ENV = "MCP_STDIO_SERVERS"
HttpMethod = Literal["GET", "POST", "PUT", "PATCH", "DELETE"]


class ToolNotFound(NodeConfigError):
    """A reference names a server, HTTP tool or workflow that is not there (any more)."""

    code = "unknown_tool"


@dataclass(frozen=True, slots=True)
class ToolInfo:
    """One tool as a server lists it: its name, what it does and its arguments' JSON Schema."""

    name: str
    description: str = ""
    input_schema: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "description": self.description,
            "input_schema": dict(self.input_schema),
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> ToolInfo:
        return cls(
            str(data.get("name", "")),
            str(data.get("description") or ""),
            dict(data.get("input_schema") or {}),
        )


@dataclass(frozen=True)
class McpServerSpec:
    """An MCP server: a streamable-HTTP ``url`` (a workspace's, reached through the outbound
    guard, with an optional ``credential`` for its auth header) or an operator's ``command``."""

    name: str
    url: str = ""
    credential: str | None = None
    command: str = ""
    args: tuple[str, ...] = ()
    env: Mapping[str, str] = field(default_factory=dict)
    cwd: str | None = None
    # From the last listing (the app refreshes it on demand); None: list them when first needed.
    tools: tuple[ToolInfo, ...] | None = None

    @property
    def transport(self) -> Literal["http", "stdio"]:
        return "stdio" if self.command else "http"

    def with_tools(self, tools: Iterable[ToolInfo]) -> McpServerSpec:
        return replace(self, tools=tuple(tools))


@dataclass(frozen=True)
class HttpToolSpec:
    """An HTTP API as a tool: the model fills ``parameters`` (a JSON Schema of an object); the
    URL, header values and body are templates over those arguments (``{{ city | urlencode }}``).
    An empty body sends the arguments as JSON for POST, PUT and PATCH."""

    name: str
    url: str
    description: str = ""
    method: HttpMethod = "GET"
    headers: Mapping[str, str] = field(default_factory=dict)
    parameters: Mapping[str, Any] = field(
        default_factory=lambda: {"type": "object", "properties": {}}
    )
    body: str = ""
    credential: str | None = None
    timeout: float = 30.0


class ToolDefinitions(Protocol):
    def mcp_server(self, name: str) -> McpServerSpec:
        """The server called ``name``; ToolNotFound when there is none."""
        ...

    def http_tool(self, name: str) -> HttpToolSpec:
        """The HTTP tool called ``name``; ToolNotFound when there is none."""
        ...


class StaticToolDefinitions:
    """Definitions given up front (the command line, tests, benchmarks)."""

    def __init__(
        self,
        mcp_servers: Iterable[McpServerSpec] = (),
        http_tools: Iterable[HttpToolSpec] = (),
    ) -> None:
        self._servers = {server.name: server for server in mcp_servers}
        self._http = {tool.name: tool for tool in http_tools}

    def mcp_server(self, name: str) -> McpServerSpec:
        found = self._servers.get(name)
        if found is None:
            known = ", ".join(sorted(self._servers)) or "none"
            raise ToolNotFound(f"there is no MCP server {name!r} (known: {known})")
        return found

    def http_tool(self, name: str) -> HttpToolSpec:
        found = self._http.get(name)
        if found is None:
            known = ", ".join(sorted(self._http)) or "none"
            raise ToolNotFound(f"there is no HTTP tool {name!r} (known: {known})")
        return found


def parse_stdio_servers(text: str) -> dict[str, McpServerSpec]:
    """The operator's stdio servers from ``MCP_STDIO_SERVERS``: a JSON object of
    ``{"<name>": {"command": "...", "args": [...], "env": {...}, "cwd": "..."}}``.
    ValueError naming the entry at fault."""
    if not text.strip():
        return {}
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{STDIO_ENV} is not JSON: {exc}") from None
    if not isinstance(data, dict):
        raise ValueError(f"{STDIO_ENV} must be a JSON object of name → {{command, args}}")
    servers: dict[str, McpServerSpec] = {}
    for name, entry in data.items():
        where = f"{STDIO_ENV}[{name!r}]"
        if not re.fullmatch(NAME_PATTERN, str(name)):
            raise ValueError(f"{where}: names are letters, digits, - and _ (at most 64)")
        if not isinstance(entry, dict) or not isinstance(entry.get("command"), str):
            raise ValueError(f'{where} needs a "command" (a string)')
        args = entry.get("args", [])
        env = entry.get("env", {})
        if not isinstance(args, list) or not all(isinstance(a, str) for a in args):
            raise ValueError(f"{where}.args must be a list of strings")
        if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
            raise ValueError(f"{where}.env must be an object of strings")
        unknown = sorted(set(entry) - {"command", "args", "env", "cwd"})
        if unknown:
            raise ValueError(f"{where}: unknown setting {unknown[0]!r}")
        servers[name] = McpServerSpec(
            name=name,
            command=entry["command"],
            args=tuple(args),
            env=dict(env),
            cwd=entry.get("cwd"),
        )
    return servers


def stdio_servers_from_env(environ: Mapping[str, str] | None = None) -> dict[str, McpServerSpec]:
    env = os.environ if environ is None else environ
    return parse_stdio_servers(env.get(STDIO_ENV, ""))
