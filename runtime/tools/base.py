"""What a tool is, and the registry that runs tool calls for agents.

A tool is a function with a name, a description and a JSON Schema of its keyword arguments:
exactly what a model is shown (:class:`~runtime.providers.base.ToolSpec`). The registry runs a
model's tool call and always answers with text for the ``tool`` message: an unknown tool, bad
arguments or a failing tool become an error the model can read and correct, never a crash.
"""

from __future__ import annotations

import inspect
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import jsonschema
from jsonschema.exceptions import best_match

from runtime.providers.base import ToolSpec

MAX_TOOL_OUTPUT = 20_000  # characters of a tool's result handed back to the model


class ToolError(Exception):
    """A tool refusing its input, with a message meant for the model."""


@dataclass(frozen=True)
class Tool:
    name: str
    description: str
    parameters: dict[str, Any]  # JSON Schema of the keyword arguments (an object schema)
    function: Callable[..., Any]  # called with the arguments as keywords; may be async

    def spec(self) -> ToolSpec:
        return ToolSpec(self.name, self.description, self.parameters)


@dataclass(frozen=True, slots=True)
class ToolOutcome:
    ok: bool
    content: str  # the text of the tool message


def _as_text(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, default=str)
    if len(text) > MAX_TOOL_OUTPUT:
        text = text[:MAX_TOOL_OUTPUT] + f"… [cut at {MAX_TOOL_OUTPUT} characters]"
    return text


class ToolRegistry:
    def __init__(self, tools: Iterable[Tool] = ()) -> None:
        self._tools: dict[str, Tool] = {}
        for tool in tools:
            self.register(tool)

    def register(self, tool: Tool) -> Tool:
        if tool.name in self._tools:
            raise ValueError(f"tool {tool.name!r} is already registered")
        jsonschema.Draft202012Validator.check_schema(tool.parameters)
        self._tools[tool.name] = tool
        return tool

    def get(self, name: str) -> Tool | None:
        return self._tools.get(name)

    def replacing(self, tool: Tool) -> ToolRegistry:
        """A copy with ``tool`` in place of the one of its name (a step's own binding of a
        built-in, such as ``knowledge_search`` to the run's knowledge bases)."""
        if tool.name not in self._tools:
            raise ValueError(f"there is no tool {tool.name!r} to replace")
        copy = ToolRegistry()
        copy._tools = {**self._tools, tool.name: tool}
        return copy

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def names(self) -> list[str]:
        return sorted(self._tools)

    def specs(self, names: Iterable[str]) -> list[ToolSpec]:
        return [self._tools[name].spec() for name in names if name in self._tools]

    def catalogue(self) -> list[dict[str, Any]]:
        return [
            {"name": t.name, "description": t.description, "parameters": t.parameters}
            for t in sorted(self._tools.values(), key=lambda t: t.name)
        ]

    async def run(
        self, name: str, arguments: Any, allowed: Iterable[str] | None = None
    ) -> ToolOutcome:
        """Run one call; ``allowed`` limits it to the tools the agent was given."""
        permitted = set(self._tools) if allowed is None else set(allowed) & set(self._tools)
        tool = self._tools.get(name) if name in permitted else None
        if tool is None:
            have = ", ".join(sorted(permitted)) or "none"
            return ToolOutcome(False, f"Error: there is no tool {name!r} (available: {have})")
        if not isinstance(arguments, dict):
            return ToolOutcome(False, "Error: the arguments must be a JSON object")
        problem = best_match(
            jsonschema.Draft202012Validator(tool.parameters).iter_errors(arguments)
        )
        if problem is not None:
            where = "" if problem.json_path == "$" else f" (at {problem.json_path})"
            return ToolOutcome(False, f"Error: invalid arguments: {problem.message}{where}")
        try:
            result = tool.function(**arguments)
            if inspect.isawaitable(result):
                result = await result
        except ToolError as exc:
            return ToolOutcome(False, f"Error: {exc}")
        except (
            Exception
        ) as exc:  # a tool's own bug or edge case: the model reads it, the step goes on
            return ToolOutcome(False, f"Error: {type(exc).__name__}: {exc}")
        return ToolOutcome(True, _as_text(result))
