"""Warnings: what would run but is most likely not meant (runtime.validation.graph_warnings), and
the run input checked against the Input node's fields when a run starts (runtime.run_input)."""

from __future__ import annotations

from typing import Any

from runtime.run_input import input_problems
from runtime.validation import compile_graph, graph_warnings, validate_graph

FIELDS = {
    "type": "object",
    "properties": {"topic": {"type": "string"}, "words": {"type": "integer", "default": 50}},
    "required": ["topic"],
}


def node(node_id: str, type_: str, label: str = "", **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "label": label, "config": config}


def edge(source: str, target: str, kind: str = "flow") -> dict[str, Any]:
    return {"id": f"{source}-{target}", "source": source, "target": target, "kind": kind}


def codes(graph: dict[str, Any]) -> list[tuple[str, str | None]]:
    return [(issue.code, issue.node_id) for issue in graph_warnings(graph)]


def test_a_node_cut_off_from_the_input_is_a_warning_not_an_error() -> None:
    graph = {
        "nodes": [
            node("in", "input", "Brief"),
            node("plan", "transform", template="x"),
            node("stray", "transform", "Stray", template="y"),
            node("after", "transform", template="{{ nodes.stray.output }}"),
            node("out", "output"),
        ],
        "edges": [edge("in", "plan"), edge("plan", "out"), edge("stray", "after")],
    }
    assert validate_graph(graph) == []  # it runs
    warnings = graph_warnings(graph)
    assert [(w.code, w.node_id) for w in warnings] == [
        ("unreachable", "stray"),
        ("unreachable", "after"),
    ]
    assert warnings[0].message.startswith("Stray is not connected to Brief: it has no incoming")
    assert "runs after nodes that are not connected" in warnings[1].message


def test_delegated_workers_and_a_flow_without_an_input_node_are_not_flagged() -> None:
    team = {
        "nodes": [
            node("in", "input"),
            node("boss", "manager", model="local/echo"),
            node("a", "worker", model="local/echo"),
            node("out", "output"),
        ],
        "edges": [edge("in", "boss"), edge("boss", "out"), edge("boss", "a", "delegate")],
    }
    assert validate_graph(team) == []
    assert codes(team) == []
    no_input = {"nodes": [node("t", "transform", template="x"), node("o", "output")], "edges": []}
    assert codes(no_input) == []


def test_templates_reading_undeclared_input_fields_are_flagged() -> None:
    graph = {
        "nodes": [
            node("in", "input", fields=FIELDS),
            node("t", "transform", template="{{ input.topic }} {{ input['audience'] }}"),
            node("o", "output", value="{{ input.words }}"),
        ],
        "edges": [edge("in", "t"), edge("t", "o")],
    }
    warnings = graph_warnings(graph)
    assert [(w.code, w.node_id, w.field) for w in warnings] == [
        ("undeclared_input", "t", "config.template")
    ]
    assert "input.audience" in warnings[0].message
    assert "(it declares: topic, words)" in warnings[0].message
    # with no fields declared, every field read is flagged; an open schema flags nothing
    bare = {**graph, "nodes": [node("in", "input"), *graph["nodes"][1:]]}
    assert len(graph_warnings(bare)) == 3
    open_ended = {**FIELDS, "additionalProperties": True}
    opened = {**graph, "nodes": [node("in", "input", fields=open_ended), *graph["nodes"][1:]]}
    assert graph_warnings(opened) == []


def test_the_run_input_is_checked_against_the_input_fields_with_defaults_filled_in() -> None:
    plan = compile_graph(
        {
            "nodes": [node("in", "input", fields=FIELDS), node("o", "output")],
            "edges": [edge("in", "o")],
        }
    )
    assert input_problems(plan, {"topic": "owls"}) == {}
    assert input_problems(plan, {}) == {"input.topic": ["required: the run needs this field"]}
    assert list(input_problems(plan, {"topic": "owls", "words": "many"})) == ["input.words"]
    assert list(input_problems(plan, [1, 2, 3])) == ["input"]
    free = compile_graph({"nodes": [node("in", "input"), node("o", "output")], "edges": []})
    assert input_problems(free, {"anything": 1}) == {}
