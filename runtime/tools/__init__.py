"""Tools agents may call: a registry of built-in deterministic tools (``default_tools``).

A deployment may hand agents another registry through ``Services.tools`` (read with
:func:`tool_registry`); settings name tools by their registry name.
"""

from __future__ import annotations

from typing import Any

from runtime.tools.base import MAX_TOOL_OUTPUT, Tool, ToolError, ToolOutcome, ToolRegistry
from runtime.tools.builtin import BUILTIN_TOOLS, build_default_tools, default_tools


def tool_registry(services: Any) -> ToolRegistry:
    """The deployment's tools (``Services.tools``) or the built-in ones."""
    registry = getattr(services, "tools", None)
    return registry if isinstance(registry, ToolRegistry) else default_tools


__all__ = [
    "BUILTIN_TOOLS",
    "MAX_TOOL_OUTPUT",
    "Tool",
    "ToolError",
    "ToolOutcome",
    "ToolRegistry",
    "build_default_tools",
    "default_tools",
    "tool_registry",
]
