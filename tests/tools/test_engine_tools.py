"""A worker's tools from MCP servers, HTTP APIs and workflows, run by the engine alone.

The model is the loopback vendor (scripted tool calls, real OpenAI wire format) or the offline
``local`` model; the servers are real: ``mcp-server-time`` over stdio, the protocol's reference
server over streamable HTTP and stdio, and the official SDK's server for the failure cases.
"""

from __future__ import annotations

import asyncio
import json
import threading
from typing import Any

import httpx
import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.flows import StaticFlows
from runtime.secrets import Secret, StaticSecrets
from runtime.services import Services
from runtime.tools.specs import HttpToolSpec, McpServerSpec, StaticToolDefinitions
from runtime.validation import validate_graph
from tests.runtime.agent_support import agent, messages_of, services_for
from tests.runtime.graphs import chain, input_node, output_node
from tests.support.echo_server import EchoServer
from tests.support.mcp_servers import TIME_SERVER, HttpServer, everything_stdio_command
from tests.support.vendor_server import Completion, ToolCalls, VendorServer


def one_worker(**config: Any) -> dict[str, Any]:
    settings = {"model": "openai/agent", "stream": False, "retry": {"max_attempts": 1}, **config}
    return chain(input_node("in"), agent("w", **settings), output_node("out"))


def with_tools(
    services: Services, *servers: McpServerSpec, http: tuple[HttpToolSpec, ...] = ()
) -> Services:
    services.tool_definitions = StaticToolDefinitions(servers, http)
    return services


@pytest.fixture
def services(vendor_server: VendorServer, client: httpx.AsyncClient) -> Services:
    return services_for(client, {"openai": vendor_server.url})


def tool_messages(vendor_server: VendorServer, index: int) -> dict[str, str]:
    return {
        m["tool_call_id"]: m["content"]
        for m in messages_of(vendor_server.requests[index])
        if m["role"] == "tool"
    }


def offered(vendor_server: VendorServer, index: int = 0) -> dict[str, dict[str, Any]]:
    return {
        t["function"]["name"]: t["function"] for t in vendor_server.requests[index].body["tools"]
    }


def tool_events(sink: ListSink) -> list[dict[str, Any]]:
    return [e.data for e in sink.events if e.type == "step.tool_call"]


# -- MCP over stdio (the operator's servers) ------------------------------------------------------


async def test_a_worker_calls_a_tool_of_mcp_server_time_over_stdio(
    vendor_server: VendorServer, services: Services
) -> None:
    time_server = McpServerSpec("time", command=str(TIME_SERVER), args=("--local-timezone", "UTC"))
    vendor_server.push(
        ToolCalls(
            [{"id": "t1", "name": "get_current_time", "arguments": {"timezone": "Asia/Tokyo"}}]
        ),
        Completion("It is late in Tokyo."),
    )
    sink = ListSink()
    graph = one_worker(tools=["mcp:time/get_current_time"])
    result = await InProcessExecutor(services=with_tools(services, time_server), sink=sink).run(
        graph, "What time is it in Tokyo?"
    )
    assert result.status == "succeeded", result.error
    # The model was shown the server's own schema.
    schema = offered(vendor_server)["get_current_time"]["parameters"]
    assert schema["required"] == ["timezone"]
    answer = json.loads(tool_messages(vendor_server, 1)["t1"])
    assert answer["timezone"] == "Asia/Tokyo" and answer["datetime"].endswith("+09:00")
    running, done = tool_events(sink)
    assert (running["status"], done["status"]) == ("running", "succeeded")
    assert done["tool"] == "get_current_time" and done["ref"] == "mcp:time/get_current_time"
    assert done["arguments"] == {"timezone": "Asia/Tokyo"}
    assert "Asia/Tokyo" in done["result"] and done["duration_ms"] >= 0


async def test_the_reference_server_over_stdio_with_all_its_tools(
    vendor_server: VendorServer, services: Services
) -> None:
    command, args = everything_stdio_command()
    server = McpServerSpec("everything", command=command, args=args)
    vendor_server.push(
        ToolCalls([{"id": "s", "name": "get-sum", "arguments": {"a": 19, "b": 23}}]),
        Completion("42."),
    )
    result = await InProcessExecutor(services=with_tools(services, server)).run(
        one_worker(tools=["mcp:everything/*"]), "add"
    )
    assert result.status == "succeeded", result.error
    names = set(offered(vendor_server))
    assert {"echo", "get-sum", "get-tiny-image"} <= names
    assert "42" in tool_messages(vendor_server, 1)["s"]


# -- MCP over streamable HTTP, through the outbound guard ----------------------------------------


async def test_the_reference_server_over_streamable_http(
    vendor_server: VendorServer, services: Services, everything: HttpServer, loopback_allowed: None
) -> None:
    server = McpServerSpec("everything", url=everything.url)
    vendor_server.push(
        ToolCalls(
            [
                {"id": "e1", "name": "echo", "arguments": {"message": "hello tools"}},
                {"id": "e2", "name": "get-tiny-image", "arguments": {}},
            ]
        ),
        Completion("Echoed."),
    )
    sink = ListSink()
    graph = one_worker(tools=["mcp:everything/echo", "mcp:everything/get-tiny-image"])
    result = await InProcessExecutor(services=with_tools(services, server), sink=sink).run(
        graph, "x"
    )
    assert result.status == "succeeded", result.error
    answers = tool_messages(vendor_server, 1)
    assert answers["e1"] == "Echo: hello tools"
    assert "[image image/png" in answers["e2"]  # media are named, not inlined
    assert [e["status"] for e in tool_events(sink)] == [
        "running",
        "running",
        "succeeded",
        "succeeded",
    ] or [e["status"] for e in tool_events(sink)] == [
        "running",
        "succeeded",
        "running",
        "succeeded",
    ]


async def test_an_mcp_url_on_loopback_is_refused_without_the_operators_allowlist(
    vendor_server: VendorServer,
    services: Services,
    everything: HttpServer,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv("OUTBOUND_ALLOWLIST", raising=False)
    server = McpServerSpec("everything", url=everything.url)  # its tools listed at run time
    vendor_server.push(ToolCalls([{"id": "x", "name": "echo", "arguments": {}}]), Completion("ok"))
    result = await InProcessExecutor(services=with_tools(services, server)).run(
        one_worker(tools=["mcp:everything/echo"]), "x"
    )
    assert result.status == "succeeded", result.error
    # The tool could not be listed: offered as unavailable, and its call answers why.
    assert "loopback address" in offered(vendor_server)["echo"]["description"]
    assert "loopback address" in tool_messages(vendor_server, 1)["x"]


# -- failure stays local ---------------------------------------------------------------------------


async def test_every_kind_of_tool_failure_is_an_error_result_and_the_others_still_work(
    vendor_server: VendorServer, services: Services, py_server: HttpServer, loopback_allowed: None
) -> None:
    good = McpServerSpec("py", url=py_server.url)
    down = McpServerSpec("down", url="http://127.0.0.1:9/mcp")  # the discard port: nobody there
    vendor_server.push(
        ToolCalls(
            [
                {"id": "slow", "name": "slow", "arguments": {"seconds": 10}},
                {"id": "big", "name": "big", "arguments": {"chars": 5000}},
                {"id": "schema", "name": "broken_schema", "arguments": {"value": "v"}},
                {"id": "down", "name": "anything", "arguments": {}},
                {"id": "gone", "name": "missing", "arguments": {}},
                {"id": "calc", "name": "calculator", "arguments": {"expression": "6*7"}},
                {"id": "add", "name": "add", "arguments": {"a": 1, "b": 2}},
            ]
        ),
        Completion("Done despite the failures."),
    )
    sink = ListSink()
    graph = one_worker(
        tools=[
            "mcp:py/slow",
            "mcp:py/big",
            "mcp:py/broken_schema",
            "mcp:down/anything",
            "mcp:nowhere/missing",
            "calculator",
            "mcp:py/add",
        ],
        max_tool_calls=10,
        tool_timeout=1.5,
        max_tool_result_chars=1000,
    )
    result = await InProcessExecutor(services=with_tools(services, good, down), sink=sink).run(
        graph, "go"
    )
    assert result.status == "succeeded", result.error
    assert result.output == "Done despite the failures."
    # The tool list held every tool; the broken ones say why they are unavailable.
    tools = offered(vendor_server)
    assert set(tools) == {
        "slow",
        "big",
        "broken_schema",
        "anything",
        "missing",
        "calculator",
        "add",
    }
    assert "not valid JSON Schema" in tools["broken_schema"]["description"]
    answers = tool_messages(vendor_server, 1)
    assert "no answer within 1.5s" in answers["slow"]
    assert "5,000 characters, over this step's limit of 1,000" in answers["big"]
    assert "not valid JSON Schema" in answers["schema"]
    assert answers["down"].startswith("Error: ") and "'down'" in answers["down"]
    assert "there is no MCP server 'nowhere'" in answers["gone"]
    assert json.loads(answers["calc"])["result"] == 42
    assert answers["add"] == "3.0"
    failed = {e["id"] for e in tool_events(sink) if e["status"] == "failed"}
    assert failed == {"slow", "big", "schema", "down", "gone"}


async def test_a_server_killed_mid_call_gives_an_error_result_and_the_step_goes_on(
    vendor_server: VendorServer, services: Services, py_server: HttpServer, loopback_allowed: None
) -> None:
    server = McpServerSpec("py", url=py_server.url)
    vendor_server.push(
        ToolCalls([{"id": "slow", "name": "slow", "arguments": {"seconds": 20}}]),
        ToolCalls([{"id": "calc", "name": "calculator", "arguments": {"expression": "2+2"}}]),
        Completion("Carried on."),
    )
    killer = threading.Timer(1.0, py_server.kill)
    killer.start()
    try:
        graph = one_worker(tools=["mcp:py/slow", "calculator"], tool_timeout=15)
        result = await InProcessExecutor(services=with_tools(services, server)).run(graph, "go")
    finally:
        killer.cancel()
    assert result.status == "succeeded", result.error
    assert result.output == "Carried on."
    killed = tool_messages(vendor_server, 1)["slow"]
    assert killed.startswith("Error: ") and "within 15s" not in killed
    assert json.loads(tool_messages(vendor_server, 2)["calc"])["result"] == 4


async def test_a_credential_authenticates_to_the_server_and_never_reaches_the_model(
    vendor_server: VendorServer, services: Services, loopback_allowed: None
) -> None:
    from tests.support.mcp_servers import python_http

    with python_http(token="s3cret-token-value") as guarded:
        services.secrets = StaticSecrets([Secret("mcp-key", "http_bearer", "s3cret-token-value")])
        keyed = McpServerSpec("keyed", url=guarded.url, credential="mcp-key")
        bare = McpServerSpec("bare", url=guarded.url)
        vendor_server.push(
            ToolCalls(
                [
                    {"id": "k", "name": "headers", "arguments": {}},
                    {"id": "b", "name": "bare_headers", "arguments": {}},
                ]
            ),
            Completion("ok"),
        )
        graph = one_worker(tools=["mcp:keyed/headers", "mcp:bare/headers"])
        result = await InProcessExecutor(services=with_tools(services, keyed, bare)).run(graph, "x")
    assert result.status == "succeeded", result.error
    answers = tool_messages(vendor_server, 1)
    assert json.loads(answers["k"]) == {"authorization": "Bearer [redacted]"}
    assert "s3cret" not in json.dumps(vendor_server.requests[1].body)
    # Without the credential the server refuses: the listing failed, the tool says so.
    assert answers["b"].startswith("Error: ") and "is not available" in answers["b"]


# -- HTTP tools and workflow tools -----------------------------------------------------------------


async def test_an_http_tool_fills_its_url_from_the_arguments(
    vendor_server: VendorServer, services: Services, echo: EchoServer, loopback_allowed: None
) -> None:
    weather = HttpToolSpec(
        name="weather",
        description="The weather in a city",
        url=echo.url("/echo?city={{ city | urlencode }}"),
        parameters={
            "type": "object",
            "properties": {"city": {"type": "string"}},
            "required": ["city"],
        },
        headers={"X-Trace": "tool-{{ city | length }}"},
        credential="weather-key",
    )
    services.secrets = StaticSecrets(
        [Secret("weather-key", "http_header", "wk-123456789", {"header": "X-Api-Key"})]
    )
    vendor_server.push(
        ToolCalls(
            [
                {"id": "w", "name": "weather", "arguments": {"city": "São Paulo"}},
                {"id": "bad", "name": "weather", "arguments": {}},
            ]
        ),
        Completion("Sunny."),
    )
    result = await InProcessExecutor(services=with_tools(services, http=(weather,))).run(
        one_worker(tools=["http:weather"]), "weather?"
    )
    assert result.status == "succeeded", result.error
    seen = echo.requests[-1]
    assert seen.query == {"city": ["São Paulo"]}
    assert seen.headers["x-trace"] == "tool-9" and seen.headers["x-api-key"] == "wk-123456789"
    answers = tool_messages(vendor_server, 1)
    assert json.loads(answers["w"])["headers"]["x-api-key"] == "[redacted]"
    assert answers["bad"] == "Error: invalid arguments: 'city' is a required property"


FACTS = {
    "nodes": [
        {
            "id": "in",
            "type": "input",
            "config": {
                "fields": {
                    "type": "object",
                    "properties": {"claim": {"type": "string", "description": "What to check"}},
                    "required": ["claim"],
                }
            },
        },
        {
            "id": "check",
            "type": "worker",
            "config": {"model": "local/echo", "instructions": "Check: {{ input.claim }}"},
        },
        {"id": "out", "type": "output", "config": {}},
    ],
    "edges": [
        {"id": "a", "source": "in", "target": "check"},
        {"id": "b", "source": "check", "target": "out"},
    ],
    "meta": {"title": "Fact check", "description": "Checks one claim."},
}


async def test_a_workflow_as_a_tool_runs_with_the_arguments_and_counts_its_spend(
    vendor_server: VendorServer, services: Services
) -> None:
    services.flows = StaticFlows({"facts": FACTS})
    vendor_server.push(
        ToolCalls([{"id": "f", "name": "Fact_check", "arguments": {"claim": "water is wet"}}]),
        Completion("Checked."),
    )
    sink = ListSink()
    result = await InProcessExecutor(services=services, sink=sink).run(
        one_worker(tools=["workflow:facts"]), "check it"
    )
    assert result.status == "succeeded", result.error
    tool = offered(vendor_server)["Fact_check"]
    assert tool["parameters"]["required"] == ["claim"]
    assert "Checks one claim." in tool["description"]
    assert "water is wet" in tool_messages(vendor_server, 1)["f"]
    # The nested run's model call is counted on the calling step.
    assert "local/echo" in result.totals.by_model and "openai/agent" in result.totals.by_model
    done = tool_events(sink)[-1]
    assert done["kind"] == "workflow" and done["status"] == "succeeded"


async def test_the_local_model_calls_an_mcp_tool_offline() -> None:
    time_server = McpServerSpec("time", command=str(TIME_SERVER))
    services = Services(tool_definitions=StaticToolDefinitions([time_server]))
    sink = ListSink()
    graph = chain(
        input_node("in"),
        agent(
            "w",
            "What is the current time? Use get_current_time.",
            tools=["mcp:time/get_current_time"],
        ),
        output_node("out"),
    )
    result = await InProcessExecutor(services=services, sink=sink).run(graph, {})
    assert result.status == "succeeded", result.error
    done = tool_events(sink)[-1]
    assert done["tool"] == "get_current_time"
    # The local model fills the schema's required argument; the real server answers it.
    assert done["status"] in ("succeeded", "failed") and ("result" in done or "error" in done)
    assert "get_current_time" in result.output


# -- references ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tools", "message"),
    [
        (["mcp:time"], "is not a tool"),
        (["mcp:/x"], "is not a tool"),
        (["http:"], "is not a tool"),
        (["shell"], "unknown tool(s) shell"),
        (["rm -rf /"], "is not a tool"),
    ],
)
def test_bad_tool_references_are_validation_errors(tools: list[str], message: str) -> None:
    issues = validate_graph(chain(input_node("in"), agent("w", tools=tools), output_node("out")))
    assert any(message in issue.message for issue in issues), issues


def test_flows_with_built_in_tools_and_every_reference_kind_are_valid() -> None:
    tools = [
        "calculator",
        "mcp:time/get_current_time",
        "mcp:everything/*",
        "http:weather",
        "workflow:0b8f",
    ]
    assert (
        validate_graph(chain(input_node("in"), agent("w", tools=tools), output_node("out"))) == []
    )


def test_the_mcp_sdk_is_not_left_running_after_a_step() -> None:
    # Every session task ended with the step: nothing pending on the loop once the run is over.
    time_server = McpServerSpec("time", command=str(TIME_SERVER))

    async def main() -> set[asyncio.Task[Any]]:
        services = Services(tool_definitions=StaticToolDefinitions([time_server]))
        graph = chain(
            input_node("in"),
            agent("w", "get_current_time", tools=["mcp:time/*"]),
            output_node("out"),
        )
        result = await InProcessExecutor(services=services).run(graph, {})
        assert result.status == "succeeded", result.error
        return {t for t in asyncio.all_tasks() if t is not asyncio.current_task()}

    assert asyncio.run(main()) == set()
