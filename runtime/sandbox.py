"""Templates and expressions from user settings, evaluated in jinja2's immutable sandbox.

One sandbox serves both: ``{{ … }}`` templates (transform, prompts, output values) and router
expressions (``input.score > 3``). The sandbox refuses attribute access to Python internals
(``__class__``, ``mro`` …) and mutation of values; on top of it we cap ``range``, repetition and
powers so a setting cannot exhaust memory, and cap rendered output size. The output cap alone is
not enough: many filters and methods build their whole text before it is seen (``[s] * 10000``
printed, ``join``, ``replace``, ``tojson``), so those estimate the size first and refuse.
"""

from __future__ import annotations

import operator
import re
import string
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from contextvars import ContextVar
from functools import lru_cache
from typing import Any

import jinja2
from jinja2 import nodes as jnodes
from jinja2.runtime import LoopContext
from jinja2.sandbox import ImmutableSandboxedEnvironment
from jinja2.visitor import NodeTransformer

from runtime.errors import ExpressionError, TemplateError

MAX_TEMPLATE_CHARS = 100_000
MAX_EXPRESSION_CHARS = 2_000
MAX_RENDERED_CHARS = 1_000_000
MAX_RANGE = 10_000
MAX_SEQUENCE_PRODUCT = 100_000
MAX_POWER_EXPONENT = 1_000
MAX_POWER_BITS = 100_000
# Loop iterations plus calls (macros, methods) in one render or evaluation, and its wall-clock
# budget. Without these, nested loops or a doubly recursive macro run for ever with no output.
MAX_RENDER_STEPS = 250_000
MAX_RENDER_SECONDS = 5.0

_SecurityError = jinja2.exceptions.SecurityError


def _bounded_range(*args: int) -> range:
    values = range(*args)
    if len(values) > MAX_RANGE:
        raise jinja2.exceptions.SecurityError(f"range() is limited to {MAX_RANGE} items")
    return values


def _new_dict(*args: Any, **kwargs: Any) -> dict[Any, Any]:
    # Exposing the ``dict`` type itself lets a template call its unbound methods on our values:
    # ``dict.clear(nodes)`` or ``dict.update(input, …)`` slip past the immutable sandbox (it only
    # checks attribute access on instances) and change results other steps read.
    return dict(*args, **kwargs)


class _Budget:
    __slots__ = ("deadline", "steps")

    def __init__(self) -> None:
        self.steps = MAX_RENDER_STEPS
        self.deadline = time.monotonic() + MAX_RENDER_SECONDS

    def charge(self) -> None:
        self.steps -= 1
        if self.steps < 0:
            raise _SecurityError(f"more than {MAX_RENDER_STEPS} loop iterations and calls")
        if time.monotonic() > self.deadline:
            raise _SecurityError(f"took longer than {MAX_RENDER_SECONDS} s")


_BUDGET: ContextVar[_Budget | None] = ContextVar("flow_sandbox_budget", default=None)


def _charge() -> None:
    budget = _BUDGET.get()
    if budget is not None:
        budget.charge()


# printf-style conversions: a width or precision of millions pads for seconds of CPU in one call.
_PRINTF = re.compile(r"%%|%(?:\([^)]*\))?[-#0 +]*(\*|\d+)?(?:\.(\*|\d*))?")


def _check_printf(fmt: str) -> None:
    for match in _PRINTF.finditer(fmt):
        for number in match.groups():
            if number == "*" or (number and int(number) > MAX_RENDERED_CHARS):
                raise _SecurityError("format width or precision too large")


def _check_format_spec(fmt: str) -> None:
    """The same for ``str.format``: widths come from the spec or from nested fields."""
    try:
        fields = list(string.Formatter().parse(fmt))
    except ValueError:
        return  # str.format raises the same error itself
    for _text, _name, spec, _conversion in fields:
        numbers = re.findall(r"\d+", spec or "")
        if spec and ("{" in spec or any(int(n) > MAX_RENDERED_CHARS for n in numbers)):
            raise _SecurityError("format width or precision too large")


def _check_width_args(args: Iterable[Any]) -> None:
    # str.ljust/center/zfill/expandtabs and the center/indent filters allocate ``width`` chars.
    if any(isinstance(a, int) and a > MAX_RENDERED_CHARS for a in args):
        raise _SecurityError("width too large")


def _format_filter(value: Any, *args: Any, **kwargs: Any) -> str:
    text = str(value)
    _check_printf(text)
    return text % (kwargs or args)


def _width_filter(inner: Callable[..., str]) -> Callable[..., str]:
    def guarded(value: Any, *args: Any, **kwargs: Any) -> str:
        _check_width_args([*args, *kwargs.values()])
        return inner(value, *args, **kwargs)

    return guarded


def _text_budget(value: Any, budget: int) -> int:
    """`budget` less about what ``str(value)`` would take; negative once it would not fit.

    Walks containers without building their text (a list holding one long string 10,000 times
    prints as gigabytes) and stops as soon as the budget is spent, so it costs at most `budget`
    steps.
    """
    stack = [value]
    while stack and budget >= 0:
        item = stack.pop()
        if isinstance(item, str):
            budget -= len(item) + 2
        elif isinstance(item, list | tuple | set | frozenset):
            budget -= 2 + 2 * len(item)
            if budget >= 0:
                stack.extend(item)
        elif isinstance(item, dict):
            budget -= 2 + 4 * len(item)
            if budget >= 0:
                stack.extend(item.keys())
                stack.extend(item.values())
        elif isinstance(item, int):
            budget -= item.bit_length() // 3 + 1
        else:  # floats, None, undefined values, generators: short reprs
            budget -= 16
    return budget


def _check_text(*values: Any, extra: int = 0) -> None:
    budget = MAX_RENDERED_CHARS - extra
    for value in values:
        budget = _text_budget(value, budget)
        if budget < 0:
            raise _SecurityError(f"text would be too large (over {MAX_RENDERED_CHARS} characters)")


def _check_joined(separator: Any, items: list[Any]) -> None:
    sep = len(separator) if isinstance(separator, str) else 0
    _check_text(*items, extra=sep * max(len(items) - 1, 0))


def _check_replace(text: Any, old: Any, new: Any, count: Any = None) -> None:
    if not (isinstance(text, str) and isinstance(old, str) and isinstance(new, str)):
        return
    most = text.count(old) if old else len(text) + 1
    if isinstance(count, int) and count >= 0:
        most = min(most, count)
    if len(text) + most * len(new) > MAX_RENDERED_CHARS:
        raise _SecurityError("replace() result would be too large")


def _count_at_most(name: str, limit: int) -> Callable[..., None]:
    def check(_values: Any, number: Any = 0, *_args: Any, **_kwargs: Any) -> None:
        if isinstance(number, int) and number > limit:
            raise _SecurityError(f"{name} is limited to {limit}")

    return check


_check_batch = _count_at_most("batch size", MAX_RANGE)
_check_slices = _count_at_most("number of slices", MAX_RANGE)


def _pass_through(inner: Callable[..., Any], check: Callable[..., None]) -> Callable[..., Any]:
    """`inner` (a jinja filter) after `check` sees the arguments the template gave it."""
    passes = getattr(inner, "jinja_pass_arg", None)

    def guarded(*args: Any, **kwargs: Any) -> Any:
        check(*(args[1:] if passes is not None else args), **kwargs)
        return inner(*args, **kwargs)

    if passes is not None:  # keep jinja handing it the context/environment first
        guarded.jinja_pass_arg = passes  # type: ignore[attr-defined]
    return guarded


def _materialised(values: Any) -> list[Any]:
    # Iterables from a template are bounded (range is capped, lists are values we hold).
    return list(values) if not isinstance(values, list) else values


class _Guards(NodeTransformer):
    """Route every for-loop's iterable and every ``~`` through budgeted, size-checked helpers."""

    def visit_For(self, node: jnodes.For) -> jnodes.Node:
        self.generic_visit(node)
        node.iter = jnodes.Call(
            jnodes.EnvironmentAttribute("flow_iter"), [node.iter], [], None, None
        ).set_lineno(node.lineno)
        return node

    def visit_Concat(self, node: jnodes.Concat) -> jnodes.Node:
        self.generic_visit(node)
        return jnodes.Call(
            jnodes.EnvironmentAttribute("flow_concat"), list(node.nodes), [], None, None
        ).set_lineno(node.lineno)


class _FlowSandbox(ImmutableSandboxedEnvironment):
    intercepted_binops = frozenset({"*", "**", "+", "%"})

    def _generate(self, source: jnodes.Template, *args: Any, **kwargs: Any) -> str:
        # Every template and expression is compiled through here, after parsing.
        return super()._generate(_Guards().visit(source), *args, **kwargs)

    def getattr(self, obj: Any, attribute: str) -> Any:
        # Data first: upstream.items is a field named "items", not the dict's items() method
        # (jinja2 prefers the attribute, so a field called items, keys or values was a method).
        if isinstance(obj, Mapping) and attribute in obj:
            return obj[attribute]
        return super().getattr(obj, attribute)

    def flow_iter(self, iterable: Iterable[Any]) -> Iterator[Any]:
        for item in iterable:
            _charge()
            yield item

    def flow_concat(self, *parts: Any) -> str:
        _check_text(*parts)
        texts = [str(part) for part in parts]
        if sum(map(len, texts)) > MAX_RENDERED_CHARS:
            raise _SecurityError("concatenated text too large")
        return "".join(texts)

    def call(__self, __context: Any, __obj: Any, *args: Any, **kwargs: Any) -> Any:
        _charge()
        if isinstance(__obj, LoopContext) and args:  # a recursive loop's loop(children)
            args = (__self.flow_iter(args[0]), *args[1:])
        if isinstance(getattr(__obj, "__self__", None), str):
            _check_width_args([*args, *kwargs.values()])
            name = getattr(__obj, "__name__", "")
            if name == "join" and args:
                items = _materialised(args[0])
                _check_joined(__obj.__self__, items)
                args = (items, *args[1:])
            elif name == "replace":
                _check_replace(__obj.__self__, *args[:3])
        return super().call(__context, __obj, *args, **kwargs)

    def wrap_str_format(self, value: Any) -> Callable[..., str] | None:
        wrapper = super().wrap_str_format(value)
        if wrapper is None:
            return None
        _check_format_spec(value.__self__)
        checked_format = wrapper

        def format_checked(*args: Any, **kwargs: Any) -> str:
            _check_text(value.__self__, *args, *kwargs.values())
            return checked_format(*args, **kwargs)

        return format_checked

    def call_binop(self, context: Any, operator_name: str, left: Any, right: Any) -> Any:
        if operator_name == "%":
            if isinstance(left, str):
                _check_printf(left)
                _check_text(left, right)
            return operator.mod(left, right)
        if operator_name == "+":
            sequences = isinstance(left, str | list | tuple) and isinstance(
                right, str | list | tuple
            )
            if sequences and len(left) + len(right) > MAX_RENDERED_CHARS:
                raise _SecurityError("concatenation too large")
            return operator.add(left, right)
        if operator_name == "**":
            if isinstance(right, int | float) and abs(right) > MAX_POWER_EXPONENT:
                raise jinja2.exceptions.SecurityError("exponent too large")
            # A chain of modest powers can still build an enormous integer.
            if (
                isinstance(left, int)
                and isinstance(right, int)
                and right > 0
                and left.bit_length() * right > MAX_POWER_BITS
            ):
                raise jinja2.exceptions.SecurityError("power too large")
            return operator.pow(left, right)
        # "*": repeating a sequence could build a huge value; so can squaring a big int again
        # and again (``{% set x = x * x %}`` a few dozen times runs for ever).
        ints = isinstance(left, int) and isinstance(right, int)
        if ints and left.bit_length() + right.bit_length() > MAX_POWER_BITS:
            raise _SecurityError("product too large")
        for seq, count in ((left, right), (right, left)):
            if (
                isinstance(seq, str | list | tuple)
                and isinstance(count, int)
                and len(seq) * count > MAX_SEQUENCE_PRODUCT
            ):
                raise jinja2.exceptions.SecurityError("repetition too large")
        return operator.mul(left, right)


def _make_env() -> _FlowSandbox:
    env = _FlowSandbox(
        autoescape=False, undefined=jinja2.ChainableUndefined, keep_trailing_newline=True
    )
    env.globals = {"range": _bounded_range, "dict": _new_dict}
    env.filters["tojson"] = _tojson
    env.filters["format"] = _format_filter
    env.filters["center"] = _width_filter(env.filters["center"])
    env.filters["indent"] = _pass_through(env.filters["indent"], _check_indent)
    env.filters["join"] = _join_filter
    env.filters["replace"] = _pass_through(env.filters["replace"], _check_replace)
    env.filters["wordwrap"] = _pass_through(env.filters["wordwrap"], _check_wordwrap)
    env.filters["batch"] = _pass_through(env.filters["batch"], _check_batch)
    env.filters["slice"] = _pass_through(env.filters["slice"], _check_slices)
    env.filters["sum"] = _pass_through(env.filters["sum"], _check_sum)
    for name in ("string", "pprint"):
        env.filters[name] = _pass_through(env.filters[name], _check_printed)
    # What `{{ … }}` prints: str() of a container holding one long string many times is huge.
    env.finalize = _checked_output
    return env


def _checked_output(value: Any) -> Any:
    if not isinstance(value, str):
        _check_text(value)
    return value


def _check_printed(value: Any, *_args: Any, **_kwargs: Any) -> None:
    _check_text(value)


def _check_indent(text: Any, width: Any = 4, *_args: Any, **_kwargs: Any) -> None:
    _check_width_args([width])
    lines = text.count("\n") + 1 if isinstance(text, str) else 0
    if isinstance(width, str) and lines * len(width) + len(str(text)) > MAX_RENDERED_CHARS:
        raise _SecurityError("indented text would be too large")


def _check_wordwrap(text: Any, width: Any = 79, *args: Any, **kwargs: Any) -> None:
    wrapstring = kwargs.get("wrapstring", args[1] if len(args) > 1 else None)
    if isinstance(text, str) and isinstance(wrapstring, str) and isinstance(width, int):
        lines = len(text) // max(width, 1) + text.count("\n") + 1
        if len(text) + lines * len(wrapstring) > MAX_RENDERED_CHARS:
            raise _SecurityError("wrapped text would be too large")


def _check_sum(values: Any, *args: Any, **kwargs: Any) -> None:
    # Summing lists concatenates them: each list is allowed, their total need not be.
    start = kwargs.get("start", args[1] if len(args) > 1 else 0)
    if isinstance(start, list | tuple) and isinstance(values, list | tuple):
        total = len(start) + sum(len(v) for v in values if isinstance(v, list | tuple))
        if total > MAX_SEQUENCE_PRODUCT:
            raise _SecurityError("sum of sequences too large")


@jinja2.pass_eval_context
def _join_filter(eval_ctx: Any, value: Any, d: str = "", attribute: str | int | None = None) -> str:
    items = _materialised(value)
    if attribute is not None:
        getter = jinja2.filters.make_attrgetter(eval_ctx.environment, attribute)
        items = [getter(item) for item in items]
    _check_joined(d, items)
    return str(jinja2.filters.do_join(eval_ctx, items, d))


def _tojson(value: Any, indent: int | None = None) -> str:
    import json

    _check_text(value, extra=_text_size_of_indent(value, indent))
    return json.dumps(value, ensure_ascii=False, indent=indent, default=str)


def _text_size_of_indent(value: Any, indent: int | None) -> int:
    # Indented JSON adds a line and indentation per item; count the items cheaply.
    if not indent or not isinstance(value, list | tuple | dict):
        return 0
    _check_width_args([indent])
    return len(value) * (indent + 1)


_ENV = _make_env()


class CompiledTemplate:
    """A parsed template; render with a scope of ``input``, ``nodes`` and ``upstream``."""

    __slots__ = ("_constant", "_template", "source")

    def __init__(self, source: str) -> None:
        if len(source) > MAX_TEMPLATE_CHARS:
            raise TemplateError(f"template is longer than {MAX_TEMPLATE_CHARS} characters")
        self.source = source
        try:
            self._template = _ENV.from_string(source)
            self._constant = _constant_text(_ENV.parse(source))
        except jinja2.TemplateSyntaxError as exc:
            raise TemplateError(
                f"template syntax error on line {exc.lineno}: {exc.message}"
            ) from None
        except RecursionError:  # "((((…" thousands deep overflows jinja's recursive parser
            raise TemplateError("template syntax error: nested too deeply") from None

    def render(self, scope: Mapping[str, Any]) -> str:
        if self._constant is not None:
            return self._constant
        token = _BUDGET.set(_Budget())
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
        finally:
            _BUDGET.reset(token)


def _constant_text(tree: jnodes.Template) -> str | None:
    """The text a template renders to whatever the scope, when it is nothing but text (a fixed
    prompt, a join's label): rendered without jinja's context, about 6 µs a render, which is a
    fifth of a small in-process run (bench/engine.py). None when it has any markup."""
    texts: list[str] = []
    for node in tree.body:
        if not isinstance(node, jnodes.Output):
            return None
        for part in node.nodes:
            if not isinstance(part, jnodes.TemplateData):
                return None
            texts.append(part.data)
    return "".join(texts)


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
        except RecursionError:
            raise ExpressionError("expression syntax error: nested too deeply") from None

    def evaluate(self, scope: Mapping[str, Any]) -> Any:
        token = _BUDGET.set(_Budget())
        try:
            return self._fn(**scope)
        except jinja2.exceptions.SecurityError as exc:
            raise ExpressionError(f"expression refused by the sandbox: {exc}") from None
        except Exception as exc:
            raise ExpressionError(f"expression failed: {type(exc).__name__}: {exc}") from None
        finally:
            _BUDGET.reset(token)


@lru_cache(maxsize=4096)
def compile_expression(source: str) -> CompiledExpression:
    return CompiledExpression(source)


def _parse(source: str, *, expression: bool) -> jnodes.Node:
    # Compile the text first exactly as running it will (same length caps, same parser), so
    # validation accepts what runs and nothing else: parsing "{{ " + source + " }}" alone let
    # "a }}{{ b" and over-long text through, and deep nesting raised RecursionError.
    if expression:
        compile_expression(source)
        # Parse an expression the way compile_expression does: as the body of {{ }}.
        return _ENV.parse("{{ " + source + " }}")
    compile_template(source)
    return _ENV.parse(source)


def referenced_nodes(source: str, *, expression: bool = False) -> set[str]:
    """Node ids a template or expression reads through ``nodes.<id>`` or ``nodes["<id>"]``.

    Raises TemplateError/ExpressionError when the text does not parse.
    """
    return referenced_keys(source, "nodes", expression=expression)


def referenced_keys(source: str, name: str, *, expression: bool = False) -> set[str]:
    """Keys a template or expression reads from the top-level ``name`` through ``name.<key>`` or
    ``name["<key>"]`` (the run input's fields for ``input``, node ids for ``nodes``).

    Raises TemplateError/ExpressionError when the text does not parse.
    """
    error = ExpressionError if expression else TemplateError
    try:
        tree = _parse(source, expression=expression)
        getattrs = list(tree.find_all(jnodes.Getattr))
        getitems = list(tree.find_all(jnodes.Getitem))
    except jinja2.TemplateSyntaxError as exc:
        raise error(f"syntax error: {exc.message}") from None
    except RecursionError:
        raise error("syntax error: nested too deeply") from None
    found: set[str] = set()
    for getattr_node in getattrs:
        if isinstance(getattr_node.node, jnodes.Name) and getattr_node.node.name == name:
            found.add(getattr_node.attr)
    for getitem in getitems:
        if (
            isinstance(getitem.node, jnodes.Name)
            and getitem.node.name == name
            and isinstance(getitem.arg, jnodes.Const)
            and isinstance(getitem.arg.value, str)
        ):
            found.add(getitem.arg.value)
    return found


@lru_cache(maxsize=4096)
def undeclared_names(source: str, *, expression: bool = False) -> frozenset[str]:
    """Top-level names a template or expression reads (``input``, ``nodes`` …). Cached: a
    worker step asks it of its instructions every time it runs, and the answer walks the
    parsed template through jinja's code generator (about 100 µs a step)."""
    from jinja2 import meta

    try:
        tree = _parse(source, expression=expression)
        names = meta.find_undeclared_variables(tree)  # type: ignore[arg-type]
    except RecursionError:
        error = ExpressionError if expression else TemplateError
        raise error("syntax error: nested too deeply") from None
    return frozenset(names - set(_ENV.globals))
