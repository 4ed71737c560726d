"""A workflow called as a tool, on the real stack at worker concurrency 1: it runs nested inside
the calling step (no second worker process needed), and what it runs is recorded as child steps
of that step: Step rows with their parent links, status, input, output, tokens and cost, events
on the run's WebSocket as they start and end, the spend counted once. A failure stays with the
tool call; a re-run from inside a call is refused with the reason."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from orchestrator.models import Event, Run, Step
from orchestrator.stream_buffer import stream_key
from tests.orchestrator.conftest import (
    chain,
    edge,
    finished,
    make_workflow,
    node,
    session_of,
    start_run,
)
from tests.support.stack import CeleryWorker, Daphne, RunSocket, Stack
from tests.support.vendor_server import Completion, Delay, HTTPError, ToolCalls, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]
MODEL = "openai/gpt-4o-mini"


@pytest.fixture(scope="module")
def one_process(stack: Stack) -> Iterator[CeleryWorker]:
    """One worker with a single pool process: a tool call that waited for a free process would
    wait for ever here."""
    with stack.worker(concurrency=1) as worker:
        yield worker


def lookup_flow(model: str = MODEL, stream: bool = False) -> dict[str, Any]:
    fields = {"type": "object", "properties": {"q": {"type": "string"}}, "required": ["q"]}
    return chain(
        node("in", "input", fields=fields),
        node("look", "worker", model=model, stream=stream, instructions="Look up {{ input.q }}"),
        node("out", "output"),
    )


def calling_flow(*tools: str) -> dict[str, Any]:
    return chain(
        node("brief", "input"),
        node("agent", "worker", model=MODEL, stream=False, tools=list(tools), tool_timeout=60),
        node("result", "output"),
    )


def rows(run_id: str) -> dict[str, Step]:
    return {step.key: step for step in Step.objects.filter(run_id=run_id)}


def test_a_workflow_tool_call_is_child_steps_live_on_the_socket_and_counted_once(
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
    vendor: VendorServer,
    stack: Stack,
    stack_daphne: Daphne,
    one_process: CeleryWorker,
) -> None:
    lookup = make_workflow(alice, alice_workspace, lookup_flow(stream=True), name="Lookup")
    flow = make_workflow(
        alice, alice_workspace, calling_flow(f"workflow:{lookup.pk}"), name="Caller"
    )
    vendor.push(
        ToolCalls([{"id": "w", "name": "Lookup", "arguments": {"q": "tides"}}]),
        Completion("Tides come twice a day.", prompt_tokens=7, completion_tokens=3),  # nested
        Completion("The lookup answered.", prompt_tokens=11, completion_tokens=4),
    )
    run_id = start_run(api, flow, {"topic": "tides"})
    # A watcher gets every event of the run, the child steps' among them, on the socket.
    with RunSocket(stack_daphne, run_id, after=0, session=session_of(alice)) as ws:
        ws.read_until_type("run.succeeded", timeout=60)
    run = finished(run_id)
    calls = [e.data for e in Event.objects.filter(run_id=run_id, type="step.tool_call")]
    assert run.status == "succeeded", run.error
    assert run.output == "The lookup answered.", [(c["status"], c.get("error")) for c in calls]

    found = rows(run_id)
    agent, call = found["agent"], found["agent/Lookup.1"]
    inner = {key: found[f"agent/Lookup.1/{key}"] for key in ("in", "look", "out")}
    assert set(found) == {"brief", "agent", "result", "agent/Lookup.1"} | {
        f"agent/Lookup.1/{key}" for key in inner
    }
    # The call: a child step of the calling step, naming the workflow it ran.
    assert call.parent_id == agent.pk and call.in_flow_id == agent.pk
    assert call.node_type == "workflow_tool" and call.status == "succeeded"
    assert call.input == {"q": "tides"} and call.output == "Tides come twice a day."
    assert call.flow["workflow"] == str(lookup.pk) and call.flow["name"] == "Lookup"
    assert call.flow["number"] == lookup.current_version.number
    # The nested run's steps: children of the call, in its flow, with what they did.
    for step in inner.values():
        assert step.parent_id == call.pk and step.in_flow_id == call.pk
        assert step.status == "succeeded" and step.finished_at is not None
    assert inner["look"].node_type == "worker" and inner["look"].model == MODEL
    assert inner["look"].output == "Tides come twice a day."
    assert (inner["look"].tokens_in, inner["look"].tokens_out) == (7, 3)
    assert inner["look"].cost > 0

    # Counted once: the calling step's own figures are its own two model calls; the nested
    # step carries its own; the run is the sum of the steps, and the calling step's subtree
    # in the API is all of it.
    assert (agent.tokens_in, agent.tokens_out) == (5 + 11, 5 + 4)
    assert set(agent.by_model) == {MODEL}
    assert call.cost == 0 and call.tokens_in == 0
    every = Step.objects.filter(run_id=run_id)
    assert run.tokens_in == sum(s.tokens_in for s in every) == 5 + 11 + 7
    assert run.tokens_out == sum(s.tokens_out for s in every) == 5 + 4 + 3
    assert run.cost == pytest.approx(agent.cost + inner["look"].cost, abs=1e-12)
    assert run.by_model[MODEL]["tokens_in"] == run.tokens_in

    detail = api.get(f"/api/runs/{run_id}/").json()
    by_key = {step["id"]: step for step in detail["steps"]}
    assert by_key["agent/Lookup.1"]["parent"] == "agent"
    assert by_key["agent/Lookup.1"]["in_flow"] == "agent"
    assert by_key["agent/Lookup.1"]["flow"]["name"] == "Lookup"
    assert by_key["agent/Lookup.1"]["flow"]["tool_call"] == "w"  # the model's call id
    assert by_key["agent/Lookup.1/look"]["parent"] == "agent/Lookup.1"
    assert by_key["agent/Lookup.1/look"]["in_flow"] == "agent/Lookup.1"
    assert by_key["agent/Lookup.1/look"]["tokens_in"] == 7
    assert by_key["agent"]["subtree"]["cost"] == pytest.approx(run.cost, abs=1e-12)
    assert by_key["agent"]["subtree"]["tokens_in"] == run.tokens_in
    assert detail["totals"]["cost"] == run.cost

    # Each child step's start and end is an event of the run, committed as it happened: while
    # the calling step was running (its end comes after theirs).
    heard = [(e["type"], e["step"]) for e in ws.events]
    for key in ("agent/Lookup.1", *(f"agent/Lookup.1/{k}" for k in inner)):
        assert ("step.started", key) in heard and ("step.succeeded", key) in heard
    assert heard.index(("step.started", "agent/Lookup.1")) < heard.index(
        ("step.started", "agent/Lookup.1/look")
    )
    assert heard.index(("step.succeeded", "agent/Lookup.1")) < heard.index(
        ("step.succeeded", "agent")
    )
    started = next(
        e for e in ws.events if e["type"] == "step.started" and e["step"] == "agent/Lookup.1/look"
    )
    assert started["data"]["parent"] == "agent/Lookup.1"
    assert started["data"]["input"] is not None
    ended = next(
        e for e in ws.events if e["type"] == "step.succeeded" and e["step"] == "agent/Lookup.1/look"
    )
    assert ended["data"]["tokens_in"] == 7 and ended["data"]["cost"] == inner["look"].cost
    flow_said = next(
        e for e in ws.events if e["type"] == "step.delegated" and e["step"] == "agent/Lookup.1"
    )
    assert flow_said["data"]["flow"]["workflow"] == str(lookup.pk)
    assert flow_said["data"]["flow"]["tool_call"] == "w"
    assert [e["seq"] for e in ws.events] == list(range(1, run.last_seq + 1))
    # The nested step's streamed text went out as its own (stored for late viewers as it went).
    with stack.redis() as redis:
        streamed = redis.get(f"{stream_key(run_id, 'agent/Lookup.1/look', 0, 1)}:text")
    assert streamed == b"Tides come twice a day."

    # Time travel: from inside the call it is refused with the reason; from the calling step
    # it is a re-run like any other.
    for key in ("agent/Lookup.1", "agent/Lookup.1/look"):
        refused = api.post(f"/api/runs/{run_id}/steps/{key}/rerun/", json={})
        assert refused.status_code == 409, refused.text
        assert "workflow tool call 'agent/Lookup.1'" in refused.text
        assert "re-run from 'agent'" in refused.text
    preview = api.post(f"/api/runs/{run_id}/steps/agent/rerun/preview/", json={})
    assert preview.status_code == 200, preview.text


def test_a_failing_workflow_tool_stays_with_its_call_and_a_gated_one_is_refused(
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
    vendor: VendorServer,
    one_process: CeleryWorker,
) -> None:
    broken = make_workflow(alice, alice_workspace, lookup_flow(), name="Broken")
    gated = make_workflow(
        alice,
        alice_workspace,
        {
            "nodes": [node("in", "input"), node("gate", "approval"), node("out", "output")],
            "edges": [edge("in", "gate"), edge("gate", "out", "approved")],
        },
        name="Gated",
    )
    flow = make_workflow(
        alice,
        alice_workspace,
        calling_flow(f"workflow:{broken.pk}", f"workflow:{gated.pk}"),
        name="Caller",
    )
    vendor.push(
        ToolCalls(
            [
                {"id": "b", "name": "Broken", "arguments": {"q": "x"}},
                {"id": "g", "name": "Gated", "arguments": {}},
            ]
        ),
        HTTPError(400, "the nested model refused"),  # the nested worker's call
        Completion("Both tools failed; answering without them."),
    )
    run_id = start_run(api, flow, {})
    run = finished(run_id, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.output == "Both tools failed; answering without them."

    found = rows(run_id)
    assert found["agent"].status == "succeeded"
    call, look = found["agent/Broken.1"], found["agent/Broken.1/look"]
    assert call.status == "failed" and "at step 'look'" in call.error["message"]
    assert look.status == "failed" and "the nested model refused" in look.error["message"]
    assert look.parent_id == call.pk and call.parent_id == found["agent"].pk
    # The nested run stopped at its failure: nothing after it ran, nothing is left open.
    assert {key for key in found if key.startswith("agent/Broken.1/")} == {
        "agent/Broken.1/in",
        "agent/Broken.1/look",
    }
    assert not [s for s in found.values() if s.status in ("pending", "queued", "running")]
    # The gated workflow was refused before it ran: no step for it.
    assert not [key for key in found if key.startswith("agent/Gated")]
    results = {
        e.data["id"]: e.data
        for e in Event.objects.filter(run_id=run_id, type="step.tool_call")
        if e.data["status"] != "running"
    }
    assert results["b"]["status"] == "failed" and "Broken" in results["b"]["error"]
    assert results["g"]["status"] == "failed" and "approval gates (gate)" in results["g"]["error"]
    assert Run.objects.get(pk=run_id).tokens_in == sum(s.tokens_in for s in found.values())


def test_a_workflow_tool_call_past_its_time_limit_leaves_no_step_open(
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
    vendor: VendorServer,
    one_process: CeleryWorker,
) -> None:
    lookup = make_workflow(alice, alice_workspace, lookup_flow(), name="Lookup")
    graph = calling_flow(f"workflow:{lookup.pk}")
    graph["nodes"][1]["config"]["tool_timeout"] = 1
    flow = make_workflow(alice, alice_workspace, graph, name="Impatient")
    vendor.push(
        ToolCalls([{"id": "w", "name": "Lookup", "arguments": {"q": "tides"}}]),
        Delay(5.0, Completion("Too late.")),  # the nested model call, past the limit
        Completion("Answered without the lookup."),
    )
    run_id = start_run(api, flow, {})
    run = finished(run_id, timeout=60)
    assert run.status == "succeeded", run.error
    assert run.output == "Answered without the lookup."
    found = rows(run_id)
    call = found["agent/Lookup.1"]
    assert call.status == "failed" and "was stopped" in call.error["message"]
    assert found["agent/Lookup.1/in"].status == "succeeded"
    assert found["agent/Lookup.1/look"].status == "cancelled"
    assert not [s.key for s in found.values() if s.status in ("pending", "queued", "running")]
    failed = [
        e.data
        for e in Event.objects.filter(run_id=run_id, type="step.tool_call")
        if e.data["status"] == "failed"
    ]
    assert len(failed) == 1 and "did not finish within 1s" in failed[0]["error"]
    assert [e.type for e in Event.objects.filter(run_id=run_id, step_key="agent/Lookup.1/look")][
        -1
    ] == "step.cancelled"


def test_a_workflow_tool_with_a_sub_flow_runs_the_sub_flow_nested_in_its_step(
    alice: User,
    alice_workspace: Workspace,
    api: httpx.Client,
    vendor: VendorServer,
    one_process: CeleryWorker,
) -> None:
    lookup = make_workflow(alice, alice_workspace, lookup_flow("local/echo"), name="Lookup")
    fields = {"type": "object", "properties": {"q": {"type": "string"}}}
    outer = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("in", "input", fields=fields),
            node("sub", "subflow", workflow=str(lookup.pk), input=""),
            node("out", "output"),
        ),
        name="Outer",
    )
    flow = make_workflow(alice, alice_workspace, calling_flow(f"workflow:{outer.pk}"), name="C")
    vendor.push(
        ToolCalls([{"id": "o", "name": "Outer", "arguments": {"q": "tides"}}]),
        Completion("Done."),
    )
    run_id = start_run(api, flow, {})
    run = finished(run_id, timeout=60)
    assert run.status == "succeeded", run.error
    found = rows(run_id)
    assert found["agent/Outer.1"].status == "succeeded"
    sub = found["agent/Outer.1/sub"]
    # The sub-flow ran inside its step (its model call counted there), not as queued steps.
    assert sub.status == "succeeded" and sub.node_type == "subflow"
    assert sub.model == "local/echo" and sub.tokens_in > 0
    assert "tides" in json.dumps(sub.output)
    assert not [key for key in found if key.startswith("agent/Outer.1/sub/")]
    assert run.tokens_in == sum(s.tokens_in for s in found.values())
