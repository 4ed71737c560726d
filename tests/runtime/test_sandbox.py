"""Templates and expressions: what they read, what the sandbox refuses, and the resource caps."""

from __future__ import annotations

import contextlib
import copy
import time
from typing import Any

import pytest

from runtime.errors import ExpressionError, TemplateError
from runtime.sandbox import (
    MAX_RENDERED_CHARS,
    compile_expression,
    compile_template,
    referenced_nodes,
    undeclared_names,
)


def scope() -> dict[str, Any]:
    return {
        "input": {"topic": "tides", "score": 4, "tags": ["sea", "moon"]},
        "nodes": {
            "plan": {"output": "Write on tides.", "branch": "out"},
            "data": {"output": {"rows": [1, 2, 3]}, "branch": "out"},
        },
        "upstream": "Write on tides.",
    }


def render(source: str, values: dict[str, Any] | None = None) -> str:
    return compile_template(source).render(values if values is not None else scope())


def evaluate(source: str, values: dict[str, Any] | None = None) -> Any:
    return compile_expression(source).evaluate(values if values is not None else scope())


# -- templates -----------------------------------------------------------------------------------


def test_it_renders_input_nodes_and_upstream() -> None:
    text = render(
        "{{ input.topic }}|{{ nodes.plan.output }}|{{ nodes['data'].output.rows | sum }}|"
        "{{ upstream | upper }}|{{ input.tags | join(', ') }}"
    )
    assert text == "tides|Write on tides.|6|WRITE ON TIDES.|sea, moon"


def test_it_renders_loops_conditions_and_json() -> None:
    source = (
        "{% for t in input.tags %}{{ loop.index }}:{{ t }}{{ ', ' if not loop.last }}{% endfor %}"
        "{% if input.score > 3 %} high{% else %} low{% endif %} {{ nodes.data.output | tojson }}"
    )
    assert render(source) == '1:sea, 2:moon high {"rows": [1, 2, 3]}'


def test_it_renders_missing_values_as_empty_text() -> None:
    assert (
        render("[{{ input.nope }}][{{ nodes.ghost.output }}][{{ input.nope.deeper }}]") == "[][][]"
    )


@pytest.mark.parametrize(
    "source", ["{{ input.topic ", "{% if input %}open", "{% endfor %}", "{{ 1 + }}", "{% bogus %}"]
)
def test_it_raises_template_error_for_syntax_errors(source: str) -> None:
    with pytest.raises(TemplateError, match="syntax error"):
        compile_template(source)


def test_it_raises_template_error_when_rendering_fails() -> None:
    with pytest.raises(TemplateError, match="ZeroDivisionError"):
        render("{{ 1 / 0 }}")


# -- sandbox escapes -----------------------------------------------------------------------------


ESCAPES = [
    "{{ ''.__class__.__mro__ }}",
    "{{ ''.__class__.__mro__[1].__subclasses__() }}",
    "{{ input.__class__ }}",
    "{{ input.__class__.__init__.__globals__ }}",
    "{{ cycler.__init__.__globals__ }}",
    "{{ lipsum.__globals__ }}",
    "{{ self._TemplateReference__context }}",
    "{{ self.__dict__ }}",
    "{{ '{0.__class__}'.format(1) }}",
    "{{ '{0.__class__.__base__.__subclasses__}'.format(input) }}",
    "{{ '{0[__class__]}'.format_map({'__class__': 1}) }}",
    "{{ input|attr('__class__') }}",
    "{{ range.__globals__ }}",
    "{{ dict.__subclasses__() }}",
    "{{ dict.mro() }}",
    "{{ (1).__class__.__base__ }}",
    "{{ upstream.__len__ }}",
    "{{ loop.__class__ }}",
    "{% for x in range(1) %}{{ loop._iterator }}{% endfor %}",
]


@pytest.mark.parametrize("source", ESCAPES)
def test_it_refuses_access_to_python_internals(source: str) -> None:
    """Either the sandbox raises, or the lookup is undefined and renders as nothing."""
    try:
        text = render(source)
    except TemplateError as exc:
        assert "sandbox" in str(exc) or "failed" in str(exc)
    else:
        assert text.strip() in ("", "()", "[]"), text
        for leak in ("class", "type", "module", "function", "object", "built-in", "<"):
            assert leak not in text


MUTATIONS = [
    "{{ input.update({'a': 1}) }}",
    "{{ input.pop('topic') }}",
    "{{ input.setdefault('b', 2) }}",
    "{{ input.tags.append('x') }}",
    "{{ input.tags.sort() }}",
    "{{ nodes.clear() }}",
    "{{ nodes.plan.update({'output': 'forged'}) }}",
    "{{ nodes.data.output.rows.pop() }}",
    # The dict type's unbound methods called on our values (this one once got through).
    "{{ dict.update(input, {'a': 1}) }}",
    "{{ dict.clear(nodes) }}",
    "{{ dict.pop(input, 'topic') }}",
    "{{ dict.setdefault(nodes, 'forged', 1) }}",
    "{{ input|attr('update') }}",
]


@pytest.mark.parametrize("source", MUTATIONS)
def test_it_refuses_to_mutate_the_values_it_reads(source: str) -> None:
    values = scope()
    before = copy.deepcopy(values)
    with contextlib.suppress(TemplateError):
        render(source, values)
    assert values == before


@pytest.mark.parametrize("source", ["dict.clear(nodes)", "input.update({'a': 1})"])
def test_it_refuses_to_mutate_from_an_expression(source: str) -> None:
    values = scope()
    before = copy.deepcopy(values)
    with pytest.raises(ExpressionError):
        evaluate(source, values)
    assert values == before


def test_it_still_builds_new_dicts() -> None:
    assert render("{{ dict(a=1, b=2) | tojson }}") == '{"a": 1, "b": 2}'
    assert render("{{ dict(input, extra=1).extra }}|{{ input.extra }}") == "1|"


# -- resource caps ------------------------------------------------------------------------------


CAPPED = [
    ("{{ range(10**9) | list | length }}", "range"),
    ("{{ 'x' * 10**9 }}", "repetition"),
    ("{{ [0] * 10**8 }}", "repetition"),
    ("{{ 10 ** 100000 }}", "exponent"),
    ("{{ (2 ** 999) ** 999 }}", "power"),
    # Squaring over and over: each step is allowed, the total is not.
    ("{% set x = 2 ** 999 %}" + "{% set x = x * x %}" * 30 + "{{ x > 0 }}", "product"),
    ("{% set s = 'x' * 100000 %}" + "{% set s = s ~ s %}" * 30 + "{{ s | length }}", "large"),
    ("{% set s = 'x' * 100000 %}" + "{% set s = s + s %}" * 30 + "{{ s | length }}", "large"),
    ("{{ '%0999999999d' % 1 }}", "width"),
    ("{{ '%.999999999f' % 1.5 }}", "precision"),
    ("{{ '%0999999999d' | format(1) }}", "width"),
    ("{{ '{:>9999999999}'.format(1) }}", "width"),
    ("{{ '{:>{w}}'.format(1, w=10**9) }}", "width"),
    ("{{ 'a'.ljust(10**10) }}", "width"),
    ("{{ 'a' | center(10**10) }}", "width"),
    ("{{ 'a' | indent(10**10) }}", "width"),
    # Loops nest: each range is small, the product is not, and nothing is printed.
    (
        "{% for i in range(9999) %}{% for j in range(9999) %}{% for k in range(9999) %}"
        "{% endfor %}{% endfor %}{% endfor %}",
        "loop iterations",
    ),
    # A doubly recursive macro: 2**60 calls.
    (
        "{% macro f(n) %}{% if n %}{{ f(n - 1) }}{{ f(n - 1) }}{% endif %}{% endmacro %}"
        "{{ f(60) }}",
        "calls",
    ),
    (
        "{% for x in range(2) recursive %}{% if loop.depth < 9 %}{{ loop(range(9999)) }}"
        "{% endif %}{% endfor %}",
        "loop iterations",
    ),
    ("{% for i in range(9999) %}{{ 'x' * 9999 }}{% endfor %}", "exceeds"),
    # Text built whole before the output cap sees it: each piece is allowed, the result is not.
    ("{% set s = 'x' * 99999 %}{{ [s] * 10000 }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ {'a': [s] * 10000} }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ ([s] * 10000) | join }}", "too large"),
    ("{{ range(9999) | join('x' * 99999) }}", "too large"),
    ("{{ ('x' * 99999).join(range(9999) | map('string')) }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ ([{'a': s}] * 10000) | join(attribute='a') }}", "too large"),
    ("{{ ('a' * 99999) | replace('', 'b' * 99999) }}", "too large"),
    ("{{ ('a' * 99999).replace('a', 'b' * 99999) }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ ([s] * 10000) | tojson }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ ([s] * 10000) | string | length }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ ([s] * 10000) | pprint | length }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ '%s' % ([s] * 10000,) }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ '{}'.format([s] * 10000) }}", "too large"),
    ("{% set s = 'x' * 99999 %}{{ ([s] * 10000) ~ '' }}", "too large"),
    ("{{ ('\\n' * 99999) | indent('x' * 99999, blank=True) }}", "too large"),
    ("{{ ('a ' * 49999) | wordwrap(1, wrapstring='x' * 99999) }}", "too large"),
    ("{{ [1] | batch(10 ** 9, 0) | list | length }}", "batch size"),
    ("{{ [1] | slice(10 ** 8) | list | length }}", "slices"),
    ("{{ ([[0] * 10000] * 10000) | sum(start=[]) | length }}", "sum of sequences"),
]


@pytest.mark.parametrize(("source", "reason"), CAPPED, ids=range(len(CAPPED)))
def test_it_caps_resources_instead_of_hanging(source: str, reason: str) -> None:
    started = time.monotonic()
    with pytest.raises(TemplateError, match=reason):
        render(source)
    assert time.monotonic() - started < 10  # a hang would run for minutes or for ever


def test_it_caps_the_rendered_size() -> None:
    with pytest.raises(TemplateError, match=f"exceeds {MAX_RENDERED_CHARS}"):
        render("{% for i in range(200) %}{{ 'y' * 9999 }}{% endfor %}")
    assert len(render("{% for i in range(10) %}{{ 'y' * 9999 }}{% endfor %}")) == 99990


def test_it_still_joins_replaces_and_wraps_ordinary_text() -> None:
    assert render("{{ [1, 2, 3] | join(', ') }}|{{ '-'.join(['a', 'b']) }}") == "1, 2, 3|a-b"
    assert render("{{ [{'a': 'x'}, {'a': 'y'}] | join('+', attribute='a') }}") == "x+y"
    assert (
        render("{{ 'a.b.c' | replace('.', '/') }}|{{ 'aaa'.replace('a', 'b', 2) }}") == "a/b/c|bba"
    )
    assert render("{{ 'one two three' | wordwrap(5, wrapstring='|') }}") == "one|two|three"
    assert render("{{ [1, 2, 3] | batch(2, 0) | list }}|{{ [1, 2, 3] | slice(2) | list }}") == (
        "[[1, 2], [3, 0]]|[[1, 2], [3]]"
    )
    assert (
        render("{{ [[1], [2]] | sum(start=[]) }}|{{ {'k': [1]} | tojson }}") == '[1, 2]|{"k": [1]}'
    )
    assert render("{{ 'a\\nb' | indent('> ', first=True) }}|{{ [1, 'x'] }}") == "> a\n> b|[1, 'x']"


def test_it_allows_ordinary_formatting_and_arithmetic() -> None:
    assert render("{{ '%5s|%.2f|%%' % ('a', 2.5) }}") == "    a|2.50|%"
    assert render("{{ '%s and %s' | format('x', 'y') }}") == "x and y"
    assert render("{{ '{0:>4}|{1:.1f}'.format('b', 1.25) }}") == "   b|1.2"
    assert (
        render("{{ 'ab' | center(6) }}|{{ 'x' ~ 1 ~ 'y' }}|{{ [1] + [2] }}") == "  ab  |x1y|[1, 2]"
    )
    assert render("{{ 2 ** 10 }} {{ 12345678901234567890 * 98765432109876543210 }}") == (
        "1024 1219326311370217952237463801111263526900"
    )


# -- expressions --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("input.score > 3", True),
        ("input.score >= 5", False),
        ("input.topic == 'tides'", True),
        ("input.topic != 'tides'", False),
        ("'moon' in input.tags", True),
        ("'sun' in input.tags", False),
        ("'tide' in upstream", True),
        ("input.score > 3 and 'sea' in input.tags", True),
        ("input.score > 9 or not input.tags", False),
        ("not (input.score > 9)", True),
        ("upstream | length > 10", True),
        ("nodes.data.output.rows | sum == 6", True),
        ("input.topic | upper", "TIDES"),
        ("nodes['plan'].output.startswith('Write')", True),
        ("input.tags | select('equalto', 'moon') | list", ["moon"]),
        ("1 if input.score is even else 2", 1),
    ],
)
def test_it_evaluates_expressions(source: str, expected: Any) -> None:
    assert evaluate(source) == expected


@pytest.mark.parametrize(
    "source", ["input.missing", "nodes.ghost.output", "input.missing.deeper", "upstream.nope"]
)
def test_it_treats_missing_values_as_falsy(source: str) -> None:
    assert not evaluate(source)
    assert evaluate(f"not {source}") is True


@pytest.mark.parametrize("source", ["input.score >", "(", "a b", "", "   ", "x" * 3000])
def test_it_raises_expression_error_for_bad_expressions(source: str) -> None:
    with pytest.raises(ExpressionError):
        compile_expression(source)


@pytest.mark.parametrize(
    "source",
    [
        "''.__class__.__mro__[1].__subclasses__()",
        "dict.mro()",
        "input.update({'a': 1})",
        "nodes.clear()",
        "range(10**9)",
        "'x' * 10**9",
        "10 ** (10 ** 10)",
        "(2 ** 999) * (2 ** 999) * (2 ** 99999)",
        "'{:>9999999999}'.format(1)",
        "undefined_function()",
        "input.topic.nope()",
    ],
)
def test_it_refuses_hostile_expressions(source: str) -> None:
    with pytest.raises(ExpressionError):
        evaluate(source)


@pytest.mark.parametrize(
    "source",
    ["input.__class__.__init__.__globals__['os']", "''.__class__", "upstream.__len__"],
)
def test_it_reads_python_internals_as_missing_in_an_expression(source: str) -> None:
    assert evaluate(source) is None


def test_it_finds_the_nodes_a_template_reads() -> None:
    source = "{{ nodes.plan.output }} {{ nodes['data'].output }} {{ input.nodes }} {{ x.nodes.y }}"
    assert referenced_nodes(source) == {"plan", "data"}
    assert referenced_nodes("nodes.a.output > nodes['b'].output", expression=True) == {"a", "b"}
    assert referenced_nodes("{{ input.topic }}") == set()


def test_it_finds_the_top_level_names_a_template_reads() -> None:
    assert undeclared_names("{{ input.a }}{{ upstream }}{{ range(2) }}{{ secret }}") == {
        "input",
        "upstream",
        "secret",
    }
    assert undeclared_names("{% set x = 1 %}{{ x }}") == set()


@pytest.mark.parametrize("expression", [False, True])
def test_it_reports_syntax_errors_when_finding_references(expression: bool) -> None:
    error = ExpressionError if expression else TemplateError
    with pytest.raises(error):
        referenced_nodes("{{ nodes.a" if not expression else "nodes.a >", expression=expression)


@pytest.mark.parametrize(
    "source",
    ["joined", "two\r\nlines\n", "", "{% raw %}{{ input }}{% endraw %}", "{# note #}text", "a\n\n"],
)
def test_a_template_of_text_alone_renders_as_jinja_renders_it(source: str) -> None:
    from runtime.sandbox import _ENV

    compiled = compile_template(source)
    assert compiled._constant is not None  # the fast path is the one taken
    assert compiled.render({"input": "ignored"}) == _ENV.from_string(source).render()


@pytest.mark.parametrize("source", ["x {{ 1 }}", "{% if true %}y{% endif %}", "{{ input }}"])
def test_a_template_with_markup_is_rendered_by_jinja(source: str) -> None:
    assert compile_template(source)._constant is None
