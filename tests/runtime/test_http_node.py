"""The http_request node against a real HTTP server on loopback, through the in-process executor."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.registry import default_registry
from runtime.records import RunResult, StepRecord
from runtime.secrets import Secret, StaticSecrets
from runtime.services import Services
from runtime.validation import validate_graph
from tests.runtime.graphs import graph, input_node, node, output_node, transform, wire
from tests.support.echo_server import EchoServer

TOKEN = "tok-9f8e7d6c5b4a"
HEADER_KEY = "hdr-1a2b3c4d5e6f"
SECRETS = StaticSecrets(
    [
        Secret("api", "http_bearer", TOKEN),
        Secret("keyed", "http_header", HEADER_KEY, {"header": "X-Api-Key"}),
        Secret("llm", "openai", "sk-not-for-http"),
    ]
)
FAST_RETRY = {"max_attempts": 3, "initial_delay": 0, "backoff": 1}


@pytest.fixture
def server(monkeypatch: pytest.MonkeyPatch) -> Iterator[EchoServer]:
    # The tests state the allowlist: loopback is refused unless the operator admits it.
    monkeypatch.setenv("OUTBOUND_ALLOWLIST", "127.0.0.1")
    for name in ("OPENAI_BASE_URL", "ANTHROPIC_BASE_URL"):
        monkeypatch.delenv(name, raising=False)
    with EchoServer() as echo:
        yield echo


def http(node_id: str = "call", **config: Any) -> dict[str, Any]:
    return node(node_id, "http_request", **config)


async def run(
    nodes: list[dict[str, Any]],
    links: list[tuple[str, str] | tuple[str, str, str]],
    run_input: Any = None,
) -> tuple[RunResult, ListSink]:
    sink = ListSink()
    executor = InProcessExecutor(services=Services(secrets=SECRETS), sink=sink)
    result = await executor.run(graph(nodes, wire(*links)), run_input)
    return result, sink


def step_of(result: RunResult, node_id: str) -> StepRecord:
    return next(step for step in result.steps.values() if step.node == node_id)


def assert_no_secret(result: RunResult, sink: ListSink) -> None:
    everything = json.dumps(
        [result.to_dict(), [event.to_dict() for event in sink.events]], default=str
    )
    assert TOKEN not in everything
    assert HEADER_KEY not in everything


async def test_get_with_a_templated_url_and_query(server: EchoServer) -> None:
    result, _ = await run(
        [
            input_node(),
            http(
                url=server.url("/echo/{{ input.city }}"),
                query={"units": "{{ input.units }}", "fixed": "1"},
            ),
            output_node(),
        ],
        [("in", "call"), ("call", "out")],
        {"city": "Oslo", "units": "metric"},
    )

    assert result.status == "succeeded", result.error
    seen = server.requests[-1]
    assert (seen.method, seen.path) == ("GET", "/echo/Oslo")
    assert seen.query == {"units": ["metric"], "fixed": ["1"]}
    output = result.output
    assert output["status"] == 200
    assert output["headers"]["x-served-by"] == "echo"
    assert output["body"]["path"] == "/echo/Oslo"  # parsed: the server said application/json


async def test_post_a_json_body_built_from_upstream_results(server: EchoServer) -> None:
    result, _ = await run(
        [
            input_node(),
            transform("draft", "{{ input.title | upper }}"),
            http(
                method="POST",
                url=server.url("/echo"),
                body_type="json",
                body='{"title": {{ upstream | tojson }}, "n": {{ input.n }}}',
                headers={"X-Trace": "run-{{ input.n }}"},
            ),
            output_node(),
        ],
        [("in", "draft"), ("draft", "call"), ("call", "out")],
        {"title": "tidal power", "n": 3},
    )

    assert result.status == "succeeded", result.error
    seen = server.requests[-1]
    assert seen.method == "POST"
    assert json.loads(seen.body) == {"title": "TIDAL POWER", "n": 3}
    assert seen.headers["content-type"] == "application/json"
    assert seen.headers["x-trace"] == "run-3"
    assert result.output["body"]["json"] == {"title": "TIDAL POWER", "n": 3}


async def test_a_text_response_stays_text(server: EchoServer) -> None:
    result, _ = await run([http(url=server.url("/text")), output_node()], [("call", "out")])
    assert result.output["body"] == "hello"


async def test_a_bearer_credential_reaches_the_server_and_nowhere_else(
    server: EchoServer,
) -> None:
    result, sink = await run(
        [http(url=server.url("/echo"), credential="api"), output_node()], [("call", "out")]
    )

    assert result.status == "succeeded", result.error
    assert server.requests[-1].headers["authorization"] == f"Bearer {TOKEN}"
    # The echo server sends the header back in its body: the output must not carry it on.
    assert result.output["body"]["headers"]["authorization"] == "Bearer [redacted]"
    assert_no_secret(result, sink)


async def test_a_header_credential_reaches_the_server_and_nowhere_else(
    server: EchoServer,
) -> None:
    result, sink = await run(
        [
            http(
                url=server.url("/echo"),
                credential="keyed",
                headers={"X-Api-Key": "an attempt to override it"},
            ),
            output_node(),
        ],
        [("call", "out")],
    )

    assert result.status == "succeeded", result.error
    assert server.requests[-1].headers["x-api-key"] == HEADER_KEY
    assert result.output["body"]["headers"]["x-api-key"] == "[redacted]"
    assert_no_secret(result, sink)


async def test_a_secret_echoed_in_an_error_body_is_redacted(server: EchoServer) -> None:
    # /status quotes the Authorization header in its body, which the error message quotes.
    result, sink = await run(
        [http(url=server.url("/status/404"), credential="api"), output_node()],
        [("call", "out")],
    )
    assert result.status == "failed"
    assert "Bearer [redacted]" in step_of(result, "call").error["message"]
    assert_no_secret(result, sink)


async def test_a_credential_of_another_kind_is_refused(server: EchoServer) -> None:
    result, _ = await run([http(url=server.url("/echo"), credential="llm")], [])
    assert result.status == "failed"
    assert step_of(result, "call").error["code"] == "node_config_error"
    assert "openai credential" in step_of(result, "call").error["message"]
    assert server.requests == []


async def test_a_404_fails_the_step_and_takes_the_error_handle(server: EchoServer) -> None:
    result, _ = await run(
        [
            http(url=server.url("/status/404"), retry=FAST_RETRY),
            transform("handled", "handled: {{ upstream.message }}"),
            output_node(),
        ],
        [("call", "handled", "error"), ("handled", "out")],
    )

    call = step_of(result, "call")
    assert call.status == "failed"
    assert call.error["code"] == "http_status"
    assert call.error["status"] == 404
    assert call.error["retryable"] is False
    assert len(server.requests) == 1  # a 404 is not retried
    assert result.status == "succeeded", result.error
    assert result.output.startswith("handled: HTTP 404 from 127.0.0.1")


async def test_without_fail_on_status_a_404_is_an_output(server: EchoServer) -> None:
    result, _ = await run(
        [http(url=server.url("/status/404"), fail_on_status=False), output_node()],
        [("call", "out")],
    )
    assert result.status == "succeeded"
    assert result.output["status"] == 404
    assert result.output["body"] == {"status": 404, "authorization": None}


async def test_a_500_is_retried_until_it_succeeds(server: EchoServer) -> None:
    result, sink = await run(
        [http(url=server.url("/flaky/a/2"), retry=FAST_RETRY), output_node()],
        [("call", "out")],
    )

    assert result.status == "succeeded", result.error
    assert result.output["body"] == {"ok": True}
    assert len(server.requests) == 3
    retries = [e for e in sink.events if e.type == "step.retrying"]
    assert [e.data["error"]["status"] for e in retries] == [500, 500]


async def test_every_attempt_of_a_step_sends_the_same_idempotency_key(server: EchoServer) -> None:
    result, _ = await run(
        [http(url=server.url("/flaky/b/2"), method="POST", retry=FAST_RETRY), output_node()],
        [("call", "out")],
        {"topic": "owls"},
    )
    assert result.status == "succeeded", result.error
    keys = [request.headers["idempotency-key"] for request in server.requests]
    assert len(keys) == 3
    assert keys == [f"{result.run_id}:call:0"] * 3


async def test_an_idempotency_key_set_in_the_settings_is_kept(server: EchoServer) -> None:
    result, _ = await run(
        [http(url=server.url("/flaky/c/0"), headers={"idempotency-key": "order-{{ input.id }}"})],
        [],
        {"id": 7},
    )
    assert result.status == "succeeded", result.error
    assert [r.headers["idempotency-key"] for r in server.requests] == ["order-7"]


async def test_a_500_that_persists_fails_after_the_retries(server: EchoServer) -> None:
    result, _ = await run(
        [http(url=server.url("/status/503"), retry=FAST_RETRY)],
        [],
    )
    assert result.status == "failed"
    assert step_of(result, "call").error["retryable"] is True
    assert len(server.requests) == 3


async def test_a_private_address_is_refused_without_the_allowlist(
    server: EchoServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("OUTBOUND_ALLOWLIST")
    result, _ = await run([http(url=server.url("/echo"), retry=FAST_RETRY)], [])

    call = step_of(result, "call")
    assert call.status == "failed"
    assert call.error["code"] == "outbound_refused"
    assert call.error["message"] == (
        "refused: 127.0.0.1 is a loopback address; add it to OUTBOUND_ALLOWLIST to allow"
    )
    assert server.requests == []  # refused, not tried, and not retried


@pytest.mark.parametrize(
    "url", ["http://10.0.0.5/", "http://169.254.169.254/latest/meta-data/", "http://[::1]:9/"]
)
async def test_templated_urls_to_internal_addresses_are_refused(url: str) -> None:
    result, _ = await run(
        [input_node(), http(url="{{ input.target }}", retry=FAST_RETRY)],
        [("in", "call")],
        {"target": url},
    )
    assert step_of(result, "call").error["code"] == "outbound_refused"


async def test_a_url_that_is_not_http_is_a_config_error() -> None:
    result, _ = await run([http(url="file:///etc/passwd")], [])
    assert step_of(result, "call").error["code"] == "node_config_error"


def test_it_is_in_the_catalogue_with_a_credential_field() -> None:
    entry = next(e for e in default_registry.catalogue() if e["type"] == "http_request")
    assert entry["category"] == "integrations"
    assert entry["outputs"] == ["out", "error"]
    credential = entry["config_schema"]["properties"]["credential"]
    assert credential["format"] == "credential"


def test_validation_checks_every_template_field() -> None:
    issues = validate_graph(
        graph(
            [http(url="http://x/{{ nodes.ghost.output }}", query={"q": "{{ nope }}"})],
        ),
        default_registry,
    )
    fields = sorted(issue.field for issue in issues)
    assert fields == ["config.query.q", "config.url"]
