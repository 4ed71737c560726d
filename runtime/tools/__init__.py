"""Tools agents may call: a registry of built-in deterministic tools (``default_tools``).

A deployment may hand agents another registry through ``Services.tools`` (read with
:func:`tool_registry`); settings name tools by their registry name.
"""

from __future__ import annotations

from typing import Any

from runtime.tools.base import MAX_TOOL_OUTPUT, Tool, ToolError, ToolOutcome, ToolRegistry
from runtime.tools.builtin import BUILTIN_TOOLS, build_default_tools, default_tools


def tool_registry(services: Any) -> ToolRegistry:
    """The deployment's tools (``Services.tools``) or the built-in ones, with
    ``knowledge_search`` bound to the step's knowledge bases (``Services.knowledge``)."""
    from runtime.tools.knowledge import with_knowledge

    registry = getattr(services, "tools", None)
    chosen = registry if isinstance(registry, ToolRegistry) else default_tools
    return with_knowledge(chosen, getattr(services, "knowledge", None))


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
