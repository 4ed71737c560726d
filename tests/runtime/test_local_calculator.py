"""The offline ``local`` model hands the calculator arithmetic, not prose: the tool computes a
number in the demos instead of answering "the expression does not parse"."""

from __future__ import annotations

import json
from typing import Any

import pytest

from runtime.executor import InProcessExecutor
from runtime.providers.base import ChatRequest, ToolSpec
from runtime.providers.local import LocalProvider, arithmetic_for
from runtime.tools.builtin import calculator
from tests.runtime.graphs import edge, graph, input_node, load_example, output_node, worker
from tests.runtime.test_examples import default_input

CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate arithmetic",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
)


@pytest.mark.parametrize(
    ("text", "expression", "result"),
    [
        # An expression written in the text wins, the one with the most numbers first.
        ("What is (1200 - 950) / 950 * 100 in percent?", "(1200 - 950) / 950 * 100", 26.3157894),
        ("db connections 100/100; p95 2.4 s", "100/100", 1.0),
        ("2 × 3 and then 1 + 2 + 3", "1 + 2 + 3", 6),
        ("area: 3^2", "3**2", 9),
        # Words of change: the percent change between the last two figures.
        ("Q2 revenue EUR 1,840,000; Q3 revenue EUR 2,070,000. Growth?", None, 12.5),
        ("errors fell from 40 to 10", None, -75.0),
        ("it rose from 0 to 7", "7 - 0", 7),
        # Otherwise the total of the figures mentioned.
        ("Use the calculator to add 2 and 3", "2 + 3", 5),
        ("we sold 4 on 2025-01-01 at 12:01 and 5 later", "4 + 5", 9),
        ("costs 5.", "5", 5),
        ("version v2.14.0 of Q3 is out", "0", 0),
        ("no figures at all", "0", 0),
    ],
)
def test_the_expression_is_arithmetic_the_calculator_computes(
    text: str, expression: str | None, result: float
) -> None:
    built = arithmetic_for(text)
    if expression is not None:
        assert built == expression
    assert calculator(built)["result"] == pytest.approx(result)
    assert arithmetic_for(text) == built  # the same text, the same expression


@pytest.mark.parametrize(
    "text", ["on 2025-01-01", "call 555-01-02", "3 (4) and 5", "(1 + 2", "a - b + c", "1 + + 2"]
)
def test_what_only_looks_like_arithmetic_still_gives_a_valid_expression(text: str) -> None:
    value = calculator(arithmetic_for(text))["result"]
    assert isinstance(value, (int, float)) and not isinstance(value, bool)


async def test_the_calculator_call_carries_an_expression_built_from_the_users_figures() -> None:
    text = "Sales grew from 800 to 1,000 units: by how much?"
    request = ChatRequest(
        model="echo", messages=[{"role": "user", "content": text}], tools=[CALCULATOR]
    )
    response = await LocalProvider().complete(request)
    [call] = response.tool_calls
    assert call == {
        "id": call["id"],
        "name": "calculator",
        "arguments": {"expression": "(1000 - 800) / 800 * 100"},
    }


def tool_results(text: str, tool: str) -> list[Any]:
    """The parsed results of ``tool`` in a local answer's "Tool results:" lines."""
    prefix = f"- {tool}: "
    return [
        json.loads(line[len(prefix) :]) for line in text.splitlines() if line.startswith(prefix)
    ]


async def test_a_worker_on_local_gets_a_number_back_from_the_calculator() -> None:
    raw = graph(
        [
            input_node("in"),
            worker("sum", "Add up {{ input.a }} and {{ input.b }}", tools=["calculator"]),
            output_node("out"),
        ],
        [edge("e1", "in", "sum"), edge("e2", "sum", "out")],
    )
    result = await InProcessExecutor().run(raw, {"a": 19, "b": 23})
    assert result.status == "succeeded", result.error
    [answer] = tool_results(result.output, "calculator")
    assert answer == {"expression": "19 + 23", "result": 42}


async def test_the_sales_report_analyst_computes_the_growth_from_the_figures() -> None:
    raw = load_example("sales-report")
    result = await InProcessExecutor().run(raw, default_input(raw))
    assert result.status == "succeeded", result.error
    analyst = next(step for step in result.steps.values() if step.node == "analyst")
    answers = tool_results(analyst.output["highlights"][0], "calculator")
    assert answers == [{"expression": "(2070000 - 1840000) / 1840000 * 100", "result": 12.5}]


async def test_the_incident_metrics_investigator_gets_a_number() -> None:
    raw = load_example("incident-triage")
    result = await InProcessExecutor().run(raw, default_input(raw))
    assert result.status == "succeeded", result.error
    metrics = result.steps["metrics"]
    assert metrics.status == "succeeded"
    [answer] = tool_results(metrics.output, "calculator")
    assert isinstance(answer["result"], (int, float)) and not isinstance(answer["result"], bool)


async def test_an_expression_argument_that_is_not_text_follows_its_schema() -> None:
    counter = ToolSpec(
        "counter",
        "Count up",
        {"type": "object", "properties": {"expression": {"type": "integer", "minimum": 3}}},
    )
    request = ChatRequest(
        model="echo", messages=[{"role": "user", "content": "add 2 and 5"}], tools=[counter]
    )
    [call] = (await LocalProvider().complete(request)).tool_calls
    assert call["arguments"] == {"expression": 3}
