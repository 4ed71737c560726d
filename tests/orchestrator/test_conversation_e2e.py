"""Peer-to-peer and sub-flows on real processes: Redis, a Celery worker with two prefork
processes, Daphne, and the scripted vendor server every worker process calls.

Turns of a conversation run one after another, so the vendor's queue is taken in turn order.
"""

from __future__ import annotations

import itertools
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from editor import operations as editor_operations
from editor.models import Workspace
from orchestrator.models import Event, Step
from tests.orchestrator.conftest import (
    chain,
    edge,
    finished,
    log_of,
    make_workflow,
    node,
    start_run,
)
from tests.support.stack import CeleryWorker
from tests.support.vendor_server import Completion, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

STAFF = "openai/gpt-4o-mini"  # priced in runtime.usage.DEFAULT_PRICES
TURNS = [
    "Draft 1: tides are regular.",
    "Add numbers.",
    "Draft 2: tides rise twice daily.",
    "Approved!",
]


@pytest.fixture
def api(api: httpx.Client, stack_worker: CeleryWorker) -> httpx.Client:
    """Alice's client (conftest), once the workers are up."""
    return api


def writing_session() -> dict[str, Any]:
    talk = node("talk", "conversation", topic="A note on {{ input.topic }}", stop_phrase="APPROVED")
    writer = node("writer", "worker", model=STAFF, role="Writer", stream=False)
    critic = node("critic", "worker", model=STAFF, role="Critic", stream=False)
    for participant in (writer, critic):
        participant["config"]["instructions"] = "{{ upstream.prompt }}"
    return {
        "nodes": [node("brief", "input"), talk, writer, critic, node("result", "output")],
        "edges": [
            edge("brief", "talk"),
            edge("talk", "result"),
            {**edge("talk", "writer"), "kind": "delegate"},
            {**edge("talk", "critic"), "kind": "delegate"},
        ],
    }


def test_each_turn_of_a_conversation_is_a_child_step_run_in_order_by_the_workers(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    vendor.push(*(Completion(text, prompt_tokens=20, completion_tokens=5) for text in TURNS))
    workflow = make_workflow(alice, alice_workspace, writing_session(), name="Session")
    run_id = start_run(api, workflow, {"topic": "tides"})
    run = finished(run_id)

    assert run.status == "succeeded", run.error
    assert run.output == "Approved!"  # the turn that said the phrase, in another case
    talk = Step.objects.get(run=run, key="talk")
    assert (talk.status, talk.round, talk.parent_id) == ("succeeded", 4, None)

    # One child step per turn, made and finished one after another, alternating speakers.
    children = list(Step.objects.filter(run=run, parent=talk).order_by("created_at", "pk"))
    assert [(c.key, c.node_id, c.status) for c in children] == [
        ("talk.writer.1", "writer", "succeeded"),
        ("talk.critic.2", "critic", "succeeded"),
        ("talk.writer.3", "writer", "succeeded"),
        ("talk.critic.4", "critic", "succeeded"),
    ]
    assert [c.output for c in children] == TURNS
    for before, after in itertools.pairwise(children):
        assert before.finished_at <= after.started_at
    # Each turn's input carried the transcript so far.
    assert [len(c.input["transcript"]) for c in children] == [0, 1, 2, 3]
    assert children[3].input["transcript"][2] == {
        "speaker": "writer",
        "role": "Writer",
        "text": TURNS[2],
    }
    assert "[3] writer (Writer): Draft 2" in children[3].input["prompt"]

    # The log: delegated → the turn's life → resumed, four times, then the conversation ends.
    log = log_of(run_id)
    assert log.count(("step.delegated", "talk")) == log.count(("step.resumed", "talk")) == 4
    delegations = Event.objects.filter(run_id=run_id, type="step.delegated").order_by("seq")
    assert [e.data["tasks"] for e in delegations] == [
        [{"step": c.key, "node": c.node_id}] for c in children
    ]
    for child in children:
        assert log.index(("step.started", child.key)) < log.index(("step.succeeded", child.key))
    assert log.index(("step.succeeded", "talk.critic.4")) < log.index(("step.succeeded", "talk"))

    # Spend: the turns are the children's; the conversation's subtree covers all of them.
    assert run.tokens_in == 4 * 20 and run.tokens_out == 4 * 5
    by_api = {s["id"]: s for s in api.get(f"/api/runs/{run_id}/").json()["steps"]}
    assert (by_api["talk"]["subtree"]["tokens_in"], by_api["talk"]["subtree"]["tokens_out"]) == (
        80,
        20,
    )
    assert by_api["talk.critic.4"]["parent"] == "talk"


# -- sub-flows: a workflow of the same workspace, at its current version ---------------------------


def test_a_subflow_runs_the_current_version_of_a_workflow_of_the_same_workspace_only(
    api: httpx.Client, alice: User, alice_workspace: Workspace, vendor: VendorServer
) -> None:
    summary_graph = chain(
        node("in", "input"),
        node(
            "sum", "worker", model=STAFF, instructions="Summarise {{ input.topic }}", stream=False
        ),
        node("out", "output"),
    )
    summary = make_workflow(alice, alice_workspace, summary_graph, name="Summary")
    # A later version is the one that runs.
    summary_graph["nodes"][1]["config"]["instructions"] = "Summarise briefly {{ input.topic }}"
    editor_operations.save_workflow(summary, user=alice, graph=summary_graph)
    main = make_workflow(
        alice,
        alice_workspace,
        chain(
            node("in", "input"),
            node("call", "subflow", workflow=str(summary.id), input='{"topic": "owls"}'),
            node("out", "output"),
        ),
        name="Main",
    )
    vendor.push(Completion("Owls hunt at night.", prompt_tokens=30, completion_tokens=6))
    run = finished(start_run(api, main, {}))

    assert run.status == "succeeded", run.error
    assert run.output == "Owls hunt at night."
    assert vendor.requests[0].body["messages"][-1]["content"] == "Summarise briefly owls"
    # The sub-flow's steps are steps of the run: the model call is its "sum" step's.
    inner = Step.objects.get(run=run, key="call/sum")
    assert (inner.model, inner.tokens_in, inner.tokens_out) == (STAFF, 30, 6)
    assert inner.in_flow == Step.objects.get(run=run, key="call")
    assert (run.tokens_in, run.tokens_out) == (30, 6)

    # Another workspace's workflow is as unknown as one that does not exist.
    other = editor_operations.ensure_personal_workspace(User.objects.create_user("mallory"))
    theirs = make_workflow(alice, other, summary_graph, name="Theirs")
    main_graph = chain(
        node("in", "input"),
        node("call", "subflow", workflow=str(theirs.id)),
        node("out", "output"),
    )
    spy = make_workflow(alice, alice_workspace, main_graph, name="Spy")
    run = finished(start_run(api, spy, {}))
    assert run.status == "failed"
    assert run.error["code"] == "unknown_workflow", run.error
    assert run.error["message"].endswith(f"this workspace has no workflow '{theirs.id}'")
    assert len(vendor.requests) == 1
