"""The ``conversation`` node: participants take turns as delegated child steps.

Participants that must say something particular run on the loopback vendor server (turns run one
after another, so its queue is taken in turn order); the rest run on the offline ``local`` model.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.services import Services
from runtime.usage import ModelPrice
from runtime.validation import validate_graph
from tests.runtime.agent_support import agent, events_of, last_user, services_for, system_of
from tests.runtime.graphs import edge, graph, input_node, load_example, node, output_node, worker
from tests.support.vendor_server import Completion, JSONAnswer, VendorServer

PRICES = {
    "openai/staff": ModelPrice(1.0, 2.0),
    "openai/picker": ModelPrice(0.5, 0.5),
    "local/echo": ModelPrice(0.0, 0.0),
}


@pytest.fixture
def services(vendor_server: VendorServer, client: httpx.AsyncClient) -> Services:
    return services_for(client, {"openai": vendor_server.url}, prices=PRICES)


def talk_graph(participants: list[dict[str, Any]], **config: Any) -> dict[str, Any]:
    settings = {"topic": "Debate {{ input.topic }}", **config}
    nodes = [input_node("in"), node("talk", "conversation", **settings), *participants]
    edges = [edge("e1", "in", "talk"), edge("e2", "talk", "out")]
    edges += [edge(f"d{i}", "talk", p["id"], kind="delegate") for i, p in enumerate(participants)]
    return graph([*nodes, output_node("out")], edges)


def staff(node_id: str, role: str) -> dict[str, Any]:
    """A participant on the vendor server that reads the conversation as one text."""
    return agent(node_id, "{{ upstream.prompt }}", model="openai/staff", role=role, stream=False)


def turns(result: Any) -> list[tuple[str, str]]:
    """(step id, node) of the conversation's child steps, in the order they were made."""
    return [(s.id, s.node) for s in result.steps.values() if s.parent == "talk"]


# -- turn order -----------------------------------------------------------------------------------


async def test_round_robin_takes_the_participants_in_graph_order_until_max_turns() -> None:
    participants = [
        worker("ann", "{{ upstream.prompt }}", role="Optimist"),
        worker("bob", "{{ upstream.prompt }}", role="Sceptic"),
        {**worker("cat", "{{ upstream.prompt }}"), "label": "Chair"},
    ]
    sink = ListSink()
    result = await InProcessExecutor(sink=sink).run(
        talk_graph(participants, max_turns=5), {"topic": "tides"}
    )

    assert result.status == "succeeded", result.error
    assert turns(result) == [
        ("talk.ann.1", "ann"),
        ("talk.bob.2", "bob"),
        ("talk.cat.3", "cat"),
        ("talk.ann.4", "ann"),
        ("talk.bob.5", "bob"),
    ]
    # One task per round: five delegations, each resumed, then the conversation ends.
    delegated = events_of(sink, "step.delegated", "talk")
    assert [e.data["tasks"] for e in delegated][1] == [{"step": "talk.bob.2", "node": "bob"}]
    assert len(delegated) == len(events_of(sink, "step.resumed", "talk")) == 5
    # The output is the last turn's text.
    assert result.output == result.steps["talk.bob.5"].output

    # Each turn's input carries the conversation so far, and whose turn it is.
    third = result.steps["talk.cat.3"].input
    assert (third["turn"], third["max_turns"], third["speaker"]) == (3, 5, "cat")
    assert third["role"] == "Chair"  # no role: the node's label
    assert third["topic"] == "Debate tides"
    assert [t["speaker"] for t in third["transcript"]] == ["ann", "bob"]
    assert [t["role"] for t in third["transcript"]] == ["Optimist", "Sceptic"]
    assert third["transcript"][1]["text"] == result.steps["talk.bob.2"].output
    assert third["last"] == third["transcript"][-1]
    assert third["prompt"].startswith("Debate tides\n\nThe conversation so far:\n\n[1] ann")
    assert third["prompt"].endswith("Turn 3 of at most 5: you speak next, as Chair.")
    first = result.steps["talk.ann.1"].input
    assert (first["transcript"], first["last"]) == ([], None)
    assert first["prompt"].endswith("you open the conversation, as Optimist.")


# -- termination ----------------------------------------------------------------------------------


async def test_it_stops_after_the_turn_that_says_the_phrase_in_any_case(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        Completion("Draft: tides are regular.", prompt_tokens=10, completion_tokens=4),
        Completion("Fine by me. Approved.", prompt_tokens=12, completion_tokens=5),
        Completion("never asked for"),
    )
    raw = talk_graph(
        [staff("writer", "Writer"), staff("critic", "Critic")],
        stop_phrase="APPROVED",
        max_turns=6,
    )
    result = await InProcessExecutor(services=services).run(raw, {"topic": "tides"})

    assert result.status == "succeeded", result.error
    assert turns(result) == [("talk.writer.1", "writer"), ("talk.critic.2", "critic")]
    assert result.output == "Fine by me. Approved."
    assert len(vendor_server.requests) == 2
    # The critic read the writer's turn in its prompt.
    assert "[1] writer (Writer): Draft: tides are regular." in last_user(vendor_server.requests[1])


async def test_it_stops_when_the_expression_over_the_last_turn_holds(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        Completion("score: 4"), Completion("score: 6"), Completion("score: 9"), Completion("x")
    )
    raw = talk_graph(
        [staff("a", "A"), staff("b", "B")],
        stop_when="last.turn >= 2 and last.text == 'score: 9' and transcript | length == 3",
        output="transcript",
    )
    result = await InProcessExecutor(services=services).run(raw, {"topic": "x"})

    assert result.status == "succeeded", result.error
    assert result.output == [
        {"speaker": "a", "role": "A", "text": "score: 4"},
        {"speaker": "b", "role": "B", "text": "score: 6"},
        {"speaker": "a", "role": "A", "text": "score: 9"},
    ]
    assert len(vendor_server.requests) == 3


async def test_without_a_stop_it_runs_exactly_max_turns_and_outputs_the_transcript() -> None:
    raw = talk_graph(
        [worker("a", role="A"), worker("b", role="B")],
        max_turns=3,
        stop_phrase="NEVER SAID",
        output="transcript",
    )
    result = await InProcessExecutor().run(raw, {"topic": "x"})

    assert result.status == "succeeded", result.error
    assert [t["speaker"] for t in result.output] == ["a", "b", "a"]
    assert [t["text"] for t in result.output] == [
        result.steps[step].output for step in ("talk.a.1", "talk.b.2", "talk.a.3")
    ]


async def test_the_writer_and_critic_example_ends_when_the_critic_approves_on_turn_4() -> None:
    result = await InProcessExecutor().run(load_example("writer-critic"), {})

    assert result.status == "succeeded", result.error
    assert [node for _, node in turns(result)] == ["writer", "critic", "writer", "critic"]
    transcript = result.steps["talk"].output
    assert "APPROVED" in transcript[3]["text"]
    assert not any("approved" in t["text"].lower() for t in transcript[:3])
    # The flow's output is the writer's last draft, picked from the transcript.
    assert result.output == result.steps["talk.writer.3"].output


# -- the model picks who speaks -------------------------------------------------------------------


async def test_a_model_picks_each_speaker_from_the_roles_and_never_the_same_twice(
    vendor_server: VendorServer, services: Services
) -> None:
    vendor_server.push(
        JSONAnswer({"speaker": "cat"}, prompt_tokens=30, completion_tokens=3),
        Completion("Cat opens.", prompt_tokens=10, completion_tokens=3),
        JSONAnswer({"speaker": "ann"}, prompt_tokens=40, completion_tokens=3),
        Completion("Ann answers.", prompt_tokens=10, completion_tokens=3),
    )
    raw = talk_graph(
        [staff("ann", "Optimist"), staff("bob", "Sceptic"), staff("cat", "Chair")],
        speaker_order="model",
        model="openai/picker",
        max_turns=2,
        output="transcript",
    )
    result = await InProcessExecutor(services=services).run(raw, {"topic": "tides"})

    assert result.status == "succeeded", result.error
    assert turns(result) == [("talk.cat.1", "cat"), ("talk.ann.2", "ann")]
    assert [t["text"] for t in result.output] == ["Cat opens.", "Ann answers."]
    pick_1, _, pick_2, _ = vendor_server.requests
    assert pick_1.body["model"] == pick_2.body["model"] == "picker"
    schema = pick_1.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["speaker"]["enum"] == ["ann", "bob", "cat"]
    assert "- bob: Sceptic" in system_of(pick_1)
    assert "(nobody has spoken yet)" in last_user(pick_1)
    # The one who just spoke is not offered again; the transcript is shown.
    schema = pick_2.body["response_format"]["json_schema"]["schema"]
    assert schema["properties"]["speaker"]["enum"] == ["ann", "bob"]
    assert "[1] cat (Chair): Cat opens." in last_user(pick_2)

    # The picks are the conversation step's own calls; the turns are its children's; the run
    # counts all of them.
    talk = result.steps["talk"]
    assert (talk.model, talk.tokens_in, talk.tokens_out) == ("openai/picker", 70, 6)
    assert talk.cost == pytest.approx((70 * 0.5 + 6 * 0.5) / 1e6)
    assert result.totals.tokens_in == 70 + 10 + 10
    assert result.totals.tokens_out == 6 + 3 + 3
    assert result.totals.cost == pytest.approx(talk.cost + 2 * (10 * 1.0 + 3 * 2.0) / 1e6)
    assert result.totals.by_model["openai/staff"]["tokens_in"] == 20


async def test_the_local_model_picks_speakers_deterministically() -> None:
    raw = talk_graph(
        [worker("a"), worker("b"), worker("c")],
        speaker_order="model",
        model="local/echo",
        max_turns=4,
    )
    first = await InProcessExecutor().run(raw, {"topic": "x"})
    again = await InProcessExecutor().run(raw, {"topic": "x"})

    assert first.status == "succeeded", first.error
    # local answers the first id offered; the last speaker is never offered again.
    assert [node for _, node in turns(first)] == ["a", "b", "a", "b"]
    assert turns(again) == turns(first)
    assert first.output == again.output


# -- failures -------------------------------------------------------------------------------------


async def test_a_failed_turn_fails_the_conversation_naming_the_participant() -> None:
    raw = talk_graph([worker("a"), agent("b", model="nowhere/model")], max_turns=4)
    result = await InProcessExecutor().run(raw, {"topic": "x"})

    assert result.status == "failed"
    assert result.error is not None
    assert result.error["node"] == "talk"
    assert result.error["message"].startswith(
        "step 'talk' failed: turn 2 by 'b' failed: no provider 'nowhere'"
    )
    assert [node for _, node in turns(result)] == ["a", "b"]


# -- validation -----------------------------------------------------------------------------------


def test_expressions_may_read_the_last_turn_and_the_transcript_but_nothing_else() -> None:
    ok = talk_graph([worker("a"), worker("b")], stop_when="'yes' in last.text or transcript")
    assert validate_graph(ok) == []
    bad = talk_graph([worker("a"), worker("b")], stop_when="turn > 3")
    [issue] = validate_graph(bad)
    assert (issue.code, issue.node_id, issue.field) == (
        "expression_reference",
        "talk",
        "config.stop_when",
    )
    # The topic is a template of the ordinary kind: it may not read the last turn.
    [issue] = validate_graph(talk_graph([worker("a"), worker("b")], topic="{{ last.text }}"))
    assert (issue.code, issue.field) == ("template_reference", "config.topic")


async def test_a_manager_may_take_a_turn_and_delegate_inside_it() -> None:
    lead = {**node("lead", "manager", model="local/echo", role="Lead"), "label": "Lead"}
    raw = talk_graph([worker("a", role="A"), lead], max_turns=2, output="transcript")
    raw["nodes"].append(worker("helper", role="Helper"))
    raw["edges"].append(edge("dh", "lead", "helper", kind="delegate"))
    result = await InProcessExecutor().run(raw, {"topic": "x"})

    assert result.status == "succeeded", result.error
    assert turns(result) == [("talk.a.1", "a"), ("talk.lead.2", "lead")]
    # The manager's own delegation hangs under its turn: a hierarchy inside a conversation.
    helper = result.steps["talk.lead.2.helper.1"]
    assert (helper.parent, helper.status) == ("talk.lead.2", "succeeded")
    assert result.output[1]["role"] == "Lead"
    assert result.output[1]["text"] == result.steps["talk.lead.2"].output
