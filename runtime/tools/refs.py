"""How a worker's settings name its tools: one string per tool, checked when the flow is saved.

- ``calculator``: a built-in tool (``runtime.tools.builtin``), by its name;
- ``mcp:<server>/<tool>``: a tool of an MCP server of the workspace, or of a stdio server the
  operator declared (``MCP_STDIO_SERVERS``); ``mcp:<server>/*`` offers all of that server's tools;
- ``http:<name>``: an HTTP tool of the workspace (a method, a URL template, a parameter schema);
- ``workflow:<id>``: another workflow of the workspace, its input fields the tool's parameters.

Strings rather than objects keep every flow saved before tools had kinds valid as it is (a list
of built-in names), and make a reference easy to read in an export or a version comparison.
Whether the server, tool or workflow exists is known only where the workspace is (when the step
runs): a reference to something gone becomes an error result the model reads, not a crash.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

ToolKind = Literal["builtin", "mcp", "http", "workflow"]

# Names the workspace gives servers and HTTP tools: the credentials API's slug, shorter.
NAME_PATTERN = r"[a-zA-Z0-9][-a-zA-Z0-9_]{0,63}"
# MCP tool names are the server's; the protocol suggests [A-Za-z0-9_.-/] up to 128 characters.
MCP_TOOL_PATTERN = r"[-a-zA-Z0-9_./]{1,128}|\*"
WORKFLOW_PATTERN = r"[-a-zA-Z0-9_.]{1,200}"
REF_PATTERN = (
    rf"^(?:{NAME_PATTERN}|mcp:{NAME_PATTERN}/(?:{MCP_TOOL_PATTERN})|http:{NAME_PATTERN}"
    rf"|workflow:{WORKFLOW_PATTERN})$"
)
_REF = re.compile(REF_PATTERN)
ALL_TOOLS = "*"


class ToolRefError(ValueError):
    """A tool reference that is not written the way references are written."""


@dataclass(frozen=True, slots=True)
class ToolRef:
    kind: ToolKind
    name: str  # the built-in's name, the server's, the HTTP tool's, the workflow's id
    tool: str = ""  # an MCP server's tool ("*": all of them)

    @property
    def text(self) -> str:
        if self.kind == "builtin":
            return self.name
        if self.kind == "mcp":
            return f"mcp:{self.name}/{self.tool}"
        return f"{self.kind}:{self.name}"


def parse_ref(text: str) -> ToolRef:
    """The reference ``text`` stands for; ToolRefError saying how to write one if it is none."""
    if not isinstance(text, str) or not _REF.match(text):
        raise ToolRefError(
            f"{text!r} is not a tool: use a built-in's name (calculator), mcp:<server>/<tool>, "
            "http:<name> or workflow:<id>"
        )
    kind, sep, rest = text.partition(":")
    if not sep:
        return ToolRef("builtin", text)
    if kind == "mcp":
        server, _, tool = rest.partition("/")
        return ToolRef("mcp", server, tool)
    return ToolRef("http" if kind == "http" else "workflow", rest)


# What a model may be shown as a tool's name (OpenAI's rule, the strictest of the vendors').
_MODEL_NAME_CHARS = re.compile(r"[^a-zA-Z0-9_-]")
MODEL_NAME_MAX = 64


def model_name(text: str) -> str:
    """``text`` as a tool name every vendor accepts: other characters become ``_``, cut at 64."""
    cleaned = _MODEL_NAME_CHARS.sub("_", text).strip("_") or "tool"
    return cleaned[:MODEL_NAME_MAX]
