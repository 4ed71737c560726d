"""The built-in tools: deterministic, offline, safe to hand to any agent.

``calculator`` evaluates arithmetic by walking Python's AST (never ``eval``), with numbers kept
small enough that a model cannot exhaust memory or CPU through it.
"""

from __future__ import annotations

import ast
import datetime
import json
import math
import operator
import re
from collections.abc import Callable
from typing import Any

from runtime.tools.base import Tool, ToolError, ToolRegistry

# -- calculator -----------------------------------------------------------------------------------

MAX_EXPRESSION_CHARS = 500
MAX_EXPONENT = 1_000
MAX_INT_BITS = 4_000  # about 1,200 decimal digits

_BINARY: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[Any], Any]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": abs,
    "round": round,
    "min": min,
    "max": max,
    "sqrt": math.sqrt,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "log2": math.log2,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "floor": math.floor,
    "ceil": math.ceil,
}
_CONSTANTS = {"pi": math.pi, "e": math.e, "tau": math.tau}


def _bounded(value: Any) -> Any:
    if isinstance(value, int) and value.bit_length() > MAX_INT_BITS:
        raise ToolError(f"the result is too large (more than {MAX_INT_BITS} bits)")
    if isinstance(value, float) and math.isnan(value):
        raise ToolError("the result is not a number")
    return value


def _power(base: Any, exponent: Any) -> Any:
    if abs(exponent) > MAX_EXPONENT:
        raise ToolError(f"exponents are limited to ±{MAX_EXPONENT}")
    whole = isinstance(base, int) and isinstance(exponent, int) and exponent > 0
    if whole and base.bit_length() * exponent > MAX_INT_BITS:
        raise ToolError(f"the result is too large (more than {MAX_INT_BITS} bits)")
    result = base**exponent
    if isinstance(result, complex):
        raise ToolError("the result is a complex number")
    return result


def _evaluate(node: ast.AST) -> Any:
    if isinstance(node, ast.Expression):
        return _evaluate(node.body)
    if isinstance(node, ast.Constant):
        if isinstance(node.value, bool) or not isinstance(node.value, int | float):
            raise ToolError(f"only numbers are allowed, not {node.value!r}")
        return node.value
    if isinstance(node, ast.Name):
        if node.id in _CONSTANTS:
            return _CONSTANTS[node.id]
        raise ToolError(f"unknown name {node.id!r} (known: {', '.join(_CONSTANTS)})")
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        return _UNARY[type(node.op)](_evaluate(node.operand))
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        left, right = _evaluate(node.left), _evaluate(node.right)
        if isinstance(node.op, ast.Pow):
            return _bounded(_power(left, right))
        return _bounded(_BINARY[type(node.op)](left, right))
    if isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and not node.keywords:
        function = _FUNCTIONS.get(node.func.id)
        if function is None:
            known = ", ".join(sorted(_FUNCTIONS))
            raise ToolError(f"unknown function {node.func.id!r} (known: {known})")
        return _bounded(function(*(_evaluate(arg) for arg in node.args)))
    raise ToolError(f"{type(node).__name__} is not allowed: use numbers, + - * / // % **, ( )")


def calculator(expression: str) -> dict[str, Any]:
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolError(f"the expression is longer than {MAX_EXPRESSION_CHARS} characters")
    try:
        tree = ast.parse(expression.strip(), mode="eval")
    except SyntaxError as exc:
        raise ToolError(f"the expression does not parse: {exc.msg}") from None
    try:
        result = _evaluate(tree)
    except ZeroDivisionError:
        raise ToolError("division by zero") from None
    except OverflowError:
        raise ToolError("the result is too large") from None
    except (ValueError, TypeError) as exc:
        raise ToolError(str(exc)) from None
    return {"expression": expression, "result": result}


# -- text tools -----------------------------------------------------------------------------------


def word_count(text: str) -> dict[str, int]:
    return {
        "words": len(text.split()),
        "characters": len(text),
        "lines": len(text.splitlines()),
    }


def text_search(
    text: str, term: str, case_sensitive: bool = False, max_results: int = 20
) -> dict[str, Any]:
    needle = term if case_sensitive else term.casefold()
    matches: list[dict[str, Any]] = []
    count = 0
    for number, line in enumerate(text.splitlines(), 1):
        if needle in (line if case_sensitive else line.casefold()):
            count += 1
            if len(matches) < max_results:
                matches.append({"line": number, "text": line})
    return {"term": term, "count": count, "matches": matches}


def current_time() -> dict[str, str]:
    now = datetime.datetime.now(datetime.UTC).replace(microsecond=0)
    return {"utc": now.isoformat().replace("+00:00", "Z")}


# -- json_path ------------------------------------------------------------------------------------

_TOKEN = re.compile(
    r"""\.(?P<name>[A-Za-z_][\w-]*)          # .name
      | \.\*                                # .*
      | \[\s*(?P<index>-?\d+)\s*\]          # [0] [-1]
      | \[\s*(?P<q>["'])(?P<key>.*?)(?P=q)\s*\]  # ["key"] ['key']
      | \[\s*\*\s*\]                        # [*]
    """,
    re.VERBOSE,
)
WILDCARD = object()


def parse_path(path: str) -> list[Any]:
    """``$.a.b[0]``, ``a.b[0]``, ``items[*].name`` → segments (str keys, int indexes, WILDCARD)."""
    text = path.strip()
    if text.startswith("$"):
        text = text[1:]
    elif text and not text.startswith(("[", ".")):
        text = "." + text
    segments: list[Any] = []
    position = 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ToolError(f"cannot read the path at {text[position:]!r}")
        if match.group("name") is not None:
            segments.append(match.group("name"))
        elif match.group("index") is not None:
            segments.append(int(match.group("index")))
        elif match.group("q") is not None:
            segments.append(match.group("key"))
        else:
            segments.append(WILDCARD)
        position = match.end()
    return segments


def _step(values: list[Any], segment: Any, where: str) -> list[Any]:
    found: list[Any] = []
    for value in values:
        if segment is WILDCARD:
            if isinstance(value, dict):
                found.extend(value.values())
            elif isinstance(value, list):
                found.extend(value)
            else:
                raise ToolError(f"{where} is not an object or a list")
        elif isinstance(segment, int):
            if not isinstance(value, list):
                raise ToolError(f"{where} is not a list")
            if not -len(value) <= segment < len(value):
                raise ToolError(f"{where} has no item {segment} (it has {len(value)})")
            found.append(value[segment])
        else:
            if not isinstance(value, dict):
                raise ToolError(f"{where} is not an object")
            if segment not in value:
                have = ", ".join(list(map(str, value))[:20]) or "none"
                raise ToolError(f"{where} has no field {segment!r} (it has: {have})")
            found.append(value[segment])
    return found


def json_path(data: Any, path: str) -> dict[str, Any]:
    if isinstance(data, str):
        try:
            data = json.loads(data)
        except json.JSONDecodeError as exc:
            raise ToolError(f"data is a string but not JSON: {exc.msg}") from None
    segments = parse_path(path)
    values = [data]
    where = "$"
    for segment in segments:
        values = _step(values, segment, where)
        where += (
            "[*]"
            if segment is WILDCARD
            else f"[{segment}]"
            if isinstance(segment, int)
            else f".{segment}"
        )
    many = any(segment is WILDCARD for segment in segments)
    return {"path": path, "value": values if many else values[0]}


# -- the registry ----------------------------------------------------------------------------------


def _object(properties: dict[str, Any], required: list[str]) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": properties,
        "required": required,
        "additionalProperties": False,
    }


BUILTIN_TOOLS = (
    Tool(
        "calculator",
        "Evaluate an arithmetic expression exactly: numbers, + - * / // % ** and parentheses, "
        "functions sqrt exp log log10 log2 sin cos tan floor ceil abs round min max, "
        "constants pi e tau.",
        _object(
            {"expression": {"type": "string", "description": "e.g. (1200 - 950) / 950 * 100"}},
            ["expression"],
        ),
        calculator,
    ),
    Tool(
        "word_count",
        "Count the words, characters and lines of a text.",
        _object({"text": {"type": "string"}}, ["text"]),
        word_count,
    ),
    Tool(
        "json_path",
        "Extract a field from JSON data by a path such as $.orders[0].total or items[*].name.",
        _object(
            {
                "data": {"description": "a JSON value, or a string holding JSON"},
                "path": {"type": "string", "description": "e.g. $.a.b[0] or a.b[*].c"},
            },
            ["data", "path"],
        ),
        json_path,
    ),
    Tool(
        "current_time",
        "The current date and time in UTC, ISO 8601.",
        _object({}, []),
        current_time,
    ),
    Tool(
        "text_search",
        "Find the lines of a text that contain a term; answers line numbers and lines.",
        _object(
            {
                "text": {"type": "string"},
                "term": {"type": "string", "minLength": 1},
                "case_sensitive": {"type": "boolean", "default": False},
                "max_results": {"type": "integer", "minimum": 1, "maximum": 200, "default": 20},
            },
            ["text", "term"],
        ),
        text_search,
    ),
)


def build_default_tools() -> ToolRegistry:
    from runtime.tools.knowledge import STAND_IN as KNOWLEDGE_SEARCH

    return ToolRegistry((*BUILTIN_TOOLS, KNOWLEDGE_SEARCH))


default_tools = build_default_tools()
