"""What an endpoint can do (runtime.providers.capabilities), detected from refusals, remembered
per (base URL, model), overridden by the catalogue, and named in the error when nothing works.

The loopback vendor server imitates refusals of servers the suite cannot run; the real
llama-cpp-python server is in test_real_server.py.
"""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from runtime.errors import OutputSchemaError, ProviderBadRequestError, ProviderUnavailableError
from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.llm import chat_json, parse_json
from runtime.providers.base import ChatMessage, ChatRequest, ToolSpec
from runtime.providers.capabilities import (
    Capabilities,
    CapabilityMemory,
    CapabilityRefused,
    CatalogueEntry,
    grammar_schema,
    refused_features,
    with_schema_instruction,
)
from runtime.providers.openai_compat import OpenAICompatibleProvider
from runtime.usage import Usage
from tests.runtime.agent_support import services_for
from tests.runtime.graphs import edge, graph, input_node, node, output_node
from tests.support.server_refusals import (
    LLAMA_CPP_PYTHON_SCHEMA_REFUSAL,
    LM_STUDIO_OBJECT_REFUSAL,
    NO_RESPONSE_FORMAT,
    OLLAMA_TOOLS_REFUSAL,
    STREAM_OPTIONS_REFUSAL,
    VLLM_TOOLS_REFUSAL,
    refusing,
    refusing_each,
)
from tests.support.vendor_server import (
    Completion,
    HTTPError,
    JSONAnswer,
    Stream,
    ToolCalls,
    VendorServer,
)

SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}},
    "required": ["city"],
}
MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Capital of France?"},
]


@pytest.fixture
def memory() -> CapabilityMemory:
    return CapabilityMemory()


@pytest.fixture
def provider(
    vendor_server: VendorServer, client: httpx.AsyncClient, memory: CapabilityMemory
) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        base_url=vendor_server.url, client=client, timeout=5.0, memory=memory
    )


def structured(stream: bool = False, **settings: Any) -> ChatRequest:
    return ChatRequest(
        model="small",
        messages=list(MESSAGES),
        stream=stream,
        response_schema=SCHEMA,
        **settings,
    )


def formats(server: VendorServer) -> list[str | None]:
    """The response_format type of each request the server got (None: none sent)."""
    kinds = []
    for request in server.requests:
        sent = request.body.get("response_format")
        kinds.append(sent.get("type") if isinstance(sent, dict) else None)
    return kinds


# -- detection ---------------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_a_server_refusing_json_schema_is_asked_with_json_object_and_a_schema(
    vendor_server: VendorServer,
    provider: OpenAICompatibleProvider,
    memory: CapabilityMemory,
    stream: bool,
) -> None:
    vendor_server.respond_with(refusing({"json_schema"}, LLAMA_CPP_PYTHON_SCHEMA_REFUSAL))
    vendor_server.push(LLAMA_CPP_PYTHON_SCHEMA_REFUSAL, JSONAnswer({"city": "Paris"}))

    response = await provider.complete(structured(stream))

    assert json.loads(response.text) == {"city": "Paris"}
    assert response.structured_output == "json_object"
    assert formats(vendor_server) == ["json_schema", "json_object"]
    assert vendor_server.last_request.body["response_format"] == {
        "type": "json_object",
        "schema": SCHEMA,
    }
    learned = memory.get(vendor_server.url, "small")
    assert learned is not None
    assert (learned.structured_output, learned.structured_output_source) == (
        "json_object",
        "detected",
    )


async def test_what_was_learned_is_not_rediscovered_on_the_next_call(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.respond_with(refusing({"json_schema"}, LLAMA_CPP_PYTHON_SCHEMA_REFUSAL))
    vendor_server.push(LLAMA_CPP_PYTHON_SCHEMA_REFUSAL, JSONAnswer({"city": "Paris"}))
    await provider.complete(structured())
    vendor_server.push(JSONAnswer({"city": "Rome"}), JSONAnswer({"city": "Oslo"}))

    await provider.complete(structured())
    await provider.complete(structured(stream=True))

    # One refusal in all: the later calls went straight to json_object.
    assert formats(vendor_server) == ["json_schema", "json_object", "json_object", "json_object"]


async def test_learning_is_per_model_and_per_server(
    vendor_server: VendorServer,
    client: httpx.AsyncClient,
    provider: OpenAICompatibleProvider,
    memory: CapabilityMemory,
) -> None:
    vendor_server.push(LLAMA_CPP_PYTHON_SCHEMA_REFUSAL, JSONAnswer({"city": "Paris"}))
    await provider.complete(structured())
    other_model = structured()
    other_model.model = "big"
    vendor_server.push(JSONAnswer({"city": "Rome"}))

    await provider.complete(other_model)

    assert formats(vendor_server)[-1] == "json_schema"
    with VendorServer() as other:
        other.push(JSONAnswer({"city": "Oslo"}))
        elsewhere = OpenAICompatibleProvider(base_url=other.url, client=client, memory=memory)
        await elsewhere.complete(structured())
        assert formats(other) == ["json_schema"]


async def test_a_server_without_any_response_format_is_asked_by_instructions(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    vendor_server.respond_with(refusing({"json_schema", "json_object"}, NO_RESPONSE_FORMAT))

    response = await provider.complete(structured())

    assert formats(vendor_server) == ["json_schema", "json_object", None]
    assert response.structured_output == "instructions"
    system = vendor_server.last_request.body["messages"][0]
    assert system["role"] == "system"
    assert system["content"].startswith("You are terse.")
    assert json.dumps(SCHEMA) in system["content"]
    learned = memory.get(vendor_server.url, "small")
    assert learned is not None and learned.structured_output == "instructions"


def test_the_instruction_is_not_added_twice_when_the_prompt_carries_the_schema() -> None:
    prompt: list[ChatMessage] = [{"role": "user", "content": "JSON please: " + json.dumps(SCHEMA)}]
    assert with_schema_instruction(prompt, SCHEMA) is prompt
    added = with_schema_instruction([{"role": "user", "content": "hi"}], SCHEMA)
    assert [m["role"] for m in added] == ["system", "user"]


async def test_an_outage_is_not_taken_for_a_refusal(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    vendor_server.push(HTTPError(500, "the model crashed"))

    with pytest.raises(ProviderUnavailableError, match="the model crashed"):
        await provider.complete(structured())

    assert len(vendor_server.requests) == 1
    assert memory.get(vendor_server.url, "small") is None


@pytest.mark.parametrize(
    ("status", "message", "refused"),
    [
        (500, "Input should be 'text' or 'json_object'", {"structured_output"}),
        (400, "response_format.type json_schema is not supported", {"structured_output"}),
        (422, '{"detail": [{"loc": ["body", "response_format"]}]}', {"structured_output"}),
        (400, "Unrecognized request argument supplied: stream_options", {"stream_usage"}),
        (400, "Invalid schema for response_format 'output': 'items' is missing", set()),
        (401, "json_schema needs a paid plan", set()),
        (429, "too many json_schema requests", set()),
        (500, "internal error", set()),
        (200, "json_schema", set()),
    ],
)
def test_refusals_are_recognised_by_the_feature_they_name(
    status: int, message: str, refused: set[str]
) -> None:
    sent = {"structured_output", "stream_usage"}
    assert refused_features(status, message, sent=sent) == refused


def test_a_feature_not_sent_is_never_refused() -> None:
    assert refused_features(400, "stream_options is unknown", sent={"structured_output"}) == set()


# -- streamed usage ------------------------------------------------------------------------------


async def test_a_server_refusing_stream_options_streams_without_and_counts_the_tokens(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    vendor_server.respond_with(
        refusing({"stream_options"}, STREAM_OPTIONS_REFUSAL, then=Stream(["Par", "is"]))
    )
    request = ChatRequest(model="small", messages=list(MESSAGES), stream=True)

    response = await provider.complete(request)
    again = await provider.complete(request)

    assert (response.text, again.text) == ("Paris", "Paris")
    assert response.tokens_estimated and response.tokens_out >= 1
    sent = [r.body.get("stream_options") for r in vendor_server.requests]
    assert sent == [{"include_usage": True}, None, None]
    learned = memory.get(vendor_server.url, "small")
    assert learned is not None and learned.stream_usage == "counted"


async def test_a_server_ignoring_include_usage_is_counted_and_one_that_reports_it_is_read(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    request = ChatRequest(model="small", messages=list(MESSAGES), stream=True)
    vendor_server.push(Stream(["a", "b"], include_usage=False))
    first = await provider.complete(request)
    assert first.tokens_estimated
    assert memory.get(vendor_server.url, "small") == Capabilities(
        stream_usage="counted", stream_usage_source="detected"
    )
    # A server that sends usage anyway (on every chunk, unasked) is believed again.
    vendor_server.push(Stream(["a", "b"], include_usage=True, prompt_tokens=9))
    second = await provider.complete(request)
    assert "stream_options" not in vendor_server.last_request.body
    assert (second.tokens_in, second.tokens_estimated) == (9, False)
    learned = memory.get(vendor_server.url, "small")
    assert learned is not None and learned.stream_usage == "reported"


# -- settings: the catalogue and the provider ------------------------------------------------------


async def test_the_catalogues_mode_is_used_without_detection(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    vendor_server.push(JSONAnswer({"city": "Paris"}), JSONAnswer({"city": "Rome"}))

    await provider.complete(structured(structured_output="json_object"))
    await provider.complete(structured(structured_output="instructions"))

    assert formats(vendor_server) == ["json_object", None]
    assert memory.get(vendor_server.url, "small") is None


@pytest.mark.parametrize(
    ("mode", "refusal", "label", "fix"),
    [
        ("json_schema", LLAMA_CPP_PYTHON_SCHEMA_REFUSAL, "JSON-schema output", "json_object or"),
        ("json_object", LM_STUDIO_OBJECT_REFUSAL, "JSON-object output", "to instructions"),
    ],
)
async def test_a_refused_catalogue_setting_fails_with_the_capability_and_the_fix(
    vendor_server: VendorServer,
    provider: OpenAICompatibleProvider,
    mode: str,
    refusal: HTTPError,
    label: str,
    fix: str,
) -> None:
    vendor_server.push(refusal)

    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.complete(structured(structured_output=mode))

    message = str(caught.value)
    assert f"cannot do {label}" in message
    assert "model catalogue" in message and fix in message
    assert "HTTP" in message  # and what the server said
    assert len(vendor_server.requests) == 1  # not second-guessed


async def test_the_providers_own_setting_and_its_refusal(
    vendor_server: VendorServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", vendor_server.url)
    monkeypatch.setenv("OPENAI_STRUCTURED_OUTPUT", "json_schema")
    provider = OpenAICompatibleProvider.from_env(client=client)
    provider.memory = CapabilityMemory()
    vendor_server.push(LLAMA_CPP_PYTHON_SCHEMA_REFUSAL)

    with pytest.raises(ProviderBadRequestError, match="OPENAI_STRUCTURED_OUTPUT to json_object"):
        await provider.complete(structured())

    # The catalogue's setting wins over the provider's.
    vendor_server.push(JSONAnswer({"city": "Paris"}))
    await provider.complete(structured(structured_output="json_object"))
    assert formats(vendor_server)[-1] == "json_object"


# -- through a flow ---------------------------------------------------------------------------


def json_worker_flow(model: str = "openai/small") -> dict[str, Any]:
    return graph(
        [
            input_node("in"),
            node(
                "ask",
                "worker",
                model=model,
                instructions="Where is {{ input.place }}?",
                output_format="json",
                output_schema=SCHEMA,
                retry={"max_attempts": 1},
            ),
            output_node("out"),
        ],
        [edge("e1", "in", "ask"), edge("e2", "ask", "out")],
    )


async def test_a_json_worker_succeeds_on_a_server_that_refuses_json_schema(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    vendor_server.respond_with(
        refusing({"json_schema"}, LLAMA_CPP_PYTHON_SCHEMA_REFUSAL, JSONAnswer({"city": "Paris"}))
    )
    services = services_for(client, {"openai": vendor_server.url})

    result = await InProcessExecutor(services=services, sink=ListSink()).run(
        json_worker_flow(), {"place": "Paris"}
    )

    assert result.status == "succeeded", result.error
    assert result.output == {"city": "Paris"}
    assert formats(vendor_server) == ["json_schema", "json_object"]


async def test_the_catalogue_entry_reaches_the_request(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    vendor_server.push(Completion('{"city": "Paris"}'))
    services = services_for(
        client,
        {"openai": vendor_server.url},
        prices={"openai/small": CatalogueEntry(1.0, 2.0, 8192, structured_output="instructions")},
    )

    result = await InProcessExecutor(services=services, sink=ListSink()).run(
        json_worker_flow(), {"place": "Paris"}
    )

    assert result.status == "succeeded", result.error
    assert formats(vendor_server) == [None]
    assert result.steps["ask"].cost > 0  # the entry is still the model's price


def test_a_grammar_constrained_server_gets_small_integer_ranges_as_their_values() -> None:
    schema = {
        "type": "object",
        "properties": {
            "score": {"type": "integer", "minimum": 0, "maximum": 3, "title": "s"},
            "year": {"type": "integer", "minimum": 0, "maximum": 100_000},
            "share": {"type": "number", "minimum": 0, "maximum": 1},
            "tags": {"type": "array", "items": {"type": "integer", "minimum": 1, "maximum": 2}},
            "type": {"enum": [{"type": "integer", "minimum": 0, "maximum": 1}]},
        },
        "required": ["score"],
    }

    sent = grammar_schema(schema)

    assert sent["properties"]["score"] == {"title": "s", "enum": [0, 1, 2, 3]}
    assert sent["properties"]["year"] == schema["properties"]["year"]  # too wide: as it is
    assert sent["properties"]["share"] == schema["properties"]["share"]
    assert sent["properties"]["tags"]["items"] == {"enum": [1, 2]}
    assert sent["properties"]["type"] == schema["properties"]["type"]  # values are not schemas
    assert sent["required"] == ["score"]


def test_the_json_of_an_answer_may_carry_raw_newlines_in_its_strings() -> None:
    # llama.cpp's JSON grammar lets a model write them; they are not worth a repair.
    assert parse_json('{"text": "two\nlines"}') == {"text": "two\nlines"}
    # Inside a broken object, a list it holds is not taken for the answer.
    with pytest.raises(ValueError, match="not JSON"):
        parse_json('{"subtasks": [], "done": fals}')


async def test_a_refused_streamed_usage_setting_names_the_fix(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(STREAM_OPTIONS_REFUSAL)
    request = ChatRequest(
        model="small", messages=list(MESSAGES), stream=True, stream_usage="reported"
    )

    with pytest.raises(ProviderBadRequestError, match="streamed usage in the model catalogue to"):
        await provider.complete(request)

    # counted: never asked for
    vendor_server.push(Stream(["a"]))
    request.stream_usage = "counted"
    response = await provider.complete(request)
    assert "stream_options" not in vendor_server.last_request.body
    assert response.tokens_estimated


class _Call:
    """What a model call needs of its step (runtime.llm.ModelCallContext)."""

    def __init__(self, services: Any) -> None:
        self.services = services
        self.usage = Usage()
        self.budget = None
        self.emit_chunk = lambda _chunk: None


@pytest.mark.parametrize(
    ("answer", "mode", "hint"),
    [
        (Completion('{"city": "Par', finish_reason="length"), None, "cut off at its max_tokens"),
        (Completion("Paris, I think"), "instructions", "asked for JSON by instructions only"),
    ],
)
async def test_an_answer_that_stays_invalid_says_why_it_may_be(
    vendor_server: VendorServer,
    client: httpx.AsyncClient,
    answer: Completion,
    mode: str | None,
    hint: str,
) -> None:
    vendor_server.respond_with(lambda _request: answer)
    prices = {"openai/small": CatalogueEntry(structured_output=mode)} if mode else None  # type: ignore[arg-type]
    services = services_for(client, {"openai": vendor_server.url}, prices=prices)

    with pytest.raises(OutputSchemaError, match=hint):
        await chat_json(
            _Call(services), ["openai/small"], list(MESSAGES), SCHEMA, max_repairs=1, stream=False
        )


async def test_a_probe_finds_out_what_the_endpoint_can_do(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.respond_with(
        refusing({"json_schema", "stream_options"}, LLAMA_CPP_PYTHON_SCHEMA_REFUSAL)
    )
    vendor_server.push(LLAMA_CPP_PYTHON_SCHEMA_REFUSAL, JSONAnswer({"ok": True}))
    vendor_server.push(STREAM_OPTIONS_REFUSAL, Stream(["ok"]))
    vendor_server.push(ToolCalls([{"name": "ok", "arguments": {}}]))
    warnings: list[str] = []

    found = await provider.probe("small", warnings=warnings)

    assert found.to_dict() == {
        "structured_output": "json_object",
        "structured_output_source": "detected",
        "stream_usage": "counted",
        "stream_usage_source": "detected",
        # the third call offered a tool, asked for a call of it, and got one
        "tools": "native",
        "tools_source": "detected",
    }
    assert [r.body.get("tools") is not None for r in vendor_server.requests] == [
        False,
        False,
        False,
        False,
        True,
    ]
    assert warnings == []


@pytest.mark.parametrize("pinned", [None, "native"])
async def test_a_probe_tells_of_a_server_that_takes_tools_but_drops_them(
    vendor_server: VendorServer,
    provider: OpenAICompatibleProvider,
    memory: CapabilityMemory,
    pinned: str | None,
) -> None:
    # llama-cpp-python with a plain chat format, llama.cpp without --jinja: the tools are
    # accepted, never reach the model, and the answer is text (here the server's echo).
    settings = ChatRequest(model="small", messages=[], tools_mode=pinned)  # type: ignore[arg-type]
    warnings: list[str] = []

    found = await provider.probe("small", settings, warnings=warnings)

    assert "tools" in vendor_server.last_request.body
    [warning] = warnings
    assert "no tool call came back" in warning
    assert "set the model's tools in the model catalogue to prompted" in warning
    if pinned is None:
        assert (found.tools, found.tools_source) == ("prompted", "detected")
        learned = memory.get(vendor_server.url, "small")
        assert learned is not None and learned.tools == "prompted"
    else:  # a setting is not second-guessed, only warned of
        assert (found.tools, found.tools_source) == ("native", "catalogue")
        assert "as the model catalogue sets" in warning


async def test_a_probe_confirms_what_a_server_does_and_learns_a_tools_refusal(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    vendor_server.respond_with(refusing_each({"tools": OLLAMA_TOOLS_REFUSAL}))

    found = await provider.probe("small")

    assert found.to_dict() == {
        "structured_output": "json_schema",
        "structured_output_source": "detected",
        "stream_usage": "reported",
        "stream_usage_source": "detected",
        "tools": "prompted",
        "tools_source": "detected",
    }
    assert memory.get(vendor_server.url, "small") == found
    # Taken by the prompted protocol at once: the tools went into the system message.
    last = vendor_server.last_request.body
    assert "tools" not in last and "- ok: " in last["messages"][0]["content"]


async def test_a_probe_keeps_what_the_catalogue_pins(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    settings = ChatRequest(
        model="small",
        messages=[],
        structured_output="instructions",
        stream_usage="counted",
        tools_mode="prompted",
    )

    found = await provider.probe("small", settings)

    assert (found.structured_output, found.stream_usage, found.tools) == (
        "instructions",
        "counted",
        "prompted",
    )
    assert {
        found.structured_output_source,
        found.stream_usage_source,
        found.tools_source,
    } == {"catalogue"}
    assert formats(vendor_server) == [None, None, None]
    assert all("tools" not in r.body for r in vendor_server.requests)
    # Nothing the settings decided was learned as if the server had shown it.
    assert memory.get(vendor_server.url, "small") is None


# -- tools: native or by the prompted protocol -------------------------------------------------

SEARCH = ToolSpec(
    "search",
    "Search the web.",
    {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]},
)
CALL_JSON = '{"tool_calls": [{"name": "search", "arguments": {"q": "tea"}}]}'


async def test_a_server_refusing_tools_is_asked_by_the_prompted_protocol(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    vendor_server.push(
        HTTPError(400, "model 'small' does not support tools"), Completion(CALL_JSON)
    )
    request = ChatRequest(model="small", messages=list(MESSAGES), tools=[SEARCH])

    response = await provider.complete(request)

    assert response.tool_calls == [{"id": "call_0", "name": "search", "arguments": {"q": "tea"}}]
    assert (response.text, response.finish_reason) == ("", "tool_calls")
    first, second = vendor_server.requests
    assert "tools" in first.body and "tools" not in second.body
    system = second.body["messages"][0]["content"]
    assert system.startswith("You are terse.") and "- search: Search the web." in system
    learned = memory.get(vendor_server.url, "small")
    assert learned is not None and (learned.tools, learned.tools_source) == ("prompted", "detected")


async def test_the_prompted_protocol_carries_the_calls_and_results_and_streams_the_answer(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Completion("Tea is a drink."))
    messages: list[ChatMessage] = [
        *MESSAGES,
        {"role": "assistant", "content": "", "tool_calls": [
            {"id": "call_0", "name": "search", "arguments": {"q": "tea"}}
        ]},
        {"role": "tool", "tool_call_id": "call_0", "name": "search", "content": "tea: a drink"},
    ]  # fmt: skip
    seen: list[str] = []
    request = ChatRequest(
        model="small", messages=messages, tools=[SEARCH], stream=True, tools_mode="prompted"
    )

    response = await provider.complete(request, seen.append)

    assert (response.text, response.tool_calls, seen) == (
        "Tea is a drink.",
        [],
        ["Tea is a drink."],
    )
    sent = vendor_server.last_request.body
    assert sent["stream"] is False and "tools" not in sent
    assert [m["role"] for m in sent["messages"]] == ["system", "user", "assistant", "user"]
    assert json.loads(sent["messages"][2]["content"]) == {
        "tool_calls": [{"name": "search", "arguments": {"q": "tea"}}]
    }
    assert sent["messages"][3]["content"] == "Result of tool search:\ntea: a drink"


async def test_a_tool_call_or_the_json_asked_for_under_a_grammar(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(JSONAnswer({"city": "Paris"}))
    request = structured(structured_output="json_object", tools_mode="prompted")
    request.tools = [SEARCH]

    response = await provider.complete(request)

    assert json.loads(response.text) == {"city": "Paris"} and response.tool_calls == []
    sent = vendor_server.last_request.body["response_format"]["schema"]
    assert sent["anyOf"][1] == SCHEMA and "tool_calls" in sent["anyOf"][0]["properties"]


async def test_a_refused_native_tools_setting_names_the_fix(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(HTTPError(400, '"auto" tool choice requires --enable-auto-tool-choice'))
    request = ChatRequest(
        model="small", messages=list(MESSAGES), tools=[SEARCH], tools_mode="native"
    )
    with pytest.raises(ProviderBadRequestError, match="tools in the model catalogue to prompted"):
        await provider.complete(request)


async def test_a_worker_runs_its_tool_loop_by_the_prompted_protocol(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    call = '{"tool_calls": [{"name": "calculator", "arguments": {"expression": "6*7"}}]}'
    vendor_server.push(Completion(call), Completion("It is 42."))
    services = services_for(
        client,
        {"openai": vendor_server.url},
        prices={"openai/small": CatalogueEntry(tools="prompted")},
    )
    flow = graph(
        [
            input_node("in"),
            node(
                "math",
                "worker",
                model="openai/small",
                instructions="6 times 7?",
                tools=["calculator"],
            ),
            output_node("out"),
        ],
        [edge("e1", "in", "math"), edge("e2", "math", "out")],
    )

    result = await InProcessExecutor(services=services, sink=ListSink()).run(flow, {})

    assert result.status == "succeeded", result.error
    assert result.output == "It is 42."
    last = vendor_server.last_request.body["messages"][-1]
    assert last["role"] == "user" and "Result of tool calculator:" in last["content"]
    assert "42" in last["content"]


# -- every path: a server that cannot do what a setting pins names the capability and the fix ----


PINNED_REFUSALS = [
    (
        {"structured_output": "json_schema"},
        LLAMA_CPP_PYTHON_SCHEMA_REFUSAL,
        "structured_output",
        "cannot do JSON-schema output",
        "structured-output mode in the model catalogue to json_object or instructions",
    ),
    (
        {"structured_output": "json_object"},
        LM_STUDIO_OBJECT_REFUSAL,
        "structured_output",
        "cannot do JSON-object output",
        "structured-output mode in the model catalogue to instructions",
    ),
    (
        {"tools_mode": "native"},
        VLLM_TOOLS_REFUSAL,
        "tools",
        "cannot do native tool calls",
        "tools in the model catalogue to prompted",
    ),
]
STREAM_USAGE_REFUSAL = (
    {"stream_usage": "reported"},
    STREAM_OPTIONS_REFUSAL,
    "stream_usage",
    "cannot report the tokens of a streamed answer",
    "streamed usage in the model catalogue to counted",
)


@pytest.mark.parametrize(
    ("stream", "settings", "refusal", "capability", "cannot", "fix"),
    [
        *[(False, *case) for case in PINNED_REFUSALS],
        *[(True, *case) for case in [*PINNED_REFUSALS, STREAM_USAGE_REFUSAL]],
    ],
)
async def test_a_refused_pinned_capability_names_itself_and_the_fix_on_every_path(
    vendor_server: VendorServer,
    provider: OpenAICompatibleProvider,
    memory: CapabilityMemory,
    stream: bool,
    settings: dict[str, str],
    refusal: HTTPError,
    capability: str,
    cannot: str,
    fix: str,
) -> None:
    vendor_server.respond_with(lambda _request: refusal)
    request = structured(stream, **settings)
    request.tools = [SEARCH]

    with pytest.raises(CapabilityRefused) as caught:
        await provider.complete(request)

    message = str(caught.value)
    assert caught.value.capability == capability
    assert caught.value.code == "provider_bad_request" and not caught.value.retryable
    assert "the server at 127.0.0.1" in message and cannot in message
    assert "'small'" in message and fix in message and "or to auto" in message
    assert 'File "' not in message  # the server's own traceback is left out (llama-cpp-python)
    assert len(vendor_server.requests) == 1  # a setting is not second-guessed
    assert memory.get(vendor_server.url, "small") is None


async def test_a_server_refusing_every_feature_in_turn_is_still_answered(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, memory: CapabilityMemory
) -> None:
    vendor_server.respond_with(
        refusing_each(
            {
                "json_schema": LLAMA_CPP_PYTHON_SCHEMA_REFUSAL,
                "json_object": NO_RESPONSE_FORMAT,
                "tools": OLLAMA_TOOLS_REFUSAL,
                "stream_options": STREAM_OPTIONS_REFUSAL,
            },
            then=Completion('{"city": "Paris"}'),
        )
    )
    request = structured(stream=True)
    request.tools = [SEARCH]

    response = await provider.complete(request)

    assert json.loads(response.text) == {"city": "Paris"}
    # Four refusals, each dropping one feature, then the answer (by the prompted protocol, which
    # asks without streaming).
    assert len(vendor_server.requests) == 5
    learned = memory.get(vendor_server.url, "small")
    assert learned is not None
    assert (learned.structured_output, learned.tools, learned.stream_usage) == (
        "instructions",
        "prompted",
        "counted",
    )
