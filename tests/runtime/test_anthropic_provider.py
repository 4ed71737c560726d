"""AnthropicProvider against a real loopback HTTP server playing the Messages API.

The same scripted server as the OpenAI tests, on its ``POST /v1/messages`` route: every byte goes
through sockets, so SSE event framing, headers, status codes and timeouts behave as against
api.anthropic.com.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import httpx
import pytest

from runtime.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from runtime.providers.anthropic import AnthropicProvider
from runtime.providers.base import ChatMessage, ChatRequest, ToolSpec
from runtime.providers.openai_compat import OpenAICompatibleProvider
from runtime.services import Services
from tests.support.vendor_server import (
    Completion,
    Delay,
    HTTPError,
    JSONAnswer,
    MalformedJSON,
    MalformedSSE,
    Raw,
    Stream,
    ToolCalls,
    VendorServer,
    unused_port_url,
)

KEY = "sk-ant-test-0123456789abcdef"
CLIENT_TIMEOUT = 0.3
SERVER_DELAY = 1.0

MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Capital of France?"},
]
SEARCH = ToolSpec(
    name="search",
    description="Search the web",
    parameters={
        "type": "object",
        "properties": {"q": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["q"],
    },
)
CITY_SCHEMA: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city"],
}


@pytest.fixture
def provider(vendor_server: VendorServer, client: httpx.AsyncClient) -> AnthropicProvider:
    return AnthropicProvider(base_url=vendor_server.base, api_key=KEY, client=client, timeout=5.0)


def chat(
    stream: bool = False,
    *,
    messages: list[ChatMessage] | None = None,
    tools: list[ToolSpec] | None = None,
    schema: dict[str, Any] | None = None,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
    extra: dict[str, Any] | None = None,
) -> ChatRequest:
    return ChatRequest(
        model="claude-haiku-4-5",
        messages=list(MESSAGES) if messages is None else messages,
        temperature=temperature,
        max_tokens=max_tokens,
        stream=stream,
        timeout=timeout,
        tools=tools or [],
        response_schema=schema,
        extra=extra or {},
    )


# -- plain messages --------------------------------------------------------------------------------


async def test_it_returns_text_and_tokens_of_a_plain_message(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(Completion("Paris.", prompt_tokens=12, completion_tokens=3))

    response = await provider.complete(chat())

    assert response.text == "Paris."
    assert (response.tokens_in, response.tokens_out) == (12, 3)
    assert response.finish_reason == "stop"  # end_turn
    assert response.model == "claude-haiku-4-5"
    assert response.tool_calls == []

    [sent] = vendor_server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/messages")
    assert sent.headers["x-api-key"] == KEY
    assert sent.headers["anthropic-version"] == "2023-06-01"
    assert "authorization" not in sent.headers
    # The system prompt is a top-level field; max_tokens is required, so it has a default.
    assert sent.body == {
        "model": "claude-haiku-4-5",
        "max_tokens": 4096,
        "system": "You are terse.",
        "messages": [{"role": "user", "content": "Capital of France?"}],
        "stream": False,
    }


async def test_it_sends_options_clamps_temperature_and_passes_extra_through(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    await provider.complete(chat(temperature=1.7, max_tokens=50, extra={"top_k": 5}))

    sent = vendor_server.last_request.body
    assert sent["max_tokens"] == 50
    assert sent["temperature"] == 1.0  # Anthropic accepts 0..1; OpenAI-style 1.7 must still run
    assert sent["top_k"] == 5


async def test_it_answers_the_default_echo_and_accepts_a_base_url_ending_in_v1(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    with_v1 = AnthropicProvider(base_url=vendor_server.base + "/v1/", api_key=KEY, client=client)

    response = await with_v1.complete(chat())

    assert response.text == "Capital of France?"
    assert vendor_server.last_request.path == "/v1/messages"  # not /v1/v1/messages


async def test_it_reads_base_url_and_key_from_the_environment(
    vendor_server: VendorServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ANTHROPIC_BASE_URL", vendor_server.base)
    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    from_env = AnthropicProvider.from_env(client=client)

    await from_env.complete(chat())

    assert from_env.name == "anthropic"
    assert vendor_server.last_request.headers["x-api-key"] == KEY
    assert KEY not in repr(from_env)


def test_it_defaults_to_the_anthropic_api(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ANTHROPIC_BASE_URL", raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)

    from_env = AnthropicProvider.from_env()

    assert from_env.base_url == "https://api.anthropic.com"
    assert "x-api-key" not in from_env._headers(stream=False)
    assert repr(from_env) == (
        "AnthropicProvider(name='anthropic', base_url='https://api.anthropic.com', key=none)"
    )


async def test_it_creates_and_closes_its_own_client_when_none_is_injected(
    vendor_server: VendorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An owned client goes through the outbound guard, which refuses loopback unless admitted.
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")
    own = AnthropicProvider(base_url=vendor_server.base, api_key=KEY)
    try:
        vendor_server.push(Completion("one"), Completion("two"))
        texts = [(await own.complete(chat())).text for _ in range(2)]
    finally:
        await own.aclose()

    assert texts == ["one", "two"]
    assert own._client is None


# -- streaming -------------------------------------------------------------------------------------


async def test_it_streams_chunks_in_order_with_usage_from_start_and_delta_events(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(
        Stream(["Par", "is", ", of", " course."], prompt_tokens=21, completion_tokens=4)
    )
    seen: list[str] = []

    response = await provider.complete(chat(stream=True), on_chunk=seen.append)

    assert seen == ["Par", "is", ", of", " course."]
    assert response.text == "Paris, of course."
    assert (response.tokens_in, response.tokens_out) == (21, 4)
    assert response.finish_reason == "stop"
    sent = vendor_server.last_request
    assert sent.body["stream"] is True
    assert sent.headers["accept"] == "text/event-stream"


async def test_it_normalises_max_tokens_to_length(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(
        Stream(["cut"], finish_reason="length"), Completion("x", finish_reason="length")
    )

    assert (await provider.complete(chat(stream=True))).finish_reason == "length"
    assert (await provider.complete(chat())).finish_reason == "length"


async def test_it_estimates_tokens_when_the_stream_carries_no_usage(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(Stream(["abcdefghij"], include_usage=False))

    response = await provider.complete(chat(stream=True))

    prompt_chars = sum(len(m["content"]) for m in MESSAGES)
    assert (response.tokens_in, response.tokens_out) == (math.ceil(prompt_chars / 4), 3)


async def test_it_raises_unavailable_when_a_stream_is_cut_off(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(Stream(["half an"], finish_reason=None, send_done=False))
    seen: list[str] = []

    with pytest.raises(ProviderUnavailableError, match="ended before"):
        await provider.complete(chat(stream=True), on_chunk=seen.append)
    assert seen == ["half an"]


@pytest.mark.parametrize(
    ("error_type", "expected"),
    [
        ("overloaded_error", ProviderUnavailableError),
        ("api_error", ProviderUnavailableError),
        ("rate_limit_error", RateLimitError),
        ("invalid_request_error", ProviderBadRequestError),
        ("something_new", ProviderUnavailableError),
    ],
)
async def test_it_maps_an_error_event_inside_the_stream(
    vendor_server: VendorServer,
    provider: AnthropicProvider,
    error_type: str,
    expected: type[Exception],
) -> None:
    error = {"type": "error", "error": {"type": error_type, "message": "Overloaded right now"}}
    vendor_server.push(MalformedSSE(line=f"event: error\ndata: {json.dumps(error)}"))
    seen: list[str] = []

    with pytest.raises(expected, match="Overloaded right now"):
        await provider.complete(chat(stream=True), on_chunk=seen.append)
    assert seen == ["Hel"]


# -- tool calling ----------------------------------------------------------------------------------


async def test_it_sends_tools_and_returns_tool_use_blocks_as_tool_calls(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(
        ToolCalls(
            [
                {"name": "search", "arguments": {"q": "France", "limit": 2}},
                {"name": "search", "arguments": {"q": "Paris"}, "id": "toolu_B"},
            ],
            text="Looking it up.",
            prompt_tokens=30,
            completion_tokens=20,
        )
    )

    response = await provider.complete(chat(tools=[SEARCH]))

    assert response.text == "Looking it up."
    assert response.tool_calls == [
        {"id": "toolu_0", "name": "search", "arguments": {"q": "France", "limit": 2}},
        {"id": "toolu_B", "name": "search", "arguments": {"q": "Paris"}},
    ]
    assert response.finish_reason == "tool_calls"  # tool_use
    assert (response.tokens_in, response.tokens_out) == (30, 20)
    sent = vendor_server.last_request.body
    assert sent["tools"] == [
        {"name": "search", "description": "Search the web", "input_schema": SEARCH.parameters}
    ]
    assert "tool_choice" not in sent  # the model decides


async def test_it_assembles_streamed_tool_input_from_json_deltas(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    arguments = {"q": "a longer query, split into many pieces", "limit": 10}
    vendor_server.push(
        ToolCalls(
            [{"name": "search", "arguments": arguments}, {"name": "clock", "arguments": {}}],
            text="Looking.",
            prompt_tokens=40,
            completion_tokens=25,
            arg_chunk=4,
        )
    )
    seen: list[str] = []
    clock = ToolSpec("clock", "The time", {})

    response = await provider.complete(chat(stream=True, tools=[SEARCH, clock]), seen.append)

    assert seen == ["Looking."]  # tool input is not text
    assert response.tool_calls == [
        {"id": "toolu_0", "name": "search", "arguments": arguments},
        {"id": "toolu_1", "name": "clock", "arguments": {}},
    ]
    assert response.finish_reason == "tool_calls"
    assert (response.tokens_in, response.tokens_out) == (40, 25)
    # A tool without parameters still gets the object schema the API requires.
    assert vendor_server.last_request.body["tools"][1]["input_schema"] == {"type": "object"}


async def test_it_raises_response_error_on_malformed_streamed_tool_input(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    def event(payload: dict[str, Any]) -> str:
        return f"event: {payload['type']}\ndata: {json.dumps(payload)}\n\n"

    block = {"type": "tool_use", "id": "t", "name": "search", "input": {}}
    body = "".join(
        event(e)
        for e in [
            {"type": "message_start", "message": {"usage": {"input_tokens": 1}}},
            {"type": "content_block_start", "index": 0, "content_block": block},
            {
                "type": "content_block_delta",
                "index": 0,
                "delta": {"type": "input_json_delta", "partial_json": '{"q": '},
            },
            {"type": "message_delta", "delta": {"stop_reason": "tool_use"}},
            {"type": "message_stop"},
        ]
    )
    vendor_server.push(Raw(200, body, content_type="text/event-stream"))

    with pytest.raises(ProviderResponseError, match="arguments of tool call 'search'"):
        await provider.complete(chat(stream=True, tools=[SEARCH]))


async def test_it_sends_tool_results_as_tool_result_blocks_in_one_user_turn(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    # A whole tool loop over the wire, with two calls answered in one user turn.
    vendor_server.push(
        ToolCalls(
            [
                {"name": "search", "arguments": {"q": "France"}, "id": "toolu_A"},
                {"name": "search", "arguments": {"q": "Paris"}, "id": "toolu_B"},
            ],
            text="Two searches.",
        ),
        Completion("Paris."),
    )
    messages: list[ChatMessage] = list(MESSAGES)
    first = await provider.complete(chat(messages=messages, tools=[SEARCH]))
    messages.append({"role": "assistant", "content": first.text, "tool_calls": first.tool_calls})
    for call, result in zip(first.tool_calls, ["France is...", "Paris is..."], strict=True):
        messages.append(
            {"role": "tool", "tool_call_id": call["id"], "name": call["name"], "content": result}
        )

    second = await provider.complete(chat(messages=messages, tools=[SEARCH]))

    assert second.text == "Paris."
    sent = vendor_server.last_request.body
    assert sent["system"] == "You are terse."
    assert sent["messages"] == [
        {"role": "user", "content": "Capital of France?"},
        {
            "role": "assistant",
            "content": [
                {"type": "text", "text": "Two searches."},
                {"type": "tool_use", "id": "toolu_A", "name": "search", "input": {"q": "France"}},
                {"type": "tool_use", "id": "toolu_B", "name": "search", "input": {"q": "Paris"}},
            ],
        },
        {
            "role": "user",
            "content": [
                {"type": "tool_result", "tool_use_id": "toolu_A", "content": "France is..."},
                {"type": "tool_result", "tool_use_id": "toolu_B", "content": "Paris is..."},
            ],
        },
    ]


# -- structured output -----------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True])
async def test_it_forces_the_output_tool_for_structured_output(
    vendor_server: VendorServer, provider: AnthropicProvider, stream: bool
) -> None:
    value = {"city": "Paris", "population": 2_100_000}
    vendor_server.push(JSONAnswer(value, prompt_tokens=9, completion_tokens=7))
    seen: list[str] = []

    response = await provider.complete(chat(stream=stream, schema=CITY_SCHEMA), seen.append)

    assert json.loads(response.text) == value
    assert response.tool_calls == []  # the forced call is the answer, not a tool to run
    assert response.finish_reason == "stop"
    assert (response.tokens_in, response.tokens_out) == (9, 7)
    if stream:
        assert "".join(seen) == response.text  # the JSON streams as it is written
    sent = vendor_server.last_request.body
    assert sent["tool_choice"] == {"type": "tool", "name": "output"}
    assert sent["tools"] == [
        {
            "name": "output",
            "description": sent["tools"][0]["description"],
            "input_schema": CITY_SCHEMA,
        }
    ]


async def test_it_wraps_a_schema_whose_top_level_is_not_an_object(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    schema = {"type": "array", "items": {"$ref": "#/$defs/City"}, "$defs": {"City": CITY_SCHEMA}}
    vendor_server.push(JSONAnswer({"value": [{"city": "Paris"}, {"city": "Lyon"}]}))

    response = await provider.complete(chat(schema=schema))

    assert json.loads(response.text) == [{"city": "Paris"}, {"city": "Lyon"}]
    input_schema = vendor_server.last_request.body["tools"][0]["input_schema"]
    assert input_schema == {
        "type": "object",
        "properties": {"value": {"type": "array", "items": {"$ref": "#/$defs/City"}}},
        "required": ["value"],
        "$defs": {"City": CITY_SCHEMA},  # hoisted, so the reference still resolves
    }


async def test_with_tools_and_a_schema_the_model_must_call_one_of_them(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(
        ToolCalls([{"name": "search", "arguments": {"q": "France"}}]),
        JSONAnswer({"city": "Paris"}),
    )

    first = await provider.complete(chat(tools=[SEARCH], schema=CITY_SCHEMA))
    second = await provider.complete(chat(tools=[SEARCH], schema=CITY_SCHEMA))

    assert [call["name"] for call in first.tool_calls] == ["search"]
    assert first.finish_reason == "tool_calls"
    assert (json.loads(second.text), second.tool_calls) == ({"city": "Paris"}, [])
    sent = vendor_server.last_request.body
    assert sent["tool_choice"] == {"type": "any"}
    assert [tool["name"] for tool in sent["tools"]] == ["search", "output"]


async def test_json_answer_without_a_forced_tool_is_plain_json_text(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(JSONAnswer({"ok": True}))

    response = await provider.complete(chat())

    assert json.loads(response.text) == {"ok": True}


# -- error mapping ---------------------------------------------------------------------------------


async def test_it_raises_rate_limit_with_retry_after(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(
        HTTPError(
            429,
            "Number of request tokens has exceeded your rate limit",
            headers={"retry-after": "7"},
        )
    )

    with pytest.raises(RateLimitError, match="exceeded your rate limit") as caught:
        await provider.complete(chat())

    assert caught.value.retry_after == 7.0
    assert caught.value.retryable


@pytest.mark.parametrize("status", [529, 500, 503])
async def test_it_raises_retryable_unavailable_when_overloaded_or_down(
    vendor_server: VendorServer, provider: AnthropicProvider, status: int
) -> None:
    vendor_server.push(HTTPError(status, "Overloaded"))

    with pytest.raises(ProviderUnavailableError, match=f"HTTP {status}: Overloaded") as caught:
        await provider.complete(chat())
    assert caught.value.retryable


async def test_it_maps_an_error_status_on_a_streaming_request(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(HTTPError(529, "Overloaded"))

    with pytest.raises(ProviderUnavailableError, match="Overloaded"):
        await provider.complete(chat(stream=True))


@pytest.mark.parametrize("status", [401, 403])
async def test_it_raises_auth_error_without_leaking_the_key(
    vendor_server: VendorServer, provider: AnthropicProvider, status: int
) -> None:
    vendor_server.push(HTTPError(status, f"invalid x-api-key: {KEY}"))

    with pytest.raises(ProviderAuthError, match="invalid x-api-key") as caught:
        await provider.complete(chat())

    assert KEY not in str(caught.value)
    assert KEY not in str(caught.value.to_dict())
    assert KEY not in repr(provider)
    assert caught.value.__cause__ is None
    assert not caught.value.retryable


@pytest.mark.parametrize("status", [400, 404, 413])
async def test_it_raises_bad_request_with_the_vendor_message(
    vendor_server: VendorServer, provider: AnthropicProvider, status: int
) -> None:
    message = "messages.1.content: tool_result block(s) provided when previous message has none"
    vendor_server.push(HTTPError(status, message))

    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.complete(chat())

    assert str(caught.value) == f"anthropic: HTTP {status}: {message}"
    assert not caught.value.retryable


async def test_it_raises_timeout_when_the_server_answers_too_late(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(Delay(SERVER_DELAY))
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError) as caught:
        await provider.complete(chat(timeout=CLIENT_TIMEOUT))

    assert time.monotonic() - started < SERVER_DELAY
    assert caught.value.retryable


async def test_it_bounds_a_trickling_stream_by_the_whole_call_timeout(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    slow = AnthropicProvider(
        base_url=vendor_server.base, api_key=KEY, client=client, timeout=CLIENT_TIMEOUT
    )
    vendor_server.push(Stream(["a"] * 20, chunk_delay=0.1))
    seen: list[str] = []

    with pytest.raises(ProviderTimeoutError):
        await slow.complete(chat(stream=True), on_chunk=seen.append)
    assert 0 < len(seen) < 20


async def test_it_raises_response_error_on_a_body_that_is_not_json(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(MalformedJSON())

    with pytest.raises(ProviderResponseError, match="not valid JSON") as caught:
        await provider.complete(chat())
    assert not caught.value.retryable


async def test_it_raises_response_error_on_json_without_content(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(Raw(200, '{"type": "message", "role": "assistant"}'))

    with pytest.raises(ProviderResponseError, match="no content"):
        await provider.complete(chat())


async def test_it_raises_response_error_on_a_malformed_sse_line(
    vendor_server: VendorServer, provider: AnthropicProvider
) -> None:
    vendor_server.push(MalformedSSE(before=["Hel", "lo"], line="data: {not json"))
    seen: list[str] = []

    with pytest.raises(ProviderResponseError, match="stream event is not valid JSON"):
        await provider.complete(chat(stream=True), on_chunk=seen.append)
    assert seen == ["Hel", "lo"]


async def test_it_raises_unavailable_when_the_connection_is_refused(
    client: httpx.AsyncClient,
) -> None:
    nowhere = AnthropicProvider(
        base_url=unused_port_url().removesuffix("/v1"), api_key=KEY, client=client
    )

    with pytest.raises(ProviderUnavailableError, match=r"connection to 127\.0\.0\.1") as caught:
        await nowhere.complete(chat())
    assert KEY not in str(caught.value)


# -- one server, both vendors; registration --------------------------------------------------------


async def test_one_server_answers_both_vendors_in_their_own_shapes(
    vendor_server: VendorServer, provider: AnthropicProvider, client: httpx.AsyncClient
) -> None:
    openai = OpenAICompatibleProvider(base_url=vendor_server.url, api_key="sk-o", client=client)
    vendor_server.push(Completion("from openai"), Completion("from anthropic"))
    vendor_server.push(HTTPError(429, "slow down"), HTTPError(429, "slow down"))

    assert (await openai.complete(chat())).text == "from openai"
    assert (await provider.complete(chat())).text == "from anthropic"
    raw = await client.post(f"{vendor_server.url}/chat/completions", json={"model": "m"})
    assert raw.json()["error"]["type"] == "invalid_request_error"
    raw = await client.post(f"{vendor_server.base}/v1/messages", json={"model": "m"})
    assert raw.json() == {
        "type": "error",
        "error": {"type": "rate_limit_error", "message": "slow down"},
    }


def test_services_register_anthropic_from_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    for name in ("OPENAI_API_KEY", "OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("ANTHROPIC_API_KEY", raising=False)
    assert "anthropic" not in Services.from_env().providers

    monkeypatch.setenv("ANTHROPIC_API_KEY", KEY)
    services = Services.from_env()

    provider, vendor_model, full = services.resolve("anthropic/claude-sonnet-4-5")
    assert isinstance(provider, AnthropicProvider)
    assert (vendor_model, full) == ("claude-sonnet-4-5", "anthropic/claude-sonnet-4-5")
    price = services.price("anthropic/claude-haiku-4-5")
    assert price is not None and (price.input, price.output) == (1.00, 5.00)
