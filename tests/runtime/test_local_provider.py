"""The offline ``local`` provider: labelled, deterministic, and able to play the manager and
tool-calling roles so example flows run without a key.

The JSON Schema instances behind its structured answers are tested in test_schema_instance.py.
"""

from __future__ import annotations

import json
from typing import Any, Literal

from jsonschema import Draft202012Validator
from pydantic import BaseModel

from runtime.nodes.manager import results_message
from runtime.providers.base import ChatMessage, ChatRequest, ChatResponse, ToolSpec
from runtime.providers.local import (
    FINAL_PREFIX,
    LABEL,
    REAL_MODEL_HINT,
    RESULTS_MARKER,
    TASK_CHARS,
    LocalProvider,
)

TASK = "Write a short report on green tea"


async def ask(
    messages: list[ChatMessage],
    *,
    tools: list[ToolSpec] | None = None,
    schema: dict[str, Any] | None = None,
    stream: bool = False,
) -> tuple[ChatResponse, list[str]]:
    seen: list[str] = []
    request = ChatRequest(
        model="echo", messages=messages, tools=tools or [], response_schema=schema, stream=stream
    )
    response = await LocalProvider().complete(request, seen.append if stream else None)
    return response, seen


def assert_valid(schema: dict[str, Any], instance: Any) -> None:
    errors = [e.message for e in Draft202012Validator(schema).iter_errors(instance)]
    assert not errors, (schema, instance, errors)


# -- plain answers ---------------------------------------------------------------------------------


async def test_a_plain_answer_is_labelled_and_streams_the_same_text() -> None:
    messages: list[ChatMessage] = [
        {"role": "system", "content": "You are the researcher."},
        {"role": "user", "content": TASK},
    ]
    plain, _ = await ask(messages)
    streamed, seen = await ask(messages, stream=True)

    # a deliberate placeholder: short, structured, saying what a real model would be asked
    assert plain.text.startswith(f"{LABEL} Placeholder answer (#")
    assert f"\nAs: You are the researcher.\nAsked: {TASK}\n" in plain.text
    assert plain.text.endswith(REAL_MODEL_HINT)

    assert streamed.text == plain.text == "".join(seen)
    assert (plain.finish_reason, plain.tool_calls, plain.model) == ("stop", [], "local/echo")
    assert plain.tokens_in > 0 and plain.tokens_out > 0


async def test_a_long_prompt_is_not_echoed_back() -> None:
    prompt = "Summarise the attached brief. " * 200
    plain, _ = await ask([{"role": "user", "content": prompt}])
    asked = next(line for line in plain.text.splitlines() if line.startswith("Asked: "))
    assert len(asked) <= len("Asked: ") + TASK_CHARS and asked.endswith("…")
    assert len(plain.text) < 400


# -- structured output -----------------------------------------------------------------------------

REPORT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "title": {"type": "string", "maxLength": 30},
        "sections": {
            "type": "array",
            "minItems": 2,
            "items": {
                "type": "object",
                "properties": {
                    "heading": {"type": "string", "minLength": 3},
                    "words": {"type": "integer", "minimum": 50, "maximum": 500},
                },
                "required": ["heading", "words"],
                "additionalProperties": False,
            },
        },
        "tone": {"enum": ["neutral", "upbeat"]},
        "confidence": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "published": {"type": "boolean"},
        "kind": {"const": "report"},
        "summary": {"anyOf": [{"type": "string"}, {"type": "null"}]},
    },
    "required": ["title", "sections", "tone", "kind"],
}


async def test_structured_output_is_json_valid_against_the_schema() -> None:
    messages: list[ChatMessage] = [{"role": "user", "content": TASK}]

    response, _ = await ask(messages, schema=REPORT_SCHEMA)

    value = json.loads(response.text)
    assert_valid(REPORT_SCHEMA, value)
    assert len(value["title"]) <= 30
    assert len(value["sections"]) == 2
    assert value["tone"] == "neutral"  # an enum answers its first value
    assert value["kind"] == "report"
    assert 0 < value["confidence"] < 1
    assert value["summary"].startswith(LABEL)  # strings say where they came from
    assert response.finish_reason == "stop"


async def test_structured_output_of_a_pydantic_schema_parses_back() -> None:
    class Ticket(BaseModel):
        priority: Literal["low", "high"]
        summary: str
        tags: list[str]
        estimate_hours: float | None = None

    response, _ = await ask(
        [{"role": "user", "content": "Printer is on fire"}], schema=Ticket.model_json_schema()
    )

    ticket = Ticket.model_validate_json(response.text)
    assert ticket.priority == "low"
    assert len(ticket.tags) == 1


# -- the manager convention ------------------------------------------------------------------------

PLAN_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {
        "subtasks": {
            "type": "array",
            "items": {
                "type": "object",
                "properties": {
                    "worker": {"type": "string", "enum": ["researcher", "writer", "critic"]},
                    "task": {"type": "string"},
                },
                "required": ["worker", "task"],
            },
        },
        "done": {"type": "boolean"},
        "final_answer": {"type": ["string", "null"]},
    },
    "required": ["subtasks", "done", "final_answer"],
}


async def test_the_manager_first_round_gives_every_worker_the_task() -> None:
    messages: list[ChatMessage] = [
        {"role": "system", "content": "You are the manager."},
        {"role": "user", "content": f"  {TASK}\n"},
    ]

    response, _ = await ask(messages, schema=PLAN_SCHEMA)

    plan = json.loads(response.text)
    assert_valid(PLAN_SCHEMA, plan)
    assert plan == {
        "subtasks": [
            {"worker": "researcher", "task": TASK},
            {"worker": "writer", "task": TASK},
            {"worker": "critic", "task": TASK},
        ],
        "done": False,
        "final_answer": None,
    }


async def test_the_manager_finishes_with_the_results_of_earlier_rounds() -> None:
    first_round, _ = await ask([{"role": "user", "content": TASK}], schema=PLAN_SCHEMA)
    worker_answer, _ = await ask([{"role": "user", "content": "Find tea facts"}])
    results_1 = results_message(
        1,
        [{"task": "Find tea facts"}, {"task": "Draft it"}],
        [
            {"worker": "researcher", "status": "succeeded", "text": worker_answer.text},
            {"worker": "writer", "status": "failed", "text": "timed out\ntraceback…"},
        ],
    )
    results_2 = results_message(
        2,
        [{"task": "Check it"}, {"task": "Score it"}],
        [
            {"worker": "critic", "status": "succeeded", "text": "fine"},
            {"worker": "judge", "status": "succeeded", "text": '{"score": 3, "issues": []}'},
        ],
    )
    messages: list[ChatMessage] = [
        {"role": "system", "content": "You are the manager."},
        {"role": "user", "content": TASK},
        {"role": "assistant", "content": first_round.text},
        {"role": "user", "content": results_1},
        {"role": "assistant", "content": first_round.text},
        {"role": "user", "content": results_2},
    ]

    response, _ = await ask(messages, schema=PLAN_SCHEMA)

    plan = json.loads(response.text)
    assert_valid(PLAN_SCHEMA, plan)
    assert plan["subtasks"] == []
    assert plan["done"] is True
    # one line a result, not the results messages (and the prompts in them) over again
    assert plan["final_answer"] == FINAL_PREFIX + (
        "- researcher was asked: Find tea facts\n- writer (failed): timed out\n- critic: fine\n"
        "- judge: answered JSON with score, issues"
    )
    assert plan["final_answer"].startswith(LABEL)


async def test_the_manager_convention_reads_pydantic_schemas_and_skips_absent_fields() -> None:
    # As a node would write it: $defs and $ref, a Literal for the worker, no "done" field, and a
    # final answer that must be a string (so round one answers "").
    class Subtask(BaseModel):
        worker: Literal["analyst", "coder"]
        task: str
        priority: int = 1

    class Plan(BaseModel):
        thoughts: str
        subtasks: list[Subtask]
        final_answer: str = ""

    schema = Plan.model_json_schema()
    assert "$defs" in schema  # the shape this test is about

    first, _ = await ask([{"role": "user", "content": "Fix the bug"}], schema=schema)
    plan = Plan.model_validate_json(first.text)
    assert [(s.worker, s.task) for s in plan.subtasks] == [
        ("analyst", "Fix the bug"),
        ("coder", "Fix the bug"),
    ]
    assert plan.final_answer == ""
    assert "done" not in json.loads(first.text)

    messages: list[ChatMessage] = [
        {"role": "user", "content": "Fix the bug"},
        {"role": "user", "content": f"{RESULTS_MARKER} 1: analyst found it; coder fixed it"},
    ]
    final = Plan.model_validate_json((await ask(messages, schema=schema))[0].text)
    assert final.subtasks == []
    assert final.final_answer.endswith("analyst found it; coder fixed it")


async def test_a_single_worker_given_as_const_still_gets_its_subtask() -> None:
    schema = json.loads(json.dumps(PLAN_SCHEMA))
    schema["properties"]["subtasks"]["items"]["properties"]["worker"] = {"const": "solo"}

    response, _ = await ask([{"role": "user", "content": TASK}], schema=schema)

    assert json.loads(response.text)["subtasks"] == [{"worker": "solo", "task": TASK}]


async def test_the_marker_must_start_the_message_to_count() -> None:
    # A task that merely mentions the phrase is still a first round.
    task = f"Summarise the '{RESULTS_MARKER} 3' section"
    response, _ = await ask([{"role": "user", "content": task}], schema=PLAN_SCHEMA)

    assert json.loads(response.text)["done"] is False


# -- the tool-calling convention -------------------------------------------------------------------

SEARCH = ToolSpec(
    "web_search",
    "Search the web",
    {
        "type": "object",
        "properties": {
            "query": {"type": "string"},
            "max_results": {"type": "integer", "minimum": 1, "maximum": 10},
        },
        "required": ["query"],
    },
)
CALCULATOR = ToolSpec(
    "calculator",
    "Evaluate arithmetic",
    {
        "type": "object",
        "properties": {"expression": {"type": "string"}},
        "required": ["expression"],
    },
)


async def test_it_calls_the_tool_named_in_the_user_message_with_the_users_text() -> None:
    text = "Use the Web_Search tool for 2 and 3"
    response, seen = await ask(
        [{"role": "user", "content": text}], tools=[CALCULATOR, SEARCH], stream=True
    )

    [call] = response.tool_calls
    assert call["name"] == "web_search"  # named (case aside), though not the first tool
    assert call["arguments"] == {"query": text, "max_results": 1}
    assert call["id"].startswith("local_call_")
    assert (response.text, response.finish_reason, seen) == ("", "tool_calls", [])


async def test_without_a_named_tool_it_calls_the_first_with_valid_arguments() -> None:
    response, _ = await ask(
        [{"role": "user", "content": "What's new?"}], tools=[SEARCH, CALCULATOR]
    )

    [call] = response.tool_calls
    assert call["name"] == "web_search"
    assert call["arguments"] == {"query": "What's new?", "max_results": 1}
    assert_valid(SEARCH.parameters, call["arguments"])


async def test_after_the_tool_result_it_answers_in_text_that_includes_it() -> None:
    messages: list[ChatMessage] = [{"role": "user", "content": "web_search for green tea"}]
    first, _ = await ask(messages, tools=[SEARCH])
    messages.append({"role": "assistant", "content": first.text, "tool_calls": first.tool_calls})
    # The name is looked up from the call when the tool message does not carry it.
    messages.append(
        {"role": "tool", "tool_call_id": first.tool_calls[0]["id"], "content": "3 results"}
    )

    second, _ = await ask(messages, tools=[SEARCH])

    assert second.tool_calls == []
    assert second.finish_reason == "stop"
    assert second.text.startswith(LABEL)
    assert second.text.endswith("\nTool results:\n- web_search: 3 results")


async def test_with_tools_and_a_schema_the_answer_after_the_tool_is_valid_json() -> None:
    messages: list[ChatMessage] = [{"role": "user", "content": TASK}]
    first, _ = await ask(messages, tools=[SEARCH], schema=REPORT_SCHEMA)
    assert first.tool_calls
    messages += [
        {"role": "assistant", "content": "", "tool_calls": first.tool_calls},
        {"role": "tool", "tool_call_id": first.tool_calls[0]["id"], "content": "tea is green"},
    ]

    second, _ = await ask(messages, tools=[SEARCH], schema=REPORT_SCHEMA)

    value = json.loads(second.text)
    assert_valid(REPORT_SCHEMA, value)
    assert "tea is green" in value["summary"]


async def test_the_same_request_always_gets_the_same_answer() -> None:
    cases: list[dict[str, Any]] = [
        {},
        {"schema": REPORT_SCHEMA},
        {"schema": PLAN_SCHEMA},
        {"tools": [SEARCH, CALCULATOR]},
    ]
    for case in cases:
        first, _ = await ask([{"role": "user", "content": TASK}], **case)
        again, _ = await ask([{"role": "user", "content": TASK}], **case)
        assert first == again
