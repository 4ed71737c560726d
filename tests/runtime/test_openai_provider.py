"""OpenAICompatibleProvider against a real loopback HTTP server playing the vendor.

Nothing here patches httpx: every byte goes through sockets, so framing, headers, status codes and
timeouts behave as they would against OpenAI, Ollama or vLLM.
"""

from __future__ import annotations

import email.utils
import json
import math
import time
from typing import Any

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from runtime.errors import (
    ProviderAuthError,
    ProviderBadRequestError,
    ProviderResponseError,
    ProviderTimeoutError,
    ProviderUnavailableError,
    RateLimitError,
)
from runtime.providers.base import ChatMessage, ChatRequest, ToolSpec
from runtime.providers.common import normalise_finish_reason
from runtime.providers.openai_compat import OpenAICompatibleProvider, parse_retry_after
from tests.support.vendor_server import (
    Completion,
    Delay,
    Disconnect,
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

KEY = "sk-test-0123456789abcdef"
# Small on purpose: the timeout tests wait this long, and the whole file should take seconds.
CLIENT_TIMEOUT = 0.3
SERVER_DELAY = 1.0

MESSAGES: list[ChatMessage] = [
    {"role": "system", "content": "You are terse."},
    {"role": "user", "content": "Capital of France?"},
]


@pytest.fixture
def provider(vendor_server: VendorServer, client: httpx.AsyncClient) -> OpenAICompatibleProvider:
    return OpenAICompatibleProvider(
        name="openai", base_url=vendor_server.url, api_key=KEY, client=client, timeout=5.0
    )


def chat(
    stream: bool = False,
    *,
    temperature: float | None = None,
    max_tokens: int | None = None,
    timeout: float | None = None,
    extra: dict[str, Any] | None = None,
) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o-mini",
        messages=list(MESSAGES),
        temperature=temperature,
        max_tokens=max_tokens,
        stream=stream,
        timeout=timeout,
        extra=extra or {},
    )


# -- plain completions -----------------------------------------------------------------------------


async def test_it_returns_text_and_tokens_of_a_plain_completion(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Completion("Paris.", prompt_tokens=12, completion_tokens=3))

    response = await provider.complete(
        chat(temperature=0.2, max_tokens=50, extra={"seed": 7, "top_p": 0.9})
    )

    assert response.text == "Paris."
    assert (response.tokens_in, response.tokens_out) == (12, 3)
    assert response.finish_reason == "stop"
    assert response.model == "gpt-4o-mini"

    [sent] = vendor_server.requests
    assert (sent.method, sent.path) == ("POST", "/v1/chat/completions")
    assert sent.headers["authorization"] == f"Bearer {KEY}"
    assert sent.headers["content-type"] == "application/json"
    assert sent.body == {
        "model": "gpt-4o-mini",
        "messages": MESSAGES,
        "temperature": 0.2,
        "max_tokens": 50,
        "stream": False,
        "seed": 7,
        "top_p": 0.9,
    }


async def test_it_omits_unset_options_and_the_auth_header_without_a_key(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    # Ollama and LM Studio need no key; an empty one must not turn into "Bearer ".
    for key in (None, ""):
        keyless = OpenAICompatibleProvider(
            name="ollama", base_url=vendor_server.url + "/", api_key=key, client=client
        )
        await keyless.complete(chat())

    for sent in vendor_server.requests:
        assert sent.path == "/v1/chat/completions"  # the trailing slash did not double up
        assert "authorization" not in sent.headers
        assert set(sent.body) == {"model", "messages", "stream"}


async def test_it_answers_the_default_echo_when_nothing_is_scripted(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    response = await provider.complete(chat())

    assert response.text == "Capital of France?"
    assert response.tokens_out == math.ceil(len("Capital of France?") / 4)


async def test_the_vendor_server_lets_a_responder_answer_by_model_once_the_queue_is_empty(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    # Not the provider's behaviour but the test server's: concurrent callers get answers by what
    # they ask, not by arrival order. The queue still comes first; None falls back to the echo.
    vendor_server.respond_with(
        lambda request: Completion(f"from {request.model}") if request.model != "echo" else None
    )
    vendor_server.push(Completion("queued first"))

    first = await provider.complete(chat())
    second = await provider.complete(chat())
    echoed = await provider.complete(ChatRequest(model="echo", messages=list(MESSAGES)))

    assert [first.text, second.text, echoed.text] == [
        "queued first",
        "from gpt-4o-mini",
        "Capital of France?",
    ]
    assert [request.model for request in vendor_server.requests] == ["gpt-4o-mini"] * 2 + ["echo"]
    vendor_server.reset()
    assert (await provider.complete(chat())).text == "Capital of France?"


async def test_it_creates_and_closes_its_own_client_when_none_is_injected(
    vendor_server: VendorServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    # An owned client goes through the outbound guard, which refuses loopback unless admitted.
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")
    own = OpenAICompatibleProvider(base_url=vendor_server.url, api_key=KEY)
    try:
        vendor_server.push(Completion("one"), Completion("two"))
        first = await own.complete(chat())
        second = await own.complete(chat())
    finally:
        await own.aclose()

    assert [first.text, second.text] == ["one", "two"]
    assert own._client is None  # closed and dropped, so nothing leaks a socket


async def test_it_reads_base_url_and_key_from_the_environment(
    vendor_server: VendorServer, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENAI_BASE_URL", vendor_server.url)
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    from_env = OpenAICompatibleProvider.from_env(client=client)

    await from_env.complete(chat())

    assert from_env.name == "openai"
    assert vendor_server.last_request.headers["authorization"] == f"Bearer {KEY}"


def test_it_defaults_to_the_openai_api_when_no_base_url_is_set(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)

    from_env = OpenAICompatibleProvider.from_env(name="gpt")

    assert (from_env.name, from_env.base_url) == ("gpt", "https://api.openai.com/v1")
    assert from_env._headers(stream=False).get("Authorization") is None


# -- streaming -------------------------------------------------------------------------------------


async def test_it_streams_chunks_in_order_and_reads_usage_from_the_last_event(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
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
    # Without this OpenAI sends no usage in a stream; the server only sends it when asked.
    assert sent.body["stream_options"] == {"include_usage": True}
    assert sent.headers["accept"] == "text/event-stream"


async def test_it_estimates_tokens_when_the_stream_carries_no_usage(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Stream(["abcdefghij"], include_usage=False))

    response = await provider.complete(chat(stream=True))

    prompt_chars = sum(len(m["content"]) for m in MESSAGES)
    assert response.text == "abcdefghij"
    assert (response.tokens_in, response.tokens_out) == (math.ceil(prompt_chars / 4), 3)


async def test_it_streams_a_completion_that_the_server_renders_as_one_chunk(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Completion("whole answer", prompt_tokens=4, completion_tokens=2))
    seen: list[str] = []

    response = await provider.complete(chat(stream=True), on_chunk=seen.append)

    assert seen == ["whole answer"]
    assert (response.text, response.tokens_in, response.tokens_out) == ("whole answer", 4, 2)


async def test_it_raises_unavailable_when_a_stream_is_cut_off_before_the_answer_ends(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Stream(["half an"], finish_reason=None, send_done=False))
    seen: list[str] = []

    with pytest.raises(ProviderUnavailableError, match="ended before"):
        await provider.complete(chat(stream=True), on_chunk=seen.append)
    assert seen == ["half an"]


async def test_it_maps_an_error_event_inside_the_stream(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    # vLLM and OpenRouter report a failure after the 200 as an event in the stream.
    vendor_server.push(MalformedSSE(line='data: {"error": {"message": "engine crashed"}}'))

    with pytest.raises(ProviderUnavailableError, match="engine crashed") as caught:
        await provider.complete(chat(stream=True))
    assert caught.value.retryable


# -- error mapping ---------------------------------------------------------------------------------


async def test_it_raises_rate_limit_with_retry_after_seconds(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(
        HTTPError(429, "Rate limit reached for gpt-4o-mini", headers={"Retry-After": "7"})
    )

    with pytest.raises(RateLimitError, match="Rate limit reached") as caught:
        await provider.complete(chat())

    assert caught.value.retry_after == 7.0
    assert caught.value.retryable
    assert caught.value.to_dict()["retry_after"] == 7.0


async def test_it_prefers_retry_after_ms_and_reads_http_dates(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    in_30s = email.utils.formatdate(time.time() + 30, usegmt=True)
    vendor_server.push(
        HTTPError(429, headers={"retry-after-ms": "1500", "Retry-After": "2"}),
        HTTPError(429, headers={"Retry-After": in_30s}),
        HTTPError(429, headers={"Retry-After": "soon"}),
    )
    waits: list[float | None] = []
    for _ in range(3):
        with pytest.raises(RateLimitError) as caught:
            await provider.complete(chat())
        waits.append(caught.value.retry_after)

    assert waits[0] == 1.5
    assert waits[1] is not None and 27 <= waits[1] <= 30  # whole seconds, minus elapsed time
    assert waits[2] is None  # unparseable: let the retry policy use its own backoff


@pytest.mark.parametrize("status", [500, 502, 503, 504, 529])
async def test_it_raises_retryable_unavailable_on_server_errors(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, status: int
) -> None:
    vendor_server.push(HTTPError(status, "The server is overloaded", error_type="server_error"))

    with pytest.raises(ProviderUnavailableError, match=f"HTTP {status}.*overloaded") as caught:
        await provider.complete(chat())
    assert caught.value.retryable


async def test_it_maps_a_server_error_on_a_streaming_request(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    # The status arrives before any event, so the error body must be read from the stream.
    vendor_server.push(HTTPError(503, "down for maintenance"))

    with pytest.raises(ProviderUnavailableError, match="down for maintenance"):
        await provider.complete(chat(stream=True))


async def test_it_raises_timeout_when_the_server_answers_too_late(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Delay(SERVER_DELAY))
    started = time.monotonic()

    # request.timeout overrides the provider's 5 s default.
    with pytest.raises(ProviderTimeoutError) as caught:
        await provider.complete(chat(timeout=CLIENT_TIMEOUT))

    assert time.monotonic() - started < SERVER_DELAY
    assert caught.value.retryable


async def test_it_bounds_a_trickling_stream_by_the_whole_call_timeout(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    # Each chunk arrives well within the read timeout; only a deadline on the whole call stops it.
    slow = OpenAICompatibleProvider(
        base_url=vendor_server.url, api_key=KEY, client=client, timeout=CLIENT_TIMEOUT
    )
    vendor_server.push(Stream(["a"] * 20, chunk_delay=0.1))
    seen: list[str] = []
    started = time.monotonic()

    with pytest.raises(ProviderTimeoutError):
        await slow.complete(chat(stream=True), on_chunk=seen.append)

    assert time.monotonic() - started < 1.0
    assert 0 < len(seen) < 20


async def test_it_raises_response_error_on_a_body_that_is_not_json(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(MalformedJSON())

    with pytest.raises(ProviderResponseError, match="not valid JSON") as caught:
        await provider.complete(chat())
    assert not caught.value.retryable


async def test_it_raises_response_error_on_json_without_choices(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Raw(200, '{"id": "x", "object": "chat.completion", "choices": []}'))

    with pytest.raises(ProviderResponseError, match="no choices"):
        await provider.complete(chat())


async def test_it_raises_response_error_on_a_malformed_sse_line(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(MalformedSSE(before=["Hel", "lo"], line="data: {not json"))
    seen: list[str] = []

    with pytest.raises(ProviderResponseError, match="stream event is not valid JSON"):
        await provider.complete(chat(stream=True), on_chunk=seen.append)
    assert seen == ["Hel", "lo"]  # what came before the bad line was still delivered


@pytest.mark.parametrize("status", [401, 403])
async def test_it_raises_auth_error_without_leaking_the_key(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, status: int
) -> None:
    # Some gateways echo the rejected key back; it must not reach logs through our message.
    vendor_server.push(HTTPError(status, f"Incorrect API key provided: {KEY}"))

    with pytest.raises(ProviderAuthError, match="Incorrect API key") as caught:
        await provider.complete(chat())

    assert KEY not in str(caught.value)
    assert KEY not in str(caught.value.to_dict())
    assert KEY not in repr(provider)
    assert not caught.value.retryable


async def test_it_raises_bad_request_with_the_vendor_message(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    message = "This model's maximum context length is 128000 tokens."
    vendor_server.push(HTTPError(400, message))

    with pytest.raises(ProviderBadRequestError) as caught:
        await provider.complete(chat())

    assert message in str(caught.value)
    assert "HTTP 400" in str(caught.value)
    assert not caught.value.retryable


async def test_it_reads_ollama_style_string_errors(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(HTTPError(404, body='{"error": "model \\"llama9\\" not found"}'))

    with pytest.raises(ProviderBadRequestError, match='model "llama9" not found'):
        await provider.complete(chat())


async def test_it_raises_unavailable_when_the_connection_is_refused(
    client: httpx.AsyncClient,
) -> None:
    nowhere = OpenAICompatibleProvider(base_url=unused_port_url(), api_key=KEY, client=client)

    with pytest.raises(
        ProviderUnavailableError, match=r"connection to 127\.0\.0\.1 failed"
    ) as caught:
        await nowhere.complete(chat())

    assert caught.value.retryable
    assert KEY not in str(caught.value)


async def test_it_raises_unavailable_when_the_server_hangs_up(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(Disconnect())

    with pytest.raises(ProviderUnavailableError):
        await provider.complete(chat())
    # The next call works again: a dropped connection must not poison the pool.
    assert (await provider.complete(chat())).text == "Capital of France?"


async def test_it_rejects_a_base_url_without_a_scheme_as_a_permanent_error(
    client: httpx.AsyncClient,
) -> None:
    typo = OpenAICompatibleProvider(base_url="localhost:11434/v1", client=client)

    with pytest.raises(ProviderBadRequestError, match="invalid base URL"):
        await typo.complete(chat())


# -- tool calling ----------------------------------------------------------------------------------

SEARCH = ToolSpec(
    name="search",
    description="Search the web",
    parameters={
        "type": "object",
        "properties": {"q": {"type": "string"}, "limit": {"type": "integer"}},
        "required": ["q"],
    },
)
CLOCK = ToolSpec(name="clock", description="The time now", parameters={})


def tool_chat(stream: bool = False, messages: list[ChatMessage] | None = None) -> ChatRequest:
    return ChatRequest(
        model="gpt-4o-mini",
        messages=list(MESSAGES) if messages is None else messages,
        stream=stream,
        tools=[SEARCH, CLOCK],
    )


async def test_it_sends_tools_and_parses_the_tool_calls_of_a_plain_answer(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    vendor_server.push(
        ToolCalls(
            [
                {"name": "search", "arguments": {"q": "capital of France", "limit": 3}},
                {"name": "clock", "arguments": {}, "id": "call_clock"},
            ],
            prompt_tokens=30,
            completion_tokens=12,
        )
    )

    response = await provider.complete(tool_chat())

    assert response.text == ""  # content null beside the calls
    assert response.tool_calls == [
        {"id": "call_0", "name": "search", "arguments": {"q": "capital of France", "limit": 3}},
        {"id": "call_clock", "name": "clock", "arguments": {}},
    ]
    assert response.finish_reason == "tool_calls"
    assert (response.tokens_in, response.tokens_out) == (30, 12)
    assert vendor_server.last_request.body["tools"] == [
        {
            "type": "function",
            "function": {
                "name": "search",
                "description": "Search the web",
                "parameters": SEARCH.parameters,
            },
        },
        {
            "type": "function",
            "function": {
                "name": "clock",
                "description": "The time now",
                # An empty parameters schema is sent as the "no arguments" object schema.
                "parameters": {"type": "object", "properties": {}},
            },
        },
    ]


async def test_it_assembles_streamed_tool_call_deltas_by_index(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    arguments = {"q": "a longer query, split into many pieces", "limit": 10}
    vendor_server.push(
        ToolCalls(
            [{"name": "search", "arguments": arguments}, {"name": "clock", "arguments": {}}],
            text="Let me look that up.",
            prompt_tokens=40,
            completion_tokens=25,
            arg_chunk=3,
        )
    )
    seen: list[str] = []

    response = await provider.complete(tool_chat(stream=True), on_chunk=seen.append)

    assert seen == ["Let me look that up."]  # argument pieces are not text
    assert response.text == "Let me look that up."
    assert response.tool_calls == [
        {"id": "call_0", "name": "search", "arguments": arguments},
        {"id": "call_1", "name": "clock", "arguments": {}},
    ]
    assert response.finish_reason == "tool_calls"
    assert (response.tokens_in, response.tokens_out) == (40, 25)


async def test_it_assembles_streamed_calls_from_a_server_that_sends_no_index(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    # Some gateways send each call whole, without "index", and finish with "stop".
    def event(delta: dict[str, Any], finish: str | None = None) -> str:
        choice = {"index": 0, "delta": delta, "finish_reason": finish}
        return "data: " + json.dumps({"choices": [choice]}) + "\n\n"

    body = (
        event({"tool_calls": [{"id": "a", "function": {"name": "search", "arguments": '{"q":'}}]})
        + event({"tool_calls": [{"function": {"arguments": ' "x"}'}}]})
        + event({"tool_calls": [{"id": "b", "function": {"name": "clock", "arguments": {}}}]})
        + event({}, finish="stop")
        + "data: [DONE]\n\n"
    )
    vendor_server.push(Raw(200, body, content_type="text/event-stream"))

    response = await provider.complete(tool_chat(stream=True))

    assert response.tool_calls == [
        {"id": "a", "name": "search", "arguments": {"q": "x"}},
        {"id": "b", "name": "clock", "arguments": {}},
    ]
    assert response.finish_reason == "tool_calls"  # normalised: the answer is the calls


@pytest.mark.parametrize("arguments", ['{"q": "unterminated', '["not", "an object"]'])
async def test_it_raises_response_error_on_malformed_tool_arguments(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, arguments: str
) -> None:
    call = {"id": "c1", "type": "function", "function": {"name": "search", "arguments": arguments}}
    message = {"role": "assistant", "content": None, "tool_calls": [call]}
    body = {"choices": [{"index": 0, "message": message, "finish_reason": "tool_calls"}]}
    vendor_server.push(Raw(200, json.dumps(body)))

    with pytest.raises(ProviderResponseError, match="arguments of tool call 'search'") as caught:
        await provider.complete(tool_chat())
    assert not caught.value.retryable


async def test_it_raises_response_error_on_malformed_streamed_tool_arguments(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    call = {"index": 0, "id": "c", "function": {"name": "search", "arguments": "{"}}
    events = [
        {"choices": [{"index": 0, "delta": {"tool_calls": [call]}}]},
        {"choices": [{"index": 0, "delta": {}, "finish_reason": "tool_calls"}]},
    ]
    body = "".join(f"data: {json.dumps(e)}\n\n" for e in events) + "data: [DONE]\n\n"
    vendor_server.push(Raw(200, body, content_type="text/event-stream"))

    with pytest.raises(ProviderResponseError, match="not valid JSON"):
        await provider.complete(tool_chat(stream=True))


async def test_it_sends_tool_results_and_tool_calling_turns_in_the_openai_shape(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    # A whole tool loop over the wire: the calls the model made go back with their results.
    vendor_server.push(
        ToolCalls([{"name": "search", "arguments": {"q": "France"}, "id": "call_A"}]),
        Completion("Paris."),
    )
    messages: list[ChatMessage] = list(MESSAGES)
    first = await provider.complete(tool_chat(messages=messages))
    messages.append({"role": "assistant", "content": first.text, "tool_calls": first.tool_calls})
    messages.append(
        {"role": "tool", "tool_call_id": "call_A", "name": "search", "content": "Paris is..."}
    )

    second = await provider.complete(tool_chat(messages=messages))

    assert second.text == "Paris."
    assert second.finish_reason == "stop"
    assert vendor_server.last_request.body["messages"] == [
        *MESSAGES,
        {
            "role": "assistant",
            "content": None,
            "tool_calls": [
                {
                    "id": "call_A",
                    "type": "function",
                    "function": {"name": "search", "arguments": '{"q": "France"}'},
                }
            ],
        },
        {"role": "tool", "tool_call_id": "call_A", "content": "Paris is..."},
    ]


# -- structured output -----------------------------------------------------------------------------

CITY_SCHEMA = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "population": {"type": "integer"}},
    "required": ["city"],
}


@pytest.mark.parametrize("stream", [False, True])
async def test_it_asks_for_structured_output_with_a_json_schema_response_format(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, stream: bool
) -> None:
    vendor_server.push(JSONAnswer({"city": "Paris", "population": 2_100_000}))
    request = chat(stream=stream)
    request.response_schema = CITY_SCHEMA

    response = await provider.complete(request)

    assert json.loads(response.text) == {"city": "Paris", "population": 2_100_000}
    assert response.finish_reason == "stop"
    assert vendor_server.last_request.body["response_format"] == {
        "type": "json_schema",
        "json_schema": {"name": "output", "schema": CITY_SCHEMA, "strict": False},
    }


async def test_extra_still_overrides_the_response_format_and_tool_choice(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider
) -> None:
    # Older servers only know json_object; the caller can say so through extra.
    request = tool_chat()
    request.response_schema = CITY_SCHEMA
    request.extra = {"response_format": {"type": "json_object"}, "tool_choice": "required"}

    await provider.complete(request)

    sent = vendor_server.last_request.body
    assert sent["response_format"] == {"type": "json_object"}
    assert sent["tool_choice"] == "required"


@pytest.mark.parametrize(
    ("vendor", "normalised"),
    [
        ("stop", "stop"),
        ("length", "length"),
        ("tool_calls", "tool_calls"),
        ("function_call", "tool_calls"),
        ("content_filter", "content_filter"),
        ("end_turn", "stop"),
        ("max_tokens", "length"),
        ("eos", "stop"),
        ("Something_New", "something_new"),
    ],
)
async def test_it_normalises_the_finish_reason(
    vendor_server: VendorServer, provider: OpenAICompatibleProvider, vendor: str, normalised: str
) -> None:
    vendor_server.push(Completion("x", finish_reason=vendor))

    assert (await provider.complete(chat())).finish_reason == normalised


def test_a_stop_beside_tool_calls_counts_as_tool_calls() -> None:
    assert normalise_finish_reason("stop", has_tool_calls=True) == "tool_calls"
    assert normalise_finish_reason(None, has_tool_calls=True) == "tool_calls"
    assert normalise_finish_reason("length", has_tool_calls=True) == "length"
    assert normalise_finish_reason(None) is None


# -- Retry-After parsing ---------------------------------------------------------------------------


def test_it_parses_retry_after_dates_relative_to_now() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 42, usegmt=True)

    past = email.utils.formatdate(now - 5, usegmt=True)

    assert parse_retry_after({"retry-after": date}, now=now) == 42.0
    assert parse_retry_after({"retry-after": past}, now=now) == 0.0  # not negative
    assert parse_retry_after(httpx.Headers({"Retry-After": "0.25"})) == 0.25
    assert parse_retry_after({}) is None


@given(st.text(max_size=40), st.text(max_size=40))
def test_it_never_fails_on_arbitrary_retry_after_headers(seconds: str, millis: str) -> None:
    value = parse_retry_after({"retry-after": seconds, "retry-after-ms": millis})

    assert value is None or (value >= 0 and math.isfinite(value))
