"""The ``approval`` node on the in-process executor: it suspends with a request describing who
may decide, and leaves by ``approved`` or ``rejected`` with the (possibly edited) data."""

from __future__ import annotations

from typing import Any

import pytest

from runtime.errors import GraphValidationError
from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.nodes.registry import default_registry
from runtime.records import StepRecord
from tests.runtime.graphs import compiled, edge, graph, input_node, node, output_node, transform


def gated(**config: Any) -> dict[str, Any]:
    return graph(
        [
            input_node("in"),
            transform("draft", "Draft on {{ input.topic }}"),
            node("gate", "approval", **{"prompt": "Publish '{{ upstream }}'?", **config}),
            output_node("published", "published: {{ upstream }}"),
            output_node("binned", "binned: {{ upstream }}"),
        ],
        [
            edge("e1", "in", "draft"),
            edge("e2", "draft", "gate"),
            edge("e3", "gate", "published", "approved"),
            edge("e4", "gate", "binned", "rejected"),
        ],
    )


def answering(answer: dict[str, Any], asked: list[dict[str, Any]] | None = None) -> Any:
    async def human(step: StepRecord, request: dict[str, Any]) -> Any:
        if asked is not None:
            asked.append(request)
        return answer

    return human


async def test_it_asks_with_the_rendered_prompt_and_leaves_by_approved() -> None:
    asked: list[dict[str, Any]] = []
    sink = ListSink()
    executor = InProcessExecutor(
        sink=sink, human=answering({"decision": "approve", "decided_by": ["ann"]}, asked)
    )
    result = await executor.run(gated(approvers=["ann"], quorum=2), {"topic": "tides"})

    assert asked == [
        {
            "kind": "approval",
            "prompt": "Publish 'Draft on tides'?",
            "data": "Draft on tides",
            "editable": False,
            "approvers": ["ann"],
            "role": "approver",
            "quorum": 2,
            "deadline_seconds": None,
            "on_deadline": "reject",
            "escalate_to_role": None,
        }
    ]
    assert result.status == "succeeded"
    assert result.output == {"published": "published: Draft on tides"}
    assert result.steps["gate"].branch == "approved"
    assert result.steps["gate"].output == "Draft on tides"
    assert result.steps["binned"].status == "skipped"
    gate_events = [e.type for e in sink.events if e.step == "gate"]
    assert gate_events == [
        "step.started",
        "step.waiting",
        "step.resumed",
        "step.started",
        "step.succeeded",
    ]


async def test_it_passes_on_the_edited_data_when_the_approver_changed_it() -> None:
    executor = InProcessExecutor(human=answering({"decision": "approve", "output": "Better"}))
    result = await executor.run(gated(editable=True), {"topic": "tides"})
    assert result.output == {"published": "published: Better"}
    assert result.steps["gate"].output == "Better"


async def test_it_leaves_by_rejected_when_the_person_says_no() -> None:
    executor = InProcessExecutor(human=answering({"decision": "reject", "comment": "no"}))
    result = await executor.run(gated(), {"topic": "tides"})
    assert result.output == {"binned": "binned: Draft on tides"}
    assert result.steps["gate"].branch == "rejected"
    assert result.steps["published"].status == "skipped"


async def test_it_fails_the_step_on_an_answer_that_is_not_a_decision() -> None:
    executor = InProcessExecutor(human=answering({"decision": "maybe"}))
    result = await executor.run(gated(), {"topic": "tides"})
    assert result.status == "failed"
    assert result.steps["gate"].status == "failed"
    assert "decision" in (result.steps["gate"].error or {})["message"]


async def test_it_waits_without_a_human_handler() -> None:
    result = await InProcessExecutor().run(gated(), {"topic": "tides"})
    assert result.status == "waiting"
    assert result.steps["gate"].status == "waiting"


def test_it_is_in_the_catalogue_with_its_two_handles() -> None:
    entry = next(e for e in default_registry.catalogue() if e["type"] == "approval")
    assert entry["category"] == "human"
    assert entry["inputs"] == ["in"]
    assert entry["outputs"] == ["approved", "rejected"]
    props = entry["config_schema"]["properties"]
    assert {
        "prompt",
        "approvers",
        "role",
        "quorum",
        "editable",
        "deadline_seconds",
        "on_deadline",
        "escalate_to_role",
    } == set(props)
    assert props["prompt"]["widget"] == "template"


def test_it_validates_edges_from_its_two_handles_and_refuses_others() -> None:
    compiled(gated())  # approved and rejected are fine
    broken = gated()
    broken["edges"][2]["source_handle"] = "maybe"
    with pytest.raises(GraphValidationError) as refused:
        compiled(broken)
    assert any(issue.edge_id == "e3" and "maybe" in issue.message for issue in refused.value.issues)


@pytest.mark.parametrize(
    ("config", "words"),
    [
        ({"quorum": 0}, "quorum"),
        ({"role": "boss"}, "role"),
        ({"on_deadline": "escalate", "deadline_seconds": 60}, "escalate"),
        ({"deadline_seconds": 0}, "deadline_seconds"),
        ({"approvers": ["has space"]}, "username"),
        ({"prompt": "{{ nodes.nowhere.output }}"}, "nowhere"),
    ],
)
def test_it_refuses_invalid_settings(config: dict[str, Any], words: str) -> None:
    with pytest.raises(GraphValidationError) as refused:
        compiled(gated(**config))
    text = " ".join(f"{issue.field} {issue.message}" for issue in refused.value.issues)
    assert words in text, text
