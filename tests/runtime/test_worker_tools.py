"""Worker agents with tools and structured output, and the built-in tools themselves.

Model calls go to the loopback vendor server through the real OpenAI-compatible provider, so the
tool-call and tool-result messages are checked in the vendor's own wire format.
"""

from __future__ import annotations

import asyncio
import datetime
import json
from typing import Any

import httpx
import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.worker import WorkerConfig
from runtime.services import Services
from runtime.tools import Tool, ToolRegistry, default_tools
from runtime.tools.builtin import calculator, json_path, parse_path
from runtime.validation import validate_graph
from tests.runtime.agent_support import agent, last_user, messages_of, services_for, system_of
from tests.runtime.graphs import chain, input_node, output_node, worker
from tests.support.vendor_server import Completion, JSONAnswer, ToolCalls, VendorServer

SEO_SCHEMA = {
    "type": "object",
    "properties": {
        "score": {"type": "integer", "minimum": 0, "maximum": 100},
        "issues": {"type": "array", "items": {"type": "string"}},
    },
    "required": ["score", "issues"],
}


@pytest.fixture
def services(vendor_server: VendorServer, client: httpx.AsyncClient) -> Services:
    return services_for(client, {"openai": vendor_server.url})


def one_worker(**config: Any) -> dict[str, Any]:
    settings = {"model": "openai/agent", "stream": False, "retry": {"max_attempts": 1}, **config}
    return chain(input_node("in"), agent("w", **settings), output_node("out"))


def run_tool(name: str, arguments: Any) -> tuple[bool, str]:
    outcome = asyncio.run(default_tools.run(name, arguments))
    return outcome.ok, outcome.content


# -- the tool loop --------------------------------------------------------------------------------


async def test_a_worker_calls_a_tool_and_then_answers(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        ToolCalls(
            [{"id": "call_a", "name": "calculator", "arguments": {"expression": "2**10 + 1"}}],
            prompt_tokens=20,
            completion_tokens=8,
        ),
        Completion("The answer is 1025.", prompt_tokens=40, completion_tokens=6),
    )
    sink = ListSink()
    raw = one_worker(tools=["calculator", "word_count"], role="Analyst", stream=True)
    result = await InProcessExecutor(services=services, sink=sink).run(raw, "What is 2^10+1?")

    assert result.status == "succeeded", result.error
    assert result.output == "The answer is 1025."
    first, second = vendor_server.requests
    assert [t["function"]["name"] for t in first.body["tools"]] == ["calculator", "word_count"]
    assert first.body["tools"][0]["function"]["parameters"]["required"] == ["expression"]
    # The second request carries the assistant's call and the tool's result, paired by id.
    assistant, tool = messages_of(second)[-2:]
    assert assistant["role"] == "assistant"
    assert assistant["tool_calls"][0]["id"] == "call_a"
    assert json.loads(assistant["tool_calls"][0]["function"]["arguments"]) == {
        "expression": "2**10 + 1"
    }
    assert tool["role"] == "tool" and tool["tool_call_id"] == "call_a"
    assert json.loads(tool["content"]) == {"expression": "2**10 + 1", "result": 1025}
    # Every call is counted.
    step = result.steps["w"]
    assert (step.tokens_in, step.tokens_out) == (60, 14)
    chunks = "".join(e.data["text"] for e in sink.events if e.type == "step.chunk")
    assert chunks == "The answer is 1025."


async def test_unknown_tools_and_bad_arguments_become_tool_errors(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        ToolCalls(
            [
                {"id": "c1", "name": "rm_rf", "arguments": {}},
                {"id": "c2", "name": "calculator", "arguments": {"expr": "1+1"}},
                {"id": "c3", "name": "calculator", "arguments": {"expression": "1/0"}},
                {"id": "c4", "name": "word_count", "arguments": {"text": "not given"}},
            ]
        ),
        Completion("Sorry, the tools failed."),
    )
    result = await InProcessExecutor(services=services).run(one_worker(tools=["calculator"]), "go")
    assert result.status == "succeeded", result.error
    assert result.output == "Sorry, the tools failed."
    tools = {
        m["tool_call_id"]: m["content"]
        for m in messages_of(vendor_server.requests[1])
        if m["role"] == "tool"
    }
    assert tools["c1"].startswith("Error: there is no tool 'rm_rf' (available: calculator)")
    assert tools["c2"] == "Error: invalid arguments: 'expression' is a required property"
    assert tools["c3"] == "Error: division by zero"
    # A real tool the agent was not given is refused like an unknown one.
    assert tools["c4"].startswith("Error: there is no tool 'word_count'")


async def test_the_tool_loop_stops_at_its_limit(
    vendor_server: VendorServer, services: Services
) -> None:
    again = ToolCalls([{"name": "current_time", "arguments": {}}])
    vendor_server.push(again, again, again, again)
    result = await InProcessExecutor(services=services).run(
        one_worker(tools=["current_time"], max_tool_calls=2), "what time is it?"
    )
    assert result.status == "failed"
    assert result.error is not None
    assert "kept calling tools after its limit of 2 tool calls" in result.error["message"]
    requests = vendor_server.requests
    assert len(requests) == 3
    last_tool = messages_of(requests[2])[-1]
    assert last_tool["role"] == "tool"
    assert "No tool calls are left (limit 2). Answer now without tools." in last_tool["content"]


# -- structured output ----------------------------------------------------------------------------


async def test_structured_output_invalid_once_is_repaired(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        JSONAnswer({"score": "high", "issues": []}, prompt_tokens=10, completion_tokens=5),
        JSONAnswer(
            {"score": 87, "issues": ["title too long"]}, prompt_tokens=30, completion_tokens=7
        ),
    )
    sink = ListSink()
    raw = one_worker(output_format="json", output_schema=SEO_SCHEMA, role="SEO editor")
    result = await InProcessExecutor(services=services, sink=sink).run(raw, "Score this draft")

    assert result.status == "succeeded", result.error
    assert result.output == {"score": 87, "issues": ["title too long"]}
    first, second = vendor_server.requests
    assert first.body["response_format"]["json_schema"]["schema"] == SEO_SCHEMA
    assert "It must match this JSON Schema" in system_of(first)
    repair = last_user(second)
    assert repair.startswith(
        "Your answer is not valid: 'high' is not of type 'integer' (at $.score)"
    )
    assert messages_of(second)[-2] == {
        "role": "assistant",
        "content": json.dumps({"score": "high", "issues": []}),
    }
    assert (result.steps["w"].tokens_in, result.steps["w"].tokens_out) == (40, 12)
    assert not [e for e in sink.events if e.type == "step.chunk"]  # JSON is not streamed


async def test_structured_output_accepts_a_fenced_answer(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion('Here you go:\n```json\n{"score": 5, "issues": []}\n```'))
    result = await InProcessExecutor(services=services).run(
        one_worker(output_format="json", output_schema=SEO_SCHEMA), "x"
    )
    assert result.output == {"score": 5, "issues": []}
    assert len(vendor_server.requests) == 1


async def test_structured_output_fails_after_its_repairs(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion("not json"), JSONAnswer({"score": 500, "issues": []}))
    result = await InProcessExecutor(services=services).run(
        one_worker(output_format="json", output_schema=SEO_SCHEMA, max_repairs=1), "x"
    )
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "invalid_output"
    assert result.error["message"] == (
        "step 'w' failed: the output of 'w' is not valid after 1 repair(s): "
        "500 is greater than the maximum of 100 (at $.score)"
    )
    assert last_user(vendor_server.requests[1]).startswith(
        "Your answer is not valid: the answer is not JSON"
    )


async def test_json_without_a_schema_only_has_to_parse(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion('[1, 2, "three"]'))
    result = await InProcessExecutor(services=services).run(one_worker(output_format="json"), "x")
    assert result.output == [1, 2, "three"]
    assert "response_format" not in vendor_server.last_request.body


async def test_tools_and_structured_output_together_offline() -> None:
    """The local provider calls a tool, reads its result, then answers the schema."""
    raw = chain(
        input_node("in"),
        worker(
            "w",
            "Count the words: {{ input.text }}",
            tools=["word_count"],
            output_format="json",
            output_schema=SEO_SCHEMA,
        ),
        output_node("out"),
    )
    result = await InProcessExecutor().run(raw, {"text": "one two three"})
    assert result.status == "succeeded", result.error
    assert isinstance(result.output["score"], int)
    assert isinstance(result.output["issues"], list)


# -- settings -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("config", "message"),
    [
        ({"tools": ["shell"]}, "unknown tool(s) shell"),
        ({"tools": ["calculator", "calculator"]}, "listed twice"),
        ({"output_schema": {"type": "object"}}, "output_schema needs output_format 'json'"),
        ({"output_format": "json", "output_schema": {"type": 5}}, "not a valid JSON Schema"),
        ({"model": "gpt-4o"}, "neither 'provider/model' nor a tier"),
        ({"fallback_models": ["medium"]}, "neither 'provider/model' nor a tier"),
        ({"max_tool_calls": 0}, "Max tool calls must be at least 1"),
    ],
)
def test_bad_worker_settings_are_validation_errors(config: dict[str, Any], message: str) -> None:
    issues = validate_graph(chain(input_node("in"), agent("w", **config), output_node("out")))
    assert any(message in issue.message for issue in issues), issues


def test_the_worker_settings_schema_offers_the_tools() -> None:
    schema = WorkerConfig.model_json_schema()["properties"]
    assert [tool["name"] for tool in schema["tools"]["builtin_tools"]] == default_tools.names()
    assert schema["tools"]["items"]["pattern"].startswith("^")
    assert {"goal", "fallback_models", "output_format", "output_schema", "max_repairs"} <= set(
        schema
    )
    assert schema["max_tool_calls"]["default"] == 5


# -- the built-in tools ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("expression", "result"),
    [
        ("1 + 2 * 3", 7),
        ("(1200 - 950) / 950 * 100", (1200 - 950) / 950 * 100),
        ("2 ** 10", 1024),
        ("-3 ** 2", -9),
        ("7 // 2 + 7 % 2", 4),
        ("sqrt(16) + abs(-2) + max(1, 5, 3)", 11.0),
        ("round(pi, 2)", 3.14),
    ],
)
def test_the_calculator_computes(expression: str, result: float) -> None:
    assert calculator(expression)["result"] == pytest.approx(result)


@pytest.mark.parametrize(
    ("expression", "error"),
    [
        ("__import__('os')", "unknown function '__import__'"),
        ("__import__('os').system('id')", "Call is not allowed"),
        ("(1).__class__", "Attribute is not allowed"),
        ("x + 1", "unknown name 'x'"),
        ("'a' * 3", "only numbers are allowed"),
        ("True + 1", "only numbers are allowed"),
        ("9 ** 9 ** 9", "exponents are limited"),
        ("99999 ** 999", "too large"),
        ("10 ** 900 * 10 ** 900 * 10 ** 900", "too large"),
        ("1 / 0", "division by zero"),
        ("exp(1000)", "too large"),
        ("(-8) ** 0.5", "complex"),
        ("sqrt(-1)", "math domain error"),
        ("1 +", "does not parse"),
        ("[1, 2]", "List is not allowed"),
        ("1 " + "+ 1 " * 300, "longer than 500"),
    ],
)
def test_the_calculator_refuses(expression: str, error: str) -> None:
    ok, content = run_tool("calculator", {"expression": expression})
    assert not ok
    assert error in content


def test_json_path_extracts_fields() -> None:
    data = {"orders": [{"id": 1, "total": 9.5}, {"id": 2, "total": 3}], "meta": {"a-b": True}}
    assert json_path(data, "$.orders[1].total")["value"] == 3
    assert json_path(data, "orders[-1].id")["value"] == 2
    assert json_path(data, "orders[*].total")["value"] == [9.5, 3]
    assert json_path(data, "$.meta['a-b']")["value"] is True
    assert json_path(json.dumps(data), "$.meta.*")["value"] == [True]
    assert json_path(data, "$")["value"] == data
    assert parse_path('$["x"][0].y') == ["x", 0, "y"]
    for path, error in [
        ("orders[5]", "$.orders has no item 5 (it has 2)"),
        ("meta.missing", "$.meta has no field 'missing' (it has: a-b)"),
        ("orders.id", "$.orders is not an object"),
        ("orders[", "cannot read the path"),
    ]:
        ok, content = run_tool("json_path", {"data": data, "path": path})
        assert not ok and content.startswith(f"Error: {error}")


def test_the_text_tools() -> None:
    ok, content = run_tool("word_count", {"text": "one two\nthree"})
    assert ok and json.loads(content) == {"words": 3, "characters": 13, "lines": 2}
    logs = "09:00 ok\n09:01 ERROR disk full\n09:02 ok\n09:03 error: retry"
    ok, content = run_tool("text_search", {"text": logs, "term": "error"})
    assert json.loads(content) == {
        "term": "error",
        "count": 2,
        "matches": [
            {"line": 2, "text": "09:01 ERROR disk full"},
            {"line": 4, "text": "09:03 error: retry"},
        ],
    }
    ok, content = run_tool(
        "text_search", {"text": logs, "term": "error", "case_sensitive": True, "max_results": 1}
    )
    assert json.loads(content)["count"] == 1
    ok, content = run_tool("text_search", {"text": logs, "term": ""})
    assert not ok and "should be non-empty" in content


def test_current_time_is_utc_iso() -> None:
    ok, content = run_tool("current_time", {})
    stamp = json.loads(content)["utc"]
    assert ok and stamp.endswith("Z")
    parsed = datetime.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    assert abs(parsed - datetime.datetime.now(datetime.UTC)).total_seconds() < 60


async def test_a_registry_runs_async_tools_and_turns_exceptions_into_errors() -> None:
    async def slow_echo(text: str) -> str:
        await asyncio.sleep(0)
        return text.upper()

    def broken() -> None:
        raise KeyError("nope")

    schema = {"type": "object", "properties": {"text": {"type": "string"}}, "required": ["text"]}
    registry = ToolRegistry(
        [
            Tool("echo", "shout", schema, slow_echo),
            Tool("broken", "fails", {"type": "object"}, broken),
            Tool("big", "a lot", {"type": "object"}, lambda: "x" * 50_000),
        ]
    )
    assert (await registry.run("echo", {"text": "hi"})).content == "HI"
    assert (await registry.run("broken", {})).content == "Error: KeyError: 'nope'"
    assert (
        await registry.run("echo", ["hi"])
    ).content == "Error: the arguments must be a JSON object"
    big = await registry.run("big", {})
    assert big.ok and big.content.endswith("[cut at 20000 characters]")
    with pytest.raises(ValueError, match="already registered"):
        registry.register(Tool("echo", "again", schema, slow_echo))
    assert [spec.name for spec in registry.specs(["echo", "missing"])] == ["echo"]
