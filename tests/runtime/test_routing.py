"""Model routing: fallback chains, tiers and escalation, and the run's budget.

Every model here is served by the loopback vendor server through the real OpenAI-compatible
provider; several provider names may point at the same server (``backup/…``), and the model
name in each recorded request tells which model was asked.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.budget import Budget
from runtime.errors import BudgetExceededError, NodeConfigError
from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.model_tiers import DEFAULT_POLICY, RoutingPolicy
from runtime.services import Services, routing_policy
from runtime.usage import ModelPrice
from tests.runtime.agent_support import agent, events_of, model_of, services_for
from tests.runtime.graphs import chain, edge, graph, input_node, output_node, transform
from tests.support.vendor_server import (
    Completion,
    HTTPError,
    JSONAnswer,
    VendorServer,
    unused_port_url,
)

TIERS = {"fast": "openai/small", "strong": "openai/large"}
SCHEMA = {"type": "object", "properties": {"n": {"type": "integer"}}, "required": ["n"]}
ONCE = {"max_attempts": 1}


@pytest.fixture
def services(vendor_server: VendorServer, client: httpx.AsyncClient) -> Services:
    return services_for(
        client,
        {"openai": vendor_server.url, "backup": vendor_server.url, "dead": unused_port_url()},
        tiers=TIERS,
    )


def one(**config: Any) -> dict[str, Any]:
    settings = {"stream": False, "retry": ONCE, **config}
    return chain(input_node("in"), agent("w", **settings), output_node("out"))


def asked(server: VendorServer) -> list[str]:
    return [model_of(request) for request in server.requests]


# -- fallback chains ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "failure",
    [HTTPError(500, "overloaded"), HTTPError(401, "bad key"), HTTPError(429, "slow down")],
    ids=["5xx", "auth", "rate-limit"],
)
async def test_a_failing_primary_hands_over_to_its_fallback(
    vendor_server: VendorServer, services: Services, failure: HTTPError
) -> None:
    vendor_server.push(failure, Completion("from the backup", prompt_tokens=9, completion_tokens=3))
    sink = ListSink()
    raw = one(model="openai/primary", fallback_models=["backup/second"])
    result = await InProcessExecutor(services=services, sink=sink).run(raw, "hi")

    assert result.status == "succeeded", result.error
    assert result.output == "from the backup"
    assert asked(vendor_server) == ["primary", "second"]
    step = result.steps["w"]
    # Within one attempt, and the step records the model that answered.
    assert step.attempt == 1 and not events_of(sink, "step.retrying")
    assert (step.model, step.tokens_in, step.tokens_out) == ("backup/second", 9, 3)
    assert events_of(sink, "step.succeeded", "w")[0].data["model"] == "backup/second"


async def test_a_primary_nobody_listens_for_falls_back(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion("still here"))
    raw = one(model="dead/model", fallback_models=["openai/alive"])
    result = await InProcessExecutor(services=services).run(raw, "hi")
    assert result.output == "still here"
    assert result.steps["w"].model == "openai/alive"


async def test_a_primary_without_a_configured_provider_falls_back(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion("configured one"))
    raw = one(model="anthropic/claude", fallback_models=["openai/gpt"])
    result = await InProcessExecutor(services=services).run(raw, "hi")
    assert result.output == "configured one"


async def test_a_bad_request_does_not_fall_back(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(HTTPError(400, "context too long"), Completion("never"))
    raw = one(model="openai/primary", fallback_models=["backup/second"])
    result = await InProcessExecutor(services=services).run(raw, "hi")
    assert result.status == "failed"
    assert result.error is not None and result.error["code"] == "provider_bad_request"
    assert asked(vendor_server) == ["primary"]


async def test_when_every_model_fails_the_error_names_them_all(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(HTTPError(500, "down"), HTTPError(503, "also down"))
    raw = one(model="openai/primary", fallback_models=["backup/second"])
    result = await InProcessExecutor(services=services).run(raw, "hi")
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "provider_unavailable"
    assert result.error["retryable"] is True  # so a retry policy may run the chain again
    message = result.error["message"]
    assert message.startswith("step 'w' failed: backup/second: ")
    assert "every model failed; before it openai/primary: " in message


# -- tiers ----------------------------------------------------------------------------------------


async def test_a_tier_runs_on_the_model_the_policy_names(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion("quick"))
    result = await InProcessExecutor(services=services).run(one(model="fast"), "hi")
    assert asked(vendor_server) == ["small"]
    assert result.steps["w"].model == "openai/small"


async def test_fast_escalates_to_strong_when_its_output_fails_the_schema(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        Completion("not json", prompt_tokens=10, completion_tokens=2),
        JSONAnswer({"n": "one"}, prompt_tokens=20, completion_tokens=3),
        JSONAnswer({"n": 1}, prompt_tokens=12, completion_tokens=4),
    )
    raw = one(model="fast", output_format="json", output_schema=SCHEMA, max_repairs=1)
    result = await InProcessExecutor(services=services).run(raw, "count")

    assert result.status == "succeeded", result.error
    assert result.output == {"n": 1}
    assert asked(vendor_server) == ["small", "small", "large"]
    step = result.steps["w"]
    assert step.model == "openai/large"
    assert (step.tokens_in, step.tokens_out) == (42, 9)  # every call, both tiers
    by_model = result.totals.by_model
    assert by_model["openai/small"]["tokens_in"] == 30
    assert by_model["openai/large"]["tokens_in"] == 12


async def test_fast_escalates_when_its_calls_fail(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(HTTPError(503, "busy"), Completion("strong answer"))
    result = await InProcessExecutor(services=services).run(one(model="fast"), "hi")
    assert result.output == "strong answer"
    assert asked(vendor_server) == ["small", "large"]


async def test_escalation_can_be_turned_off(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion("not json"))
    raw = one(
        model="fast", output_format="json", output_schema=SCHEMA, max_repairs=0, escalate=False
    )
    result = await InProcessExecutor(services=services).run(raw, "hi")
    assert result.status == "failed"
    assert result.error is not None and result.error["code"] == "invalid_output"
    assert asked(vendor_server) == ["small"]


# -- the run's budget -----------------------------------------------------------------------------


def three_steps(error_edge: bool = False) -> dict[str, Any]:
    nodes = [
        input_node("in"),
        *(agent(n, f"step {n}", model="openai/m", stream=False, retry=ONCE) for n in "abc"),
        output_node("out"),
    ]
    edges = [
        edge("e1", "in", "a"),
        edge("e2", "a", "b"),
        edge("e3", "b", "c"),
        edge("e4", "c", "out"),
    ]
    if error_edge:
        nodes.append(transform("recover", "recovered"))
        edges += [edge("e5", "c", "recover", "error"), edge("e6", "recover", "out")]
    return graph(nodes, edges)


def fifty_tokens() -> Completion:
    return Completion("ok", prompt_tokens=40, completion_tokens=10)


@pytest.mark.parametrize("error_edge", [False, True], ids=["plain", "with-error-edge"])
async def test_a_run_that_crosses_its_token_budget_fails(
    vendor_server: VendorServer, services: Services, error_edge: bool
) -> None:
    vendor_server.push(fifty_tokens(), fifty_tokens(), fifty_tokens())
    budget = Budget(max_tokens=120)
    sink = ListSink()
    result = await InProcessExecutor(services=services, sink=sink).run(
        three_steps(error_edge), {}, budget=budget
    )

    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "budget_exceeded"
    assert result.error["node"] == "c"
    assert (
        result.error["message"] == "step 'c' failed: the run's budget is spent: 150 tokens of 120"
    )
    assert result.error["budget"]["max_tokens"] == 120
    assert [result.steps[n].status for n in "abc"] == ["succeeded", "succeeded", "failed"]
    # The call that crossed the line is still counted, on the step and in the budget.
    assert result.steps["c"].tokens_in == 40
    assert budget.tokens == 150
    # An error edge does not carry a spent budget on.
    assert "recover" not in result.steps
    assert sink.types()[-1] == "run.failed"


async def test_a_spent_budget_stops_before_the_next_call(
    vendor_server: VendorServer, services: Services
) -> None:
    # What the Celery side does: the budget starts from what the run spent in earlier steps.
    budget = Budget(max_tokens=100, tokens=101)
    result = await InProcessExecutor(services=services).run(three_steps(), {}, budget=budget)
    assert result.status == "failed"
    assert result.error is not None and result.error["code"] == "budget_exceeded"
    assert result.error["node"] == "a"
    assert vendor_server.requests == []


async def test_a_run_that_crosses_its_cost_budget_fails(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    services = services_for(
        client, {"openai": vendor_server.url}, prices={"openai/m": ModelPrice(1000.0, 1000.0)}
    )
    vendor_server.push(fifty_tokens(), fifty_tokens(), fifty_tokens())
    budget = Budget(max_cost=0.08)  # each call costs 0.05
    result = await InProcessExecutor(services=services).run(three_steps(), {}, budget=budget)
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["node"] == "b"
    assert result.error["message"] == (
        "step 'b' failed: the run's budget is spent: $0.100000 of $0.080000"
    )
    assert result.totals.cost == pytest.approx(0.1)


async def test_near_its_budget_a_run_routes_strong_nodes_to_the_fast_tier(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        Completion("first", prompt_tokens=70, completion_tokens=15),
        Completion("second", prompt_tokens=5, completion_tokens=2),
    )
    raw = chain(
        input_node("in"),
        agent("one", model="strong", stream=False),
        agent("two", model="strong", stream=False),
        output_node("out"),
    )
    budget = Budget(max_tokens=100)  # downgrade_at 0.8: 85 tokens spent is past it
    result = await InProcessExecutor(services=services).run(raw, "x", budget=budget)

    assert result.status == "succeeded", result.error
    assert asked(vendor_server) == ["large", "small"]
    assert (result.steps["one"].model, result.steps["two"].model) == (
        "openai/large",
        "openai/small",
    )
    assert budget.tokens == 92


async def test_near_its_budget_a_failing_fast_node_does_not_escalate(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(Completion("not json"))
    raw = one(model="fast", output_format="json", output_schema=SCHEMA, max_repairs=0)
    budget = Budget(max_tokens=1_000, tokens=900)
    result = await InProcessExecutor(services=services).run(raw, "x", budget=budget)
    assert result.error is not None and result.error["code"] == "invalid_output"
    assert asked(vendor_server) == ["small"]


async def test_delegated_steps_share_the_run_budget() -> None:
    raw = graph(
        [
            input_node("in"),
            {"id": "lead", "type": "manager", "config": {"model": "local/echo"}},
            agent("a", stream=False),
            agent("b", stream=False),
            output_node("out"),
        ],
        [
            edge("e1", "in", "lead"),
            edge("e2", "lead", "a", kind="delegate"),
            edge("e3", "lead", "b", kind="delegate"),
            edge("e4", "lead", "out"),
        ],
    )
    budget = Budget(max_tokens=1_000_000)
    result = await InProcessExecutor().run(raw, "topic", budget=budget)
    assert result.status == "succeeded", result.error
    assert budget.tokens == result.totals.tokens_in + result.totals.tokens_out > 0


# -- the policy and the budget as values ----------------------------------------------------------


def test_the_default_policy_maps_both_tiers_to_the_local_model() -> None:
    assert DEFAULT_POLICY.tiers == {"fast": "local/echo", "strong": "local/echo"}
    assert routing_policy(Services()) is DEFAULT_POLICY
    policy = RoutingPolicy(tiers=TIERS)
    assert policy.choose("strong") == "openai/large"
    assert policy.choose("openai/x") == "openai/x"
    assert policy.choose(None) is None
    assert policy.choose("strong", Budget(max_tokens=10, tokens=7)) == "openai/large"
    assert policy.choose("strong", Budget(max_tokens=10, tokens=8)) == "openai/small"
    assert policy.stronger("fast") == "strong" and policy.stronger("strong") is None


@pytest.mark.parametrize(
    ("tiers", "order", "message"),
    [
        ({"fast/x": "a/b"}, ("fast/x",), "must not contain '/'"),
        ({"fast": "gpt"}, ("fast",), "not a 'provider/model' id"),
        ({"fast": "a/b"}, ("fast", "strong"), "without a model: strong"),
    ],
)
def test_a_policy_rejects_bad_tiers(
    tiers: dict[str, str], order: tuple[str, ...], message: str
) -> None:
    with pytest.raises(ValueError, match=message):
        RoutingPolicy(tiers=tiers, order=order)


def test_a_policy_without_a_tier_model_says_so() -> None:
    with pytest.raises(NodeConfigError, match="no model is set for tier 'huge'"):
        RoutingPolicy().model_for("huge")


def test_the_budget_counts_and_checks() -> None:
    budget = Budget(max_tokens=100, max_cost=1.0)
    assert (budget.fraction, budget.nearly_spent, budget.exceeded) == (0.0, False, False)
    budget.charge(50, 0.9)
    assert budget.fraction == pytest.approx(0.9) and budget.nearly_spent
    budget.check()  # not past a limit yet
    budget.charge(51, 0.0)
    with pytest.raises(BudgetExceededError, match="101 tokens of 100") as caught:
        budget.check()
    assert caught.value.to_dict()["code"] == "budget_exceeded"
    assert Budget.from_dict(budget.to_dict()) == budget
    assert Budget().fraction == 0.0 and not Budget().exceeded
    with pytest.raises(ValueError, match="unknown budget fields: tokenz"):
        Budget.from_dict({"tokenz": 1})
    with pytest.raises(ValueError):
        Budget(downgrade_at=0)
    with pytest.raises(ValueError):
        Budget(max_tokens=-1)
