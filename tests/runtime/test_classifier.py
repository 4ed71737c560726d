"""The ``classifier`` node: a model picks the branch; the other branches are skipped."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.classifier import ClassifierNode
from runtime.nodes.registry import default_registry
from runtime.services import Services
from runtime.validation import validate_graph
from tests.runtime.agent_support import body_text, events_of, last_user, services_for, system_of
from tests.runtime.graphs import edge, graph, input_node, node, output_node, transform
from tests.support.vendor_server import Completion, HTTPError, JSONAnswer, VendorServer

CATEGORIES = [
    {"name": "billing", "description": "Invoices, refunds, charges"},
    {"name": "bug", "description": "Something in the product is broken"},
]


@pytest.fixture
def services(vendor_server: VendorServer, client: httpx.AsyncClient) -> Services:
    return services_for(client, {"openai": vendor_server.url})


def triage(default: str | None = "default", error_edge: bool = False) -> dict[str, Any]:
    nodes = [
        input_node("in"),
        node(
            "sort",
            "classifier",
            model="openai/sorter",
            instructions="Ticket: {{ input.text }}",
            categories=CATEGORIES,
            default=default,
            retry={"max_attempts": 1},
        ),
        transform("refund", "refund desk got: {{ upstream.text }}"),
        transform("fix", "engineering got: {{ upstream.text }}"),
        output_node("out"),
    ]
    edges = [
        edge("e1", "in", "sort"),
        edge("e2", "sort", "refund", "billing"),
        edge("e3", "sort", "fix", "bug"),
        edge("e4", "refund", "out"),
        edge("e5", "fix", "out"),
    ]
    if default:
        nodes.append(transform("human", "a person looks at: {{ upstream.text }}"))
        edges += [edge("e6", "sort", "human", default), edge("e7", "human", "out")]
    if error_edge:
        nodes.append(transform("oops", "classifier failed: {{ upstream.code }}"))
        edges += [edge("e8", "sort", "oops", "error"), edge("e9", "oops", "out")]
    return graph(nodes, edges)


TICKET = {"text": "I was charged twice"}


async def test_it_takes_the_branch_the_model_picks_and_skips_the_others(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(JSONAnswer({"category": "billing"}, prompt_tokens=30, completion_tokens=4))
    sink = ListSink()
    result = await InProcessExecutor(services=services, sink=sink).run(triage(), TICKET)

    assert result.status == "succeeded", result.error
    assert result.output == "refund desk got: I was charged twice"
    sort = result.steps["sort"]
    assert (sort.branch, sort.output) == ("billing", TICKET)  # the input passes through
    assert (sort.model, sort.tokens_in, sort.tokens_out) == ("openai/sorter", 30, 4)
    assert result.steps["fix"].status == "skipped"
    assert result.steps["human"].status == "skipped"
    assert [e.step for e in events_of(sink, "step.skipped")] == ["fix", "human"]

    request = vendor_server.last_request
    assert request.body["response_format"]["type"] == "json_schema"
    assert '"enum": ["billing", "bug"]' in body_text(request)
    assert "- billing: Invoices, refunds, charges" in system_of(request)
    assert last_user(request) == "Ticket: I was charged twice"


@pytest.mark.parametrize("answer", ["bug", " Bug.", '"BUG"'])
async def test_it_accepts_a_bare_category_name(
    vendor_server: VendorServer, services: Services, answer: str
) -> None:
    vendor_server.push(Completion(answer))
    result = await InProcessExecutor(services=services).run(triage(), TICKET)
    assert result.steps["sort"].branch == "bug"
    assert result.output == "engineering got: I was charged twice"


async def test_an_answer_naming_no_category_takes_the_default_branch(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(JSONAnswer({"category": "weather"}))
    result = await InProcessExecutor(services=services).run(triage(), TICKET)
    assert result.status == "succeeded"
    assert result.steps["sort"].branch == "default"
    assert result.output == "a person looks at: I was charged twice"
    assert result.steps["refund"].status == result.steps["fix"].status == "skipped"


async def test_without_a_default_a_bad_answer_fails_the_step(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion("no idea"), Completion("no idea"))
    result = await InProcessExecutor(services=services).run(triage(default=None), TICKET)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "invalid_output"
    assert "names no category" in result.error["message"]

    routed = await InProcessExecutor(services=services).run(
        triage(default=None, error_edge=True), TICKET
    )
    assert routed.status == "succeeded"
    assert routed.output == "classifier failed: invalid_output"


async def test_a_failing_vendor_goes_down_the_error_edge(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(HTTPError(400, "bad request"))
    result = await InProcessExecutor(services=services).run(triage(error_edge=True), TICKET)
    assert result.status == "succeeded"
    assert result.output == "classifier failed: provider_bad_request"
    assert result.steps["refund"].status == "skipped"


async def test_it_runs_offline_on_the_local_provider() -> None:
    raw = triage()
    raw["nodes"][1]["config"]["model"] = "fast"  # the default tier: local/echo
    result = await InProcessExecutor().run(raw, TICKET)
    assert result.status == "succeeded", result.error
    assert result.steps["sort"].branch in {"billing", "bug"}
    assert result.steps["sort"].model == "local/echo"


# -- handles, validation, catalogue ---------------------------------------------------------------


def test_its_handles_are_its_categories_the_default_and_error() -> None:
    classifier = ClassifierNode()
    config = classifier.config_model.model_validate({"categories": CATEGORIES})
    assert classifier.outputs(config) == ["billing", "bug", "default", "error"]
    config = classifier.config_model.model_validate({"categories": CATEGORIES, "default": None})
    assert classifier.outputs(config) == ["billing", "bug", "error"]


def test_validation_checks_edges_against_the_categories() -> None:
    assert validate_graph(triage()) == []
    raw = triage()
    raw["edges"].append(edge("e10", "sort", "fix", "shipping"))
    issues = validate_graph(raw)
    assert [(i.code, i.edge_id) for i in issues] == [("unknown_handle", "e10")]
    assert "billing, bug, default, error" in issues[0].message


@pytest.mark.parametrize(
    ("categories", "default", "message"),
    [
        ([{"name": "a"}, {"name": "a"}], "default", "must be unique: a"),
        ([{"name": "a"}], "a", "must be unique: a"),
        ([{"name": "error"}], None, "reserved"),
        ([], "default", "at least 1"),
        ([{"name": "has space"}], "default", "pattern"),
    ],
)
def test_it_rejects_bad_categories(
    categories: list[dict[str, str]], default: str | None, message: str
) -> None:
    raw = graph(
        [node("c", "classifier", categories=categories, default=default), output_node("o")],
        [edge("e1", "c", "o")],
    )
    issues = [i for i in validate_graph(raw) if i.code == "invalid_config"]
    assert issues and message in issues[0].message


def test_the_catalogue_lists_the_classifier_with_dynamic_handles() -> None:
    entries = {entry["type"]: entry for entry in default_registry.catalogue()}
    entry = entries["classifier"]
    assert entry["category"] == "ai"
    assert entry["dynamic_outputs"] == "categories"
    assert entry["outputs"] == ["default", "error"]
    properties = entry["config_schema"]["properties"]
    assert properties["model"]["default"] == "fast"
    assert {"instructions", "categories", "default"} <= set(properties)
