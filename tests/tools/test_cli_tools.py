"""``python -m runtime run --tools tools.json`` as a real subprocess: a worker calls an MCP server
by URL (the official SDK's server, asking for a bearer token) and an HTTP tool (a loopback API)
declared in the file, each with a credential whose value comes from the environment; a file
with a mistake is refused naming the entry and field, and a command is never declared there."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from tests.support.echo_server import EchoServer
from tests.support.mcp_servers import python_http
from tests.support.vendor_server import Completion, ToolCalls, VendorServer

REPO = Path(__file__).resolve().parents[2]
MODEL = "openai/gpt-4o-mini"


def cli(*args: str, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "OUTBOUND_"))}
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        cwd=REPO,
        env={**base, "PYTHONIOENCODING": "utf-8", **env},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=90,
    )


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def flow(*tools: str) -> dict[str, Any]:
    return {
        "nodes": [
            {"id": "in", "type": "input"},
            {
                "id": "agent",
                "type": "worker",
                "config": {"model": MODEL, "stream": False, "tools": list(tools)},
            },
            {"id": "out", "type": "output"},
        ],
        "edges": [
            {"id": "a", "source": "in", "target": "agent"},
            {"id": "b", "source": "agent", "target": "out"},
        ],
    }


def test_the_command_line_calls_an_mcp_server_by_url_and_an_http_tool_from_a_tools_file(
    tmp_path: Path,
) -> None:
    with (
        python_http(token="mcp-secret-1") as mcp_server,
        EchoServer() as echo,
        VendorServer() as vendor,
    ):
        tools = {
            "mcp_servers": {"py": {"url": mcp_server.url, "credential": "py-token"}},
            "http_tools": {
                "search": {
                    "url": echo.url("/echo?q={{ q | urlencode }}"),
                    "description": "Search the web",
                    "parameters": {"type": "object", "properties": {"q": {"type": "string"}}},
                    "credential": "search-key",
                }
            },
            "credentials": {
                "py-token": {"kind": "http_bearer", "env": "PY_TOKEN"},
                "search-key": {"kind": "http_header", "header": "X-Api-Key", "env": "SEARCH_KEY"},
            },
        }
        vendor.push(
            ToolCalls(
                [
                    {"id": "m", "name": "add", "arguments": {"a": 40, "b": 2}},
                    {"id": "h", "name": "search", "arguments": {"q": "tidal power"}},
                ]
            ),
            Completion("Both answered."),
        )
        proc = cli(
            "run",
            write(tmp_path / "flow.json", flow("mcp:py/add", "http:search")),
            "--tools",
            write(tmp_path / "tools.json", tools),
            "--json",
            env={
                "OPENAI_BASE_URL": vendor.url,
                "OPENAI_API_KEY": "sk-test",
                "OUTBOUND_ALLOWLIST": "127.0.0.1",
                "PY_TOKEN": "mcp-secret-1",
                "SEARCH_KEY": "search-secret-2",
            },
        )
        assert proc.returncode == 0, proc.stderr + proc.stdout
        events = [json.loads(line) for line in proc.stdout.splitlines() if line.strip()]
        calls = {
            e["data"]["id"]: e["data"]
            for e in events
            if e["type"] == "step.tool_call" and e["data"]["status"] != "running"
        }
        assert calls["m"]["status"] == "succeeded" and calls["m"]["result"] == "42.0"
        assert calls["h"]["status"] == "succeeded" and "tidal power" in calls["h"]["result"]
        # The credential went as the header, and its echo reached the model redacted.
        assert echo.requests[-1].headers["x-api-key"] == "search-secret-2"
        assert "search-secret-2" not in proc.stdout
        assert events[-1]["type"] == "run.succeeded"
        assert events[-1]["data"]["output"] == "Both answered."


def test_a_tools_file_with_a_mistake_is_refused_naming_the_entry(tmp_path: Path) -> None:
    flow_file = write(tmp_path / "flow.json", flow("http:search"))
    cases = [
        (
            {"http_tools": {"search": {"url": "ftp://example.com"}}},
            "http_tools['search'].url must be an http:// or https:// URL",
        ),
        (
            {"mcp_servers": {"local": {"command": "rm"}}},
            "mcp_servers['local']: a server that runs as a command is the operator's to "
            "declare, in MCP_STDIO_SERVERS",
        ),
        (
            {"credentials": {"k": {"kind": "http_bearer", "env": "NOT_SET_ANYWHERE"}}},
            "credentials['k']: the environment variable NOT_SET_ANYWHERE is not set",
        ),
        (
            {"http_tools": {"search": {"url": "https://x.example", "credential": "nope"}}},
            "http_tools['search'].credential 'nope' is not in credentials (known: none)",
        ),
        ({"servers": {}}, "unknown section 'servers'"),
    ]
    for n, (tools, message) in enumerate(cases):
        proc = cli("run", flow_file, "--tools", write(tmp_path / f"t{n}.json", tools), env={})
        assert proc.returncode == 2, proc.stdout
        assert message in proc.stderr
        assert "Traceback" not in proc.stderr
