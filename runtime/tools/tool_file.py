"""Tools for a run on the command line (``python -m runtime run --tools tools.json``): the MCP
servers (by streamable-HTTP URL) and HTTP tools a workspace would define in the app, and the
credentials they name, in one JSON file::

    {
      "mcp_servers": {"search": {"url": "https://mcp.example.com/mcp", "credential": "search"}},
      "http_tools": {
        "weather": {"url": "https://api.example.com/w?city={{ city | urlencode }}",
                    "description": "Today's weather in a city",
                    "parameters": {"type": "object", "properties": {"city": {"type": "string"}}},
                    "credential": "weather"}
      },
      "credentials": {
        "search": {"kind": "http_bearer", "env": "SEARCH_TOKEN"},
        "weather": {"kind": "http_header", "header": "X-Api-Key", "env": "WEATHER_KEY"}
      }
    }

A credential's value is read from the environment variable it names: the file holds no secret
and can be committed beside the flow. A server run as a local command is not declared here: the
operator's ``MCP_STDIO_SERVERS`` is the one place for those (:mod:`runtime.tools.specs`).
Every mistake is a ValueError naming the entry and the field.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, get_args

from runtime.secrets import Secret
from runtime.tools.credentials import CREDENTIAL_KINDS
from runtime.tools.refs import NAME_PATTERN
from runtime.tools.specs import STDIO_ENV, HttpMethod, HttpToolSpec, McpServerSpec

SECTIONS = ("mcp_servers", "http_tools", "credentials")
SERVER_FIELDS = {"url", "credential"}
HTTP_FIELDS = {
    "url",
    "description",
    "method",
    "headers",
    "parameters",
    "body",
    "credential",
    "timeout",
}
MAX_TIMEOUT = 300.0


@dataclass(frozen=True)
class ToolFile:
    mcp_servers: tuple[McpServerSpec, ...] = ()
    http_tools: tuple[HttpToolSpec, ...] = ()
    secrets: tuple[Secret, ...] = ()


def parse_tool_file(
    data: Any, environ: Mapping[str, str], source: str = "the tools file"
) -> ToolFile:
    """The file's servers, HTTP tools and credentials (values from ``environ``)."""
    if not isinstance(data, dict):
        raise ValueError(f"{source} must be a JSON object with {', '.join(SECTIONS)}")
    unknown = sorted(set(data) - set(SECTIONS))
    if unknown:
        raise ValueError(f"{source}: unknown section {unknown[0]!r} (known: {', '.join(SECTIONS)})")
    sections = {name: _section(data, name, source) for name in SECTIONS}
    secrets = {
        name: _secret(name, entry, environ, f"{source}: credentials[{name!r}]")
        for name, entry in sections["credentials"].items()
    }
    servers = [
        _server(name, entry, secrets, f"{source}: mcp_servers[{name!r}]")
        for name, entry in sections["mcp_servers"].items()
    ]
    tools = [
        _http_tool(name, entry, secrets, f"{source}: http_tools[{name!r}]")
        for name, entry in sections["http_tools"].items()
    ]
    return ToolFile(tuple(servers), tuple(tools), tuple(secrets.values()))


def _section(data: dict[str, Any], name: str, source: str) -> dict[str, dict[str, Any]]:
    section = data.get(name, {})
    if not isinstance(section, dict):
        raise ValueError(f"{source}: {name} must be an object of name → settings")
    for key, entry in section.items():
        if not re.fullmatch(NAME_PATTERN, str(key)):
            raise ValueError(
                f"{source}: {name}[{key!r}]: names are letters, digits, - and _ (at most 64)"
            )
        if not isinstance(entry, dict):
            raise ValueError(f"{source}: {name}[{key!r}] must be an object of settings")
    return section


def _no_unknown(entry: dict[str, Any], known: set[str], where: str) -> None:
    unknown = sorted(set(entry) - known)
    if unknown:
        raise ValueError(
            f"{where}: unknown setting {unknown[0]!r} (known: {', '.join(sorted(known))})"
        )


def _text(entry: dict[str, Any], key: str, where: str, default: str | None = None) -> str:
    value = entry.get(key, default)
    if not isinstance(value, str) or (default is None and not value.strip()):
        raise ValueError(f"{where}.{key} must be {'a string' if default is not None else 'given'}")
    return value


def _url(entry: dict[str, Any], where: str) -> str:
    url = _text(entry, "url", where)
    if not re.match(r"^https?://", url.strip(), re.IGNORECASE):
        raise ValueError(f"{where}.url must be an http:// or https:// URL")
    return url.strip()


def _credential(entry: dict[str, Any], secrets: Mapping[str, Secret], where: str) -> str | None:
    name = entry.get("credential")
    if name is None:
        return None
    if not isinstance(name, str) or name not in secrets:
        known = ", ".join(sorted(secrets)) or "none"
        raise ValueError(f"{where}.credential {name!r} is not in credentials (known: {known})")
    return name


def _secret(name: str, entry: dict[str, Any], environ: Mapping[str, str], where: str) -> Secret:
    _no_unknown(entry, {"kind", "env", "header"}, where)
    kind = entry.get("kind")
    if kind not in CREDENTIAL_KINDS:
        raise ValueError(f"{where}.kind must be one of {', '.join(CREDENTIAL_KINDS)}")
    variable = _text(entry, "env", where)
    value = environ.get(variable)
    if not value:
        raise ValueError(f"{where}: the environment variable {variable} is not set")
    config: dict[str, Any] = {}
    if kind == "http_header":
        config["header"] = _text(entry, "header", where)
    elif "header" in entry:
        raise ValueError(f"{where}.header is only for http_header credentials")
    return Secret(name=name, kind=str(kind), value=value, config=config)


def _server(
    name: str, entry: dict[str, Any], secrets: Mapping[str, Secret], where: str
) -> McpServerSpec:
    if "command" in entry:
        raise ValueError(
            f"{where}: a server that runs as a command is the operator's to declare, in "
            f"{STDIO_ENV}, not here"
        )
    _no_unknown(entry, SERVER_FIELDS, where)
    return McpServerSpec(
        name=name, url=_url(entry, where), credential=_credential(entry, secrets, where)
    )


def _http_tool(
    name: str, entry: dict[str, Any], secrets: Mapping[str, Secret], where: str
) -> HttpToolSpec:
    _no_unknown(entry, HTTP_FIELDS, where)
    method = str(entry.get("method", "GET")).upper()
    if method not in get_args(HttpMethod):
        raise ValueError(f"{where}.method must be one of {', '.join(get_args(HttpMethod))}")
    headers = entry.get("headers", {})
    if not isinstance(headers, dict) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
    ):
        raise ValueError(f"{where}.headers must be an object of strings")
    parameters = entry.get("parameters", {"type": "object", "properties": {}})
    if not isinstance(parameters, dict) or parameters.get("type", "object") != "object":
        raise ValueError(f"{where}.parameters must be the JSON Schema of an object")
    timeout = entry.get("timeout", 30.0)
    if isinstance(timeout, bool) or not isinstance(timeout, int | float):
        raise ValueError(f"{where}.timeout must be a number of seconds")
    if not 0 < timeout <= MAX_TIMEOUT:
        raise ValueError(f"{where}.timeout must be more than 0 and at most {MAX_TIMEOUT:g}")
    return HttpToolSpec(
        name=name,
        url=_url(entry, where),
        description=_text(entry, "description", where, ""),
        method=method,  # type: ignore[arg-type]
        headers=dict(headers),
        parameters={"type": "object", **parameters},
        body=_text(entry, "body", where, ""),
        credential=_credential(entry, secrets, where),
        timeout=float(timeout),
    )
