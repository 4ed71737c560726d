"""Against a real OpenAI-compatible server nobody here wrote: llama-cpp-python's, serving Gemma 3
270M on loopback (runtime/providers/local_llm.py).

The model's prose is poor; its protocol is real. So these assert on protocol and structure:
streaming with token counts, the server's refusal of json_schema learned once, schema-valid JSON
from a json-output worker, a manager's plan, a classifier's route, and every shipped example
run to the end with MODEL_FAST and MODEL_STRONG pointed at it. Never on wording.

Skipped unless the ``local-llm`` extra is installed (README, "A real model, offline").
"""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest import mock

import httpx
import jsonschema
import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.flows import DirectoryFlows, within
from runtime.model_tiers import RoutingPolicy
from runtime.nodes.manager import plan_schema
from runtime.providers.base import ChatRequest
from runtime.providers.capabilities import KNOWN, CapabilityMemory, CatalogueEntry
from runtime.providers.local_llm import (
    INSTALL,
    MODEL_ALIAS,
    LocalLLMServer,
    free_port,
    missing,
)
from runtime.providers.openai_compat import OpenAICompatibleProvider
from runtime.services import Services
from tests.runtime.graphs import EXAMPLES, edge, graph, input_node, load_example, node, output_node
from tests.runtime.test_examples import default_input


def model_failed(error: dict[str, Any]) -> bool:
    """Whether a step failed by the model's own doing, not the protocol's: JSON it did not get
    right (cut off at max_tokens: a 270M model loops at times), or tool calls past the limit
    after it was told to stop."""
    message = str(error.get("message", ""))
    return error.get("code") == "invalid_output" or "kept calling tools" in message


pytestmark = [
    pytest.mark.real_llm,
    pytest.mark.skipif(
        bool(missing()),
        reason=f"llama-cpp-python's server and Gemma 3 270M are not installed: {INSTALL}",
    ),
]

LOCAL_LLM_MODEL = MODEL_ALIAS
MODEL = f"openai/{LOCAL_LLM_MODEL}"
CITY: dict[str, Any] = {
    "type": "object",
    "properties": {"city": {"type": "string"}, "country": {"type": "string"}},
    "required": ["city", "country"],
}
# A tiny model may ramble; every call here is bounded so the suite stays quick.
MAX_TOKENS = 96
# A plan is JSON with a task for each worker: cut off, it is no plan at all.
PLAN_TOKENS = 512


@pytest.fixture(scope="module")
def server() -> Iterator[LocalLLMServer]:
    # Started as ./dev start starts it: with Daphne's PORT (and a HOST) in the environment, which
    # llama-cpp-python's server would bind over its --port and --host if it saw them.
    daphne = {"PORT": str(free_port()), "HOST": "127.0.0.2"}
    with mock.patch.dict(os.environ, daphne), LocalLLMServer.start() as running:
        yield running
    KNOWN.forget(running.base_url)


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient() as http:
        yield http


def services_on(server: LocalLLMServer, client: httpx.AsyncClient) -> Services:
    services = Services()
    services.providers["openai"] = OpenAICompatibleProvider(
        base_url=server.base_url, client=client, timeout=180.0
    )
    services.routing = RoutingPolicy(tiers={"fast": MODEL, "strong": MODEL})
    return services


def ask(text: str, **options: Any) -> ChatRequest:
    return ChatRequest(
        model=LOCAL_LLM_MODEL,
        messages=[{"role": "user", "content": text}],
        max_tokens=MAX_TOKENS,
        temperature=0.0,
        **options,
    )


# -- the protocol ----------------------------------------------------------------------------------


async def test_a_streamed_answer_arrives_in_chunks_with_its_tokens_counted(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    memory = CapabilityMemory()
    provider = OpenAICompatibleProvider(base_url=server.base_url, client=client, memory=memory)
    chunks: list[str] = []

    streamed = await provider.complete(ask("Name three colours.", stream=True), chunks.append)
    plain = await provider.complete(ask("Name three colours."))

    assert len(chunks) > 1 and "".join(chunks) == streamed.text
    assert streamed.finish_reason in ("stop", "length")
    # This server sends no usage in a stream, even when asked: the tokens are counted (one per
    # streamed piece here), and the endpoint is remembered as one whose streams are counted.
    assert streamed.tokens_estimated and streamed.tokens_in > 0
    assert streamed.tokens_out >= len(chunks)
    learned = memory.get(server.base_url, LOCAL_LLM_MODEL)
    assert learned is not None and learned.stream_usage == "counted"
    # A plain answer carries the server's own counts.
    assert not plain.tokens_estimated and plain.tokens_in > 0 and plain.tokens_out > 0
    again = await provider.complete(ask("Name three colours.", stream=True))
    assert again.tokens_estimated  # asked without stream_options now, still counted


async def test_the_servers_refusal_of_json_schema_is_learned_once_and_json_object_is_used(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    memory = CapabilityMemory()
    provider = OpenAICompatibleProvider(base_url=server.base_url, client=client, memory=memory)

    first = await provider.complete(ask("Where is the Eiffel Tower?", response_schema=CITY))
    learned = memory.get(server.base_url, LOCAL_LLM_MODEL)
    second = await provider.complete(ask("Where is Big Ben?", response_schema=CITY))

    assert learned is not None and learned.structured_output == "json_object"
    assert (first.structured_output, second.structured_output) == ("json_object", "json_object")
    for answer in (first, second):
        jsonschema.validate(json.loads(answer.text), CITY)  # grammar-constrained by the server


async def test_a_probe_of_the_server_tells_what_it_can_do(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    provider = OpenAICompatibleProvider(
        base_url=server.base_url, client=client, memory=CapabilityMemory()
    )
    warnings: list[str] = []
    found = await provider.probe(LOCAL_LLM_MODEL, warnings=warnings)
    assert (found.structured_output, found.stream_usage) == ("json_object", "counted")
    assert found.structured_output_source == found.stream_usage_source == "detected"
    # Its gemma chat format takes native tools and drops them: no call comes back when one is
    # asked for, so the test says prompted, and how to make runs use it.
    assert (found.tools, found.tools_source) == ("prompted", "detected")
    [warning] = warnings
    assert "set the model's tools in the model catalogue to prompted" in warning


async def test_the_instructions_mode_is_validated_even_when_the_model_ignores_it(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    provider = OpenAICompatibleProvider(
        base_url=server.base_url, client=client, memory=CapabilityMemory()
    )
    answer = await provider.complete(
        ask("Where is the Colosseum?", response_schema=CITY, structured_output="instructions")
    )
    assert answer.structured_output == "instructions"
    assert isinstance(answer.text, str)  # whatever it says; the nodes validate and repair


# -- nodes on it -----------------------------------------------------------------------------------


async def run_flow(
    server: LocalLLMServer, client: httpx.AsyncClient, flow: dict[str, Any], data: Any
) -> Any:
    services = services_on(server, client)
    return await InProcessExecutor(services=services, sink=ListSink()).run(flow, data)


async def test_a_json_output_worker_answers_schema_valid_json(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    flow = graph(
        [
            input_node("in"),
            node(
                "where",
                "worker",
                model="fast",
                instructions="Where is {{ input.place }}? Give the city and the country.",
                output_format="json",
                output_schema=CITY,
                max_tokens=MAX_TOKENS,
            ),
            output_node("out"),
        ],
        [edge("e1", "in", "where"), edge("e2", "where", "out")],
    )
    result = await run_flow(server, client, flow, {"place": "the Louvre"})

    assert result.status == "succeeded", result.error
    jsonschema.validate(result.output, CITY)
    step = result.steps["where"]
    assert step.model == MODEL and step.tokens_in > 0 and step.tokens_out > 0


async def test_a_mode_the_server_cannot_do_fails_the_step_naming_the_capability_and_the_fix(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    flow = graph(
        [
            input_node("in"),
            node(
                "where",
                "worker",
                model="fast",
                instructions="Where is the Louvre?",
                output_format="json",
                output_schema=CITY,
                max_tokens=MAX_TOKENS,
            ),
            output_node("out"),
        ],
        [edge("e1", "in", "where"), edge("e2", "where", "out")],
    )
    services = services_on(server, client)
    services.prices = {**services.prices, MODEL: CatalogueEntry(structured_output="json_schema")}
    result = await InProcessExecutor(services=services, sink=ListSink()).run(flow, {})

    assert result.status == "failed"
    error = result.steps["where"].error or {}
    message = str(error.get("message"))
    assert "cannot do JSON-schema output" in message
    assert "switch the model's structured-output mode in the model catalogue to json_object or" in (
        message
    )
    assert "Input should be 'text' or 'json_object'" in message  # what the server said
    assert "Traceback" not in message and 'File "' not in message


async def test_a_worker_with_tools_runs_by_the_prompted_protocol(
    server: LocalLLMServer,
) -> None:
    # The gemma chat format ignores native tools; the catalogue says prompted (as the local
    # model's built-in entry does), and the provider describes them in the prompt instead.
    bodies: list[dict[str, Any]] = []

    async def record(request: httpx.Request) -> None:
        bodies.append(json.loads(request.content))

    flow = graph(
        [
            input_node("in"),
            node(
                "math",
                "worker",
                model="fast",
                instructions="What is 37 times 91? Use the calculator.",
                tools=["calculator"],
                max_tool_calls=2,
                max_tokens=MAX_TOKENS,
            ),
            output_node("out"),
        ],
        [edge("e1", "in", "math"), edge("e2", "math", "out")],
    )
    async with httpx.AsyncClient(event_hooks={"request": [record]}) as client:
        services = services_on(server, client)
        services.prices = {**services.prices, MODEL: CatalogueEntry(tools="prompted")}
        result = await InProcessExecutor(services=services, sink=ListSink()).run(flow, {})

    assert result.status == "succeeded", result.error
    assert isinstance(result.output, str)
    assert bodies and all("tools" not in body for body in bodies)
    assert "- calculator:" in bodies[0]["messages"][0]["content"]


async def test_a_classifier_routes_to_one_of_its_categories(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    categories = [
        {"name": "billing", "description": "invoices, refunds, charges"},
        {"name": "bug", "description": "something in the product is broken"},
    ]
    flow = graph(
        [
            input_node("in"),
            node(
                "sort",
                "classifier",
                model="fast",
                instructions="Ticket: {{ input.text }}",
                categories=categories,
            ),
            node("billing_desk", "transform", template="billing"),
            node("bug_desk", "transform", template="bug"),
            output_node("out"),
        ],
        [
            edge("e1", "in", "sort"),
            edge("e2", "sort", "billing_desk", "billing"),
            edge("e3", "sort", "bug_desk", "bug"),
            edge("e4", "billing_desk", "out"),
            edge("e5", "bug_desk", "out"),
        ],
    )
    result = await run_flow(server, client, flow, {"text": "I was charged twice this month"})

    assert result.status == "succeeded", result.error
    assert result.steps["sort"].branch in ("billing", "bug")
    assert result.output == result.steps["sort"].branch


async def test_a_managers_plan_is_schema_valid_and_its_workers_run(
    server: LocalLLMServer, client: httpx.AsyncClient
) -> None:
    flow = graph(
        [
            input_node("in"),
            node(
                "lead",
                "manager",
                model="strong",
                instructions="Write two sentences about {{ input.topic }}: one fact, one joke.",
                max_rounds=2,
                max_subtasks=2,
                max_tokens=PLAN_TOKENS,
            ),
            node("facts", "worker", model="fast", role="Fact finder", max_tokens=MAX_TOKENS),
            node("jokes", "worker", model="fast", role="Comedian", max_tokens=MAX_TOKENS),
            output_node("out"),
        ],
        [
            edge("e1", "in", "lead"),
            edge("d1", "lead", "facts", kind="delegate"),
            edge("d2", "lead", "jokes", kind="delegate"),
            edge("e2", "lead", "out"),
        ],
    )
    sink = ListSink()
    services = services_on(server, client)
    result = await InProcessExecutor(services=services, sink=sink).run(flow, {"topic": "tea"})

    assert result.status == "succeeded", result.error
    assert isinstance(result.output, str)
    schema = plan_schema(["facts", "jokes"], 2)
    rounds = [e.data for e in sink.events if e.type == "step.delegated" and e.node == "lead"]
    for delegated in rounds:  # each round's plan, as the manager keeps it in its state
        tasks = delegated["state"]["history"][-1]["tasks"]
        jsonschema.validate({"subtasks": tasks, "done": False}, schema)
    assert result.steps["lead"].tokens_in > 0


# -- every shipped example ------------------------------------------------------------------------

NAMES = sorted(path.stem for path in EXAMPLES.glob("*.json"))


def on_the_server(raw: dict[str, Any]) -> dict[str, Any]:
    """The example with every model call on the server: the ``local/echo`` stand-in becomes the
    ``fast`` tier too, and every call is bounded (a tiny model may ramble to the end of its
    context)."""
    for item in raw["nodes"]:
        config = item.setdefault("config", {})
        if config.get("model") == "local/echo":
            config["model"] = "fast"
        if item["type"] in ("worker", "manager"):
            # A tool loop with repairs on 2 shared cores takes minutes at worst, not 2.
            config.setdefault("timeout", 600)
        if item["type"] == "manager":
            config.setdefault("max_tokens", PLAN_TOKENS)
        elif item["type"] == "worker":  # text is never judged here; JSON must fit whole
            config.setdefault("max_tokens", 512 if config.get("output_format") == "json" else 64)
    return raw


@pytest.fixture(scope="module")
def examples_on_the_server(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every example, rewritten by :func:`on_the_server`, where sub-flows find each other."""
    folder = tmp_path_factory.mktemp("examples")
    for name in NAMES:
        raw = on_the_server(load_example(name))
        (folder / f"{name}.json").write_text(json.dumps(raw))
    return folder


@pytest.mark.parametrize("name", NAMES)
async def test_each_example_runs_on_the_real_server(
    server: LocalLLMServer, client: httpx.AsyncClient, examples_on_the_server: Path, name: str
) -> None:
    raw = json.loads((examples_on_the_server / f"{name}.json").read_text())
    services = services_on(server, client)
    # As the local model's catalogue entry says: its chat format ignores native tools.
    services.prices = {**services.prices, MODEL: CatalogueEntry(tools="prompted")}
    services.flows = within(DirectoryFlows(examples_on_the_server), name, name)
    calls: list[str] = []
    # The model's own failure (model_failed) is not the protocol's; such a run is tried again,
    # up to 3 runs. Any other failure fails the test at once.
    for _ in range(3):
        result = await asyncio.wait_for(
            InProcessExecutor(services=services, sink=ListSink()).run(
                raw, default_input(load_example(name))
            ),
            timeout=600,
        )
        failed = [s.error or {} for s in result.steps.values() if s.status == "failed"]
        if result.status == "succeeded" and not failed:
            break
        for error in [*failed, *([result.error] if result.error else [])]:
            assert model_failed(error), (name, error)

    assert result.status == "succeeded", (name, result.error)
    for step in result.steps.values():
        assert step.status in ("succeeded", "skipped"), (step.id, step.error)
        if step.model is not None:
            calls.append(step.model)
    assert calls and set(calls) <= {MODEL}  # every model call went to the server
    for item in raw["nodes"]:
        config = item.get("config") or {}
        step = result.steps.get(item["id"])
        if config.get("output_format") == "json" and step and step.status == "succeeded":
            jsonschema.validate(step.output, config["output_schema"])
