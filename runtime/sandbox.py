"""Templates and expressions from user settings, evaluated in jinja2's immutable sandbox.

One sandbox serves both: ``{{ … }}`` templates (transform, prompts, output values) and router
expressions (``input.score > 3``). The sandbox refuses attribute access to Python internals
(``__class__``, ``mro`` …) and mutation of values; on top of it we cap ``range``, repetition and
powers so a setting cannot exhaust memory, and cap rendered output size.
"""

from __future__ import annotations

import operator
from collections.abc import Callable, Mapping
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes as jnodes
from jinja2.sandbox import ImmutableSandboxedEnvironment

from runtime.errors import ExpressionError, TemplateError

MAX_TEMPLATE_CHARS = 100_000
MAX_EXPRESSION_CHARS = 2_000
MAX_RENDERED_CHARS = 1_000_000
MAX_RANGE = 10_000
MAX_SEQUENCE_PRODUCT = 100_000
MAX_POWER_EXPONENT = 1_000
MAX_POWER_BITS = 100_000


def _bounded_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise jinja2.exceptions.SecurityError(f"range() is limited to {MAX_RANGE} items")
    return values


class _FlowSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**"})

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER_EXPONENT:
                raise jinja2.exceptions.SecurityError("exponent too large")
            # A chain of modest powers can still build an enormous integer.
            if isinstance(left, int) and isinstance(right, int) and right > 0:
                if left.bit_length() * right > MAX_POWER_BITS:
                    raise jinja2.exceptions.SecurityError("power too large")
            return operator.pow(left, right)
        # "*": repeating a sequence could build a huge value.
        for seq, count in ((left, right), (right, left)):
            if isinstance(seq, str | list | tuple) and isinstance(count, int):
                if len(seq) * count > MAX_SEQUENCE_PRODUCT:
                    raise jinja2.exceptions.SecurityError("repetition too large")
        return operator.mul(left, right)


def _make_env() -> _FlowSandbox:
    env = _FlowSandbox(
        autoescape=False, undefined=jinja2.ChainableUndefined, keep_trailing_newline=True
    )
    env.globals = {"range": _bounded_range, "dict": dict, "lipsum": None, "cycler": None}
    env.globals = {k: v for k, v in env.globals.items() if v is not None}
    env.filters["tojson"] = _tojson
    return env


def _tojson(value: Any, indent: int | None = None) -> str:
    import json

    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


_ENV = _make_env()


class CompiledTemplate:
    """A parsed template; render with a scope of ``input``, ``nodes`` and ``upstream``."""

    __slots__ = ("_template", "source")

    def __init__(self, source: str) -> None:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateError(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
        self.source = source
        try:
            self._template = _ENV.from_string(source)
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template syntax error on line {exc.lineno}: {exc.message}"
            ) from None

    def render(self, scope: Mapping[str, Any]) -> str:
        try:
            parts: list[str] = []
            size = 0
            for part in self._template.generate(scope):
                size += len(part)
                if size > MAX_RENDERED_CHARS:
                    raise TemplateError(f"rendered text exceeds {MAX_RENDERED_CHARS} characters")
                parts.append(part)
            return "".join(parts)
        except TemplateError:
            raise
        except jinja2.exceptions.SecurityError as exc:
            raise TemplateError(f"template refused by the sandbox: {exc}") from None
        except Exception as exc:  # any runtime failure inside user text is the user's error
            raise TemplateError(f"template failed: {type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=4096)
def compile_template(source: str) -> CompiledTemplate:
    return CompiledTemplate(source)


class CompiledExpression:
    __slots__ = ("_fn", "source")

    def __init__(self, source: str) -> None:
        if len(source) > MAX_EXPRESSION_CHARS:
            raise ExpressionError(f"expression is longer than {MAX_EXPRESSION_CHARS} characters")
        if not source.strip():
            raise ExpressionError("expression is empty")
        self.source = source
        try:
            self._fn: Callable[..., Any] = _ENV.compile_expression(source, undefined_to_none=True)
        except jinja2.TemplateSyntaxError as exc:
            raise ExpressionError(f"expression syntax error: {exc.message}") from None

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        try:
            return self._fn(**scope)
        except jinja2.exceptions.SecurityError as exc:
            raise ExpressionError(f"expression refused by the sandbox: {exc}") from None
        except Exception as exc:
            raise ExpressionError(f"expression failed: {type(exc).__name__}: {exc}") from None


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> CompiledExpression:
    return CompiledExpression(source)


def _parse(source: str, *, expression: bool) -> jnodes.Node:
    if expression:
        # Parse an expression the way compile_expression does: as the body of {{ }}.
        return _ENV.parse("{{ " + source + " }}")
    return _ENV.parse(source)


def referenced_nodes(source: str, *, expression: bool = False) -> set[str]:
    """Node ids a template or expression reads through ``nodes.<id>`` or ``nodes["<id>"]``.

    Raises TemplateError/ExpressionError when the text does not parse.
    """
    try:
        tree = _parse(source, expression=expression)
    except jinja2.TemplateSyntaxError as exc:
        error = ExpressionError if expression else TemplateError
        raise error(f"syntax error: {exc.message}") from None
    found: set[str] = set()
    for getattr_node in tree.find_all(jnodes.Getattr):
        if isinstance(getattr_node.node, jnodes.Name) and getattr_node.node.name == "nodes":
            found.add(getattr_node.attr)
    for getitem in tree.find_all(jnodes.Getitem):
        if (
            isinstance(getitem.node, jnodes.Name)
            and getitem.node.name == "nodes"
            and isinstance(getitem.arg, jnodes.Const)
            and isinstance(getitem.arg.value, str)
        ):
            found.add(getitem.arg.value)
    return found


def undeclared_names(source: str, *, expression: bool = False) -> set[str]:
    """Top-level names a template or expression reads (``input``, ``nodes`` …)."""
    from jinja2 import meta

    tree = _parse(source, expression=expression)
    return set(meta.find_undeclared_variables(tree)) - set(_ENV.globals)
