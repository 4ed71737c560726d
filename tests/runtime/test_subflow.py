"""The ``subflow`` node: another flow runs nested inside one step, through a FlowLoader."""

from __future__ import annotations

import io
import json
from pathlib import Path
from typing import Any

import httpx
import pytest

from runtime.budget import Budget
from runtime.cli import main
from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.flows import MAX_DEPTH, DirectoryFlows, FlowNotFound, StaticFlows, within
from runtime.services import Services
from runtime.usage import ModelPrice
from tests.runtime.agent_support import agent, last_user, services_for
from tests.runtime.graphs import chain, input_node, node, output_node, transform, worker
from tests.support.vendor_server import Completion, VendorServer


def calling(ref: str, **config: Any) -> dict[str, Any]:
    """input → subflow(ref) → output."""
    return chain(input_node("in"), node("call", "subflow", workflow=ref, **config), output_node())


def summary_flow() -> dict[str, Any]:
    """The sub-flow: input → a worker on local → a transform that shows what came in."""
    return {
        **chain(
            input_node("in"),
            worker("sum", "Summarise {{ input.topic }}"),
            transform("shape", "{{ input.topic }} | {{ nodes.sum.output }}"),
            output_node(),
        ),
        "meta": {"title": "Summary"},
    }


def services_with(graphs: dict[str, Any], **kwargs: Any) -> Services:
    return Services(flows=StaticFlows(graphs), **kwargs)


# -- output, input, usage -------------------------------------------------------------------------


async def test_the_sub_flows_output_is_the_steps_output_and_its_usage_is_the_steps() -> None:
    services = services_with({"summary": summary_flow()})
    sink = ListSink()
    result = await InProcessExecutor(services=services, sink=sink).run(
        calling("summary"), {"topic": "owls"}
    )

    assert result.status == "succeeded", result.error
    topic, summary = result.output.split(" | ", 1)
    assert topic == "owls"
    assert "Summarise owls" in summary  # the local model echoes its task
    # The sub-flow's steps are not the run's: one step here did all of it, and spent its tokens.
    assert list(result.steps) == ["in", "call", "out"]
    call = result.steps["call"]
    assert call.model == "local/echo" and call.tokens_in > 0 and call.tokens_out > 0
    assert (result.totals.tokens_in, result.totals.tokens_out) == (call.tokens_in, call.tokens_out)
    # Its steps show as live text on the sub-flow step, one line as each ends.
    progress = "".join(e.data["text"] for e in sink.events if e.type == "step.chunk")
    assert progress == "✔ in\n✔ sum\n✔ shape\n✔ out\n"
    assert {e.step for e in sink.events if e.type == "step.chunk"} == {"call"}


async def test_usage_on_a_priced_vendor_model_is_added_to_the_step_and_the_budget(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    services = services_for(
        client, {"openai": vendor_server.url}, prices={"openai/staff": ModelPrice(1.0, 2.0)}
    )
    child = chain(
        input_node("in"),
        agent("w", "Say hi to {{ input.name }}", model="openai/staff"),
        output_node(),
    )
    services.flows = within(StaticFlows({"hello": child}), "main", "Main")
    vendor_server.push(Completion("hi Ada", prompt_tokens=11, completion_tokens=7))
    budget = Budget(max_tokens=1000)

    result = await InProcessExecutor(services=services).run(
        calling("hello"), {"name": "Ada"}, budget=budget
    )

    assert result.status == "succeeded", result.error
    assert result.output == "hi Ada"
    assert last_user(vendor_server.requests[0]) == "Say hi to Ada"
    call = result.steps["call"]
    assert (call.model, call.tokens_in, call.tokens_out) == ("openai/staff", 11, 7)
    assert call.cost == pytest.approx((11 * 1.0 + 7 * 2.0) / 1e6)
    assert result.totals.by_model["openai/staff"]["tokens_in"] == 11
    assert budget.tokens == 18  # the nested calls charged the run's budget


async def test_the_input_mapping_renders_json_over_upstream() -> None:
    services = services_with({"summary": summary_flow()})
    raw = calling("summary", input='{"topic": {{ (upstream.subject ~ " in winter") | tojson }}}')
    result = await InProcessExecutor(services=services).run(raw, {"subject": "owls"})

    assert result.status == "succeeded", result.error
    assert result.output.startswith("owls in winter | ")


async def test_the_input_mapping_may_be_text_and_must_be_json_when_parsed() -> None:
    echo = chain(input_node("in"), transform("t", "got: {{ input }}"), output_node())
    services = services_with({"echo": echo})
    text = calling("echo", input="plain {{ upstream.subject }}", parse_json=False)
    result = await InProcessExecutor(services=services).run(text, {"subject": "owls"})
    assert result.output == "got: plain owls"

    broken = calling("echo", input="plain {{ upstream.subject }}")
    result = await InProcessExecutor(services=services).run(broken, {"subject": "owls"})
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "template_error"
    assert "the sub-flow's input is not JSON" in result.error["message"]


# -- refusals -------------------------------------------------------------------------------------


async def test_an_unknown_workflow_fails_the_step_with_unknown_workflow() -> None:
    result = await InProcessExecutor(services=services_with({"a": summary_flow()})).run(
        calling("nope"), {}
    )
    assert result.status == "failed"
    assert result.error is not None
    assert (result.error["code"], result.error["node"]) == ("unknown_workflow", "call")
    assert result.error["message"] == "step 'call' failed: no workflow 'nope' (known: a)"
    # A bare Services has no flows at all.
    result = await InProcessExecutor().run(calling("a"), {})
    assert result.error is not None and result.error["code"] == "unknown_workflow"


async def test_flows_that_call_each_other_fail_with_the_cycle_named() -> None:
    graphs = {
        "a": {**calling("b"), "meta": {"title": "Alpha"}},
        "b": {**calling("a"), "meta": {"title": "Beta"}},
    }
    services = services_with(graphs)
    services.flows = within(services.flows, "a", "a")  # the run's own flow, known by its id
    result = await InProcessExecutor(services=services).run(graphs["a"], {})

    assert result.status == "failed"
    assert result.error is not None
    # Beta's step found the cycle; Alpha's step reports Beta's failure.
    assert result.error["code"] == "subflow_failed"
    assert "sub-flows call each other in a cycle: Alpha → Beta → Alpha" in result.error["message"]
    assert result.error["message"].startswith(
        "step 'call' failed: workflow 'Beta' failed at step 'call'"
    )


async def test_a_chain_deeper_than_the_limit_fails() -> None:
    levels = MAX_DEPTH + 2
    graphs = {f"l{i}": calling(f"l{i + 1}") for i in range(levels)}
    graphs[f"l{levels}"] = chain(input_node("in"), output_node())
    ok = dict(graphs)
    ok[f"l{MAX_DEPTH}"] = chain(input_node("in"), output_node())  # exactly MAX_DEPTH levels

    services = services_with(ok)
    services.flows = within(services.flows, "l0", "l0")
    result = await InProcessExecutor(services=services).run(ok["l0"], {"x": 1})
    assert result.status == "succeeded", result.error
    assert result.output == {"x": 1}

    services = services_with(graphs)
    services.flows = within(services.flows, "l0", "l0")
    result = await InProcessExecutor(services=services).run(graphs["l0"], {})
    assert result.status == "failed"
    assert result.error is not None
    assert f"sub-flows nest more than {MAX_DEPTH} deep: l0 → l1" in result.error["message"]


async def test_a_sub_flow_with_an_approval_gate_is_refused_before_it_runs(
    vendor_server: VendorServer, client: httpx.AsyncClient
) -> None:
    gated = {
        "nodes": [
            input_node("in"),
            agent("w", model="openai/staff"),
            node("gate", "approval", prompt="ok?"),
            output_node(),
        ],
        "edges": [
            {"id": "e1", "source": "in", "target": "w"},
            {"id": "e2", "source": "w", "target": "gate"},
            {"id": "e3", "source": "gate", "target": "out", "source_handle": "approved"},
        ],
        "meta": {"title": "Gated"},
    }
    services = services_for(client, {"openai": vendor_server.url})
    services.flows = StaticFlows({"gated": gated})
    result = await InProcessExecutor(services=services).run(calling("gated"), {})

    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "subflow_invalid"
    assert "workflow 'Gated' has approval gates (gate)" in result.error["message"]
    assert vendor_server.requests == []  # nothing of it ran


async def test_an_invalid_sub_flow_is_refused_with_its_problems() -> None:
    broken = {"nodes": [input_node("in"), node("x", "nonsense")], "edges": []}
    result = await InProcessExecutor(services=services_with({"broken": broken})).run(
        calling("broken"), {}
    )
    assert result.status == "failed"
    assert result.error is not None
    assert result.error["code"] == "subflow_invalid"
    assert "unknown node type 'nonsense'" in result.error["message"]


async def test_a_failure_inside_the_sub_flow_fails_the_step_and_may_take_its_error_edge() -> None:
    failing = chain(input_node("in"), agent("w", model="nowhere/model"), output_node())
    raw = calling("failing")
    raw["nodes"].append(output_node("oops", "{{ upstream.message }}"))
    raw["edges"].append({"id": "err", "source": "call", "target": "oops", "source_handle": "error"})
    result = await InProcessExecutor(services=services_with({"failing": failing})).run(raw, {})

    assert result.status == "succeeded", result.error
    assert result.steps["out"].status == "skipped"
    assert result.output["oops"].startswith("workflow 'failing' failed at step 'w': no provider")


# -- loaders --------------------------------------------------------------------------------------


async def test_the_directory_loader_reads_sibling_files_only(tmp_path: Path) -> None:
    (tmp_path / "child.json").write_text(json.dumps(summary_flow()), encoding="utf-8")
    flows = DirectoryFlows(tmp_path)
    for ref in ("child", "child.json"):
        flow = await flows.load(ref)
        assert (flow.ref, flow.name) == ("child", "Summary")
    for ref in ("../child", "sub/child", "missing", ""):
        with pytest.raises(FlowNotFound):
            await flows.load(ref)


def test_the_cli_runs_a_sub_flow_from_a_sibling_file(tmp_path: Path) -> None:
    (tmp_path / "child.json").write_text(json.dumps(summary_flow()), encoding="utf-8")
    parent = tmp_path / "parent.json"
    parent.write_text(json.dumps(calling("child")), encoding="utf-8")
    out, err = io.StringIO(), io.StringIO()

    code = main(["run", str(parent), "--input", '{"topic": "owls"}', "--json"], out, err)

    assert code == 0, err.getvalue()
    events = [json.loads(line) for line in out.getvalue().splitlines()]
    assert events[-1]["type"] == "run.succeeded"
    assert events[-1]["data"]["output"].startswith("owls | ")

    # A file that calls itself: the run's own file is the first link of the chain.
    parent.write_text(json.dumps(calling("parent")), encoding="utf-8")
    out = io.StringIO()
    assert main(["run", str(parent), "--json"], out, err) == 1
    failed = json.loads(out.getvalue().splitlines()[-1])
    assert failed["data"]["error"]["code"] == "subflow_cycle"
    assert "parent → parent" in failed["data"]["error"]["message"]


async def test_a_budget_spent_inside_the_sub_flow_stops_the_whole_run() -> None:
    services = services_with({"summary": summary_flow()})
    raw = calling("summary")
    raw["nodes"].append(output_node("oops"))
    raw["edges"].append({"id": "err", "source": "call", "target": "oops", "source_handle": "error"})
    budget = Budget(max_tokens=5)
    result = await InProcessExecutor(services=services).run(raw, {"topic": "owls"}, budget=budget)

    # Not routed along the error edge: a spent budget stops the run, inside a sub-flow too.
    assert result.status == "failed"
    assert result.error is not None
    assert (result.error["code"], result.error["node"]) == ("budget_exceeded", "call")
    assert "workflow 'Summary' failed at step 'sum'" in result.error["message"]
    assert budget.tokens > 5
    assert result.steps["call"].tokens_in > 0  # what it spent before the stop is still counted
