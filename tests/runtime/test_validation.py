"""validate_graph / compile_graph: every error code, naming the node, edge or field at fault."""

from __future__ import annotations

from typing import Any, ClassVar

import pytest

from runtime.errors import GraphValidationError
from runtime.graph import MAX_EDGES, MAX_NODES, Issue
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.nodes.registry import default_registry
from runtime.plan import Plan
from runtime.validation import compile_graph, validate_graph
from tests.runtime.graphs import (
    chain,
    edge,
    graph,
    input_node,
    load_example,
    node,
    output_node,
    router,
    transform,
    wire,
    worker,
)


def only(issues: list[Issue], code: str) -> Issue:
    """The single issue with ``code``; fails if there are others of any code."""
    assert [i.code for i in issues] == [code], [i.to_dict() for i in issues]
    return issues[0]


def codes(issues: list[Issue]) -> set[str]:
    return {issue.code for issue in issues}


class _ManagerConfig(NodeConfig):
    pass


class _Manager(NodeType[_ManagerConfig]):
    """A test-only type that may delegate (the default registry has none yet)."""

    type = "test_manager"
    label = "Test manager"
    category = "ai"
    config_model = _ManagerConfig
    can_delegate: ClassVar[bool] = True

    async def run(self, ctx: StepContext, config: _ManagerConfig) -> NodeResult:
        return Complete(None)


def registry_with_manager():
    registry = default_registry.copy()
    registry.register(_Manager())
    return registry


# -- the graph as a whole ---------------------------------------------------------------------


@pytest.mark.parametrize("raw", [None, [], "nodes", 42])
def test_it_reports_invalid_graph_for_a_non_object(raw: Any) -> None:
    issue = only(validate_graph(raw), "invalid_graph")
    assert issue.node_id is None and issue.edge_id is None


def test_it_reports_invalid_graph_for_nodes_and_edges_that_are_not_lists() -> None:
    issues = validate_graph({"nodes": {"a": 1}, "edges": "e1"})
    assert [(i.code, i.field) for i in issues if i.code == "invalid_graph"] == [
        ("invalid_graph", "nodes"),
        ("invalid_graph", "edges"),
    ]


def test_it_reports_too_many_nodes() -> None:
    nodes = [input_node(f"n{i}") for i in range(MAX_NODES + 1)]
    issue = only(validate_graph(graph(nodes)), "too_many_nodes")
    assert issue.field == "nodes"


def test_it_reports_too_many_edges() -> None:
    edges = [edge(f"e{i}", "a", "b") for i in range(MAX_EDGES + 1)]
    issue = only(validate_graph(graph([input_node("a")], edges)), "too_many_edges")
    assert issue.field == "edges"


def test_it_reports_an_empty_graph() -> None:
    issue = only(validate_graph(graph([])), "empty_graph")
    assert issue.field == "nodes"


# -- nodes --------------------------------------------------------------------------------------


def test_it_reports_a_node_without_an_id() -> None:
    raw = graph([input_node("a"), {"type": "output", "config": {}}])
    issue = only(validate_graph(raw), "missing_id")
    assert issue.field == "nodes[1].id"


def test_it_reports_an_edge_without_an_id() -> None:
    raw = graph([input_node("a"), output_node("b")], [{"source": "a", "target": "b"}])
    issue = only(validate_graph(raw), "missing_id")
    assert issue.field == "edges[0].id"


def test_it_reports_a_node_that_is_not_an_object() -> None:
    issue = only(validate_graph(graph([input_node("a"), "b"])), "invalid_node")
    assert issue.field == "nodes[1]"


def test_it_reports_an_invalid_node_id_naming_the_node() -> None:
    issue = only(validate_graph(graph([input_node("not valid!")])), "invalid_node")
    assert issue.node_id == "not valid!"
    assert issue.field == "id"


def test_it_reports_an_edge_that_is_not_an_object() -> None:
    raw = graph([input_node("a"), output_node("b")], [edge("e1", "a", "b"), ["a", "b"]])
    issue = only(validate_graph(raw), "invalid_edge")
    assert issue.field == "edges[1]"


def test_it_reports_an_invalid_edge_naming_the_edge_and_field() -> None:
    raw = graph([input_node("a"), output_node("b")], [edge("e1", "a", "b", kind="sideways")])
    issue = only(validate_graph(raw), "invalid_edge")
    assert issue.edge_id == "e1"
    assert issue.field == "kind"


def test_it_reports_a_duplicate_node_id() -> None:
    raw = graph([input_node("a"), output_node("a")])
    issue = only(validate_graph(raw), "duplicate_id")
    assert issue.node_id == "a"


def test_it_reports_a_duplicate_edge_id() -> None:
    raw = graph(
        [input_node("a"), output_node("b"), output_node("c")],
        [edge("e1", "a", "b"), edge("e1", "a", "c")],
    )
    issue = only(validate_graph(raw), "duplicate_id")
    assert issue.edge_id == "e1"


def test_it_reports_a_duplicate_edge() -> None:
    raw = graph(
        [input_node("a"), output_node("b")],
        [edge("e1", "a", "b"), edge("e2", "a", "b", "out")],  # "out" is the default handle
    )
    issue = only(validate_graph(raw), "duplicate_edge")
    assert issue.edge_id == "e2"


def test_it_reports_an_unknown_type() -> None:
    raw = graph([input_node("a"), node("b", "teleporter")], wire(("a", "b")))
    issue = only(validate_graph(raw), "unknown_type")
    assert issue.node_id == "b"
    assert issue.field == "type"
    assert "teleporter" in issue.message and "worker" in issue.message


@pytest.mark.parametrize(
    ("bad", "field"),
    [
        (node("t", "transform"), "config.template"),  # required setting missing
        (transform("t", "x", bogus=1), "config.bogus"),  # unknown setting
        (worker("t", temperature="hot"), "config.temperature"),  # wrong type
        (worker("t", retry={"max_attempts": 0}), "config.retry.max_attempts"),  # nested
        (router("t", [("a", "true"), ("a", "false")]), "config"),  # model-level check
        (input_node("t", fields={"type": "no-such-type"}), "config.fields"),  # not a JSON Schema
    ],
)
def test_it_reports_invalid_config_naming_the_field(bad: dict[str, Any], field: str) -> None:
    raw = graph([input_node("a"), bad], wire(("a", "t")) if bad["type"] != "input" else [])
    issues = [i for i in validate_graph(raw) if i.code == "invalid_config"]
    assert issues, validate_graph(raw)
    assert {i.node_id for i in issues} == {"t"}
    assert field in {i.field for i in issues}


# -- edges --------------------------------------------------------------------------------------


def test_it_reports_a_dangling_edge_naming_the_missing_end() -> None:
    raw = graph([input_node("a"), output_node("b")], [edge("e1", "a", "ghost")])
    issue = only(validate_graph(raw), "dangling_edge")
    assert issue.edge_id == "e1"
    assert issue.field == "target"
    assert "ghost" in issue.message


def test_it_reports_a_dangling_edge_source() -> None:
    raw = graph([input_node("a"), output_node("b")], [edge("e1", "ghost", "b")])
    issue = only(validate_graph(raw), "dangling_edge")
    assert (issue.edge_id, issue.field) == ("e1", "source")


def test_it_reports_an_unknown_source_handle() -> None:
    raw = graph([input_node("a"), output_node("b")], [edge("e1", "a", "b", "approved")])
    issue = only(validate_graph(raw), "unknown_handle")
    assert (issue.edge_id, issue.field) == ("e1", "source_handle")


def test_it_reports_a_route_name_the_router_does_not_have() -> None:
    raw = graph(
        [input_node("a"), router("r", [("yes", "true")]), output_node("b")],
        wire(("a", "r"), ("r", "b", "maybe")),
    )
    issue = only(validate_graph(raw), "unknown_handle")
    assert (issue.edge_id, issue.field) == ("e2", "source_handle")
    assert "yes" in issue.message and "default" in issue.message


def test_it_reports_an_unknown_target_handle() -> None:
    raw = graph([input_node("a"), output_node("b")], [edge("e1", "a", "b", target_handle="side")])
    issue = only(validate_graph(raw), "unknown_handle")
    assert (issue.edge_id, issue.field) == ("e1", "target_handle")


def test_it_reports_an_edge_into_an_input_node() -> None:
    raw = graph([input_node("a"), input_node("b")], wire(("a", "b")))
    issue = only(validate_graph(raw), "unknown_handle")
    assert (issue.edge_id, issue.field) == ("e1", "target_handle")


def test_it_reports_a_delegate_edge_from_a_node_that_cannot_delegate() -> None:
    raw = graph(
        [input_node("a"), worker("w1"), worker("w2")],
        [edge("e1", "a", "w1"), edge("e2", "w1", "w2", kind="delegate")],
    )
    issue = only(validate_graph(raw), "invalid_delegate")
    assert (issue.edge_id, issue.field) == ("e2", "source")


def test_it_reports_a_delegate_edge_to_a_node_that_cannot_take_tasks() -> None:
    raw = graph(
        [input_node("a"), node("m", "test_manager"), transform("t", "x")],
        [edge("e1", "a", "m"), edge("e2", "m", "t", kind="delegate")],
    )
    issue = only(validate_graph(raw, registry_with_manager()), "invalid_delegate")
    assert (issue.edge_id, issue.field) == ("e2", "target")


def test_it_accepts_a_delegate_edge_from_a_manager_to_a_worker() -> None:
    raw = graph(
        [input_node("a"), node("m", "test_manager"), worker("w")],
        [edge("e1", "a", "m"), edge("e2", "m", "w", kind="delegate")],
    )
    assert validate_graph(raw, registry_with_manager()) == []


def test_it_reports_a_manager_without_delegate_edges_on_the_manager() -> None:
    # A flow edge to a worker is not a delegation: the manager still has nobody to hand tasks to.
    raw = graph(
        [input_node("a"), node("lead", "manager"), worker("w"), output_node("out")],
        [edge("e1", "a", "lead"), edge("e2", "lead", "w"), edge("e3", "w", "out")],
    )
    issue = only(validate_graph(raw), "manager_without_workers")
    assert (issue.node_id, issue.edge_id, issue.field) == ("lead", None, None)
    assert issue.message == (
        "manager 'lead' has no delegate edges: wire it to the workers or managers it may hand "
        "tasks to"
    )
    with pytest.raises(GraphValidationError):
        compile_graph(raw)
    # One delegate edge is enough.
    raw["edges"].append(edge("e4", "lead", "w", kind="delegate"))
    assert validate_graph(raw) == []


def test_it_reports_a_conversation_with_fewer_than_two_participants_on_the_node() -> None:
    # One participant is no conversation; it is not a "manager without workers" either.
    raw = graph(
        [input_node("a"), node("talk", "conversation"), worker("w"), output_node("out")],
        [
            edge("e1", "a", "talk"),
            edge("e2", "talk", "w", kind="delegate"),
            edge("e3", "talk", "out"),
        ],
    )
    issue = only(validate_graph(raw), "too_few_participants")
    assert (issue.node_id, issue.edge_id, issue.field) == ("talk", None, None)
    assert issue.message == (
        "conversation 'talk' has 1 participant(s): wire it by delegate edges to at least 2 "
        "agents that take turns"
    )
    with pytest.raises(GraphValidationError):
        compile_graph(raw)
    # Without any, the same code (not manager_without_workers).
    raw["edges"].pop(1)
    assert codes(validate_graph(raw)) == {"too_few_participants"}
    # Two are enough; two edges to the same participant are still one participant.
    raw["nodes"].append(worker("v"))
    raw["edges"] += [
        edge("e2", "talk", "w", kind="delegate"),
        edge("e4", "talk", "v", kind="delegate"),
    ]
    assert validate_graph(raw) == []


def test_it_reports_a_subflow_without_a_workflow_on_its_setting() -> None:
    raw = chain(input_node("a"), node("call", "subflow"), output_node("out"))
    issue = only(validate_graph(raw), "subflow_without_workflow")
    assert (issue.node_id, issue.field) == ("call", "config.workflow")
    assert issue.message == "choose the workflow to run"
    with pytest.raises(GraphValidationError):
        compile_graph(raw)
    raw["nodes"][1]["config"]["workflow"] = "  "
    assert codes(validate_graph(raw)) == {"subflow_without_workflow"}
    raw["nodes"][1]["config"]["workflow"] = "5d0f6a4e-0000-4000-8000-000000000000"
    assert validate_graph(raw) == []


def test_it_reports_a_cycle_on_every_edge_in_it() -> None:
    raw = graph(
        [input_node("a"), transform("b", "b"), transform("c", "c"), output_node("d")],
        wire(("a", "b"), ("b", "c"), ("c", "b"), ("c", "d")),
    )
    issues = validate_graph(raw)
    assert codes(issues) == {"cycle"}
    assert {i.edge_id for i in issues} == {"e2", "e3"}


def test_it_does_not_blame_edges_leading_into_or_out_of_a_cycle() -> None:
    raw = graph(
        [
            input_node("a"),
            transform("b", "b"),
            transform("c", "c"),
            transform("d", "d"),
            transform("x", "x"),
            transform("y", "y"),
            output_node("o"),
        ],
        # a → b ⇄ c → d → x ⇄ y → o: two loops joined by an edge that is on neither
        wire(
            ("a", "b"),
            ("b", "c"),
            ("c", "b"),
            ("c", "d"),
            ("d", "x"),
            ("x", "y"),
            ("y", "x"),
            ("y", "o"),
        ),
    )
    issues = validate_graph(raw)
    assert codes(issues) == {"cycle"}
    assert sorted(i.edge_id for i in issues) == ["e2", "e3", "e6", "e7"]
    messages = {i.edge_id: i.message for i in issues}
    assert "(b → c)" in messages["e2"] and "(x → y)" in messages["e6"]


def test_it_reports_a_node_connected_to_itself_as_a_cycle() -> None:
    raw = graph([input_node("a"), transform("b", "b")], wire(("a", "b"), ("b", "b")))
    issue = only(validate_graph(raw), "cycle")
    assert issue.edge_id == "e2"


# -- templates and expressions ------------------------------------------------------------------


def test_it_reports_template_syntax_naming_the_field() -> None:
    raw = chain(input_node("a"), transform("t", "Hello {{ input.name "), output_node("o"))
    issue = only(validate_graph(raw), "template_syntax")
    assert (issue.node_id, issue.field) == ("t", "config.template")


def test_it_reports_template_syntax_in_an_output_value() -> None:
    raw = chain(input_node("a"), output_node("o", value="{% if %}"))
    issue = only(validate_graph(raw), "template_syntax")
    assert (issue.node_id, issue.field) == ("o", "config.value")


@pytest.mark.parametrize(
    ("template", "says"),
    [
        ("{{ " + "(" * 3000 + "1" + ")" * 3000 + " }}", "nested too deeply"),
        ("x" * 100_001, "longer than"),
        ("{% for loop in input %}{% endfor %}", "loop"),  # refused by jinja's code generator
    ],
    ids=["deep", "long", "codegen"],
)
def test_it_reports_templates_that_would_fail_to_compile_at_run_time(
    template: str, says: str
) -> None:
    raw = chain(input_node("a"), transform("t", template), output_node("o"))
    issue = only(validate_graph(raw), "template_syntax")
    assert (issue.node_id, issue.field) == ("t", "config.template")
    assert says in issue.message


@pytest.mark.parametrize(
    "when", ["true }}{{ nodes.o.output", "(" * 900 + "1" + ")" * 900, "x" * 2001]
)
def test_it_reports_expressions_that_would_fail_to_compile_at_run_time(when: str) -> None:
    raw = graph(
        [input_node("a"), router("r", [("ok", when)]), output_node("o")],
        wire(("a", "r"), ("r", "o", "ok")),
    )
    issue = only(validate_graph(raw), "expression_syntax")
    assert (issue.node_id, issue.field) == ("r", "config.routes[0].when")


def test_it_reports_a_template_reading_a_node_on_a_sibling_branch() -> None:
    raw = graph(
        [
            input_node("a"),
            transform("left", "L"),
            transform("right", "R sees {{ nodes.left.output }}"),
            output_node("o"),
        ],
        wire(("a", "left"), ("a", "right"), ("left", "o"), ("right", "o")),
    )
    issue = only(validate_graph(raw), "template_reference")
    assert (issue.node_id, issue.field) == ("right", "config.template")
    assert "'left'" in issue.message and "not upstream" in issue.message


def test_it_reports_a_template_reading_a_node_downstream() -> None:
    raw = chain(input_node("a"), transform("t", "{{ nodes['o'].output }}"), output_node("o"))
    issue = only(validate_graph(raw), "template_reference")
    assert (issue.node_id, issue.field) == ("t", "config.template")


def test_it_reports_a_template_reading_a_node_that_does_not_exist() -> None:
    raw = chain(input_node("a"), worker("w", "Use {{ nodes.ghost.output }}"), output_node("o"))
    issue = only(validate_graph(raw), "template_reference")
    assert (issue.node_id, issue.field) == ("w", "config.instructions")
    assert "'ghost'" in issue.message and "does not exist" in issue.message


def test_it_reports_a_template_reading_an_unknown_variable() -> None:
    raw = chain(input_node("a"), transform("t", "{{ secrets.key }}"), output_node("o"))
    issue = only(validate_graph(raw), "template_reference")
    assert (issue.node_id, issue.field) == ("t", "config.template")
    assert "'secrets'" in issue.message


def test_it_accepts_templates_reading_input_upstream_and_any_ancestor() -> None:
    raw = chain(
        input_node("a"),
        transform("t1", "{{ input.topic }}"),
        transform("t2", "{{ upstream }} {{ nodes.a.output }}"),
        output_node(
            "o", value="{{ nodes['t1'].output }} {% for x in range(2) %}{{ x }}{% endfor %}"
        ),
    )
    assert validate_graph(raw) == []


def test_it_reports_expression_syntax_naming_the_route() -> None:
    raw = graph(
        [input_node("a"), router("r", [("ok", "true"), ("big", "input.size >")]), output_node("o")],
        wire(("a", "r"), ("r", "o", "ok")),
    )
    issue = only(validate_graph(raw), "expression_syntax")
    assert (issue.node_id, issue.field) == ("r", "config.routes[1].when")


def test_it_reports_an_expression_reading_a_node_that_is_not_upstream() -> None:
    raw = graph(
        [input_node("a"), router("r", [("ok", "nodes.o.output")]), output_node("o")],
        wire(("a", "r"), ("r", "o", "ok")),
    )
    issue = only(validate_graph(raw), "expression_reference")
    assert (issue.node_id, issue.field) == ("r", "config.routes[0].when")


def test_it_reports_an_expression_reading_an_unknown_variable() -> None:
    raw = graph(
        [input_node("a"), router("r", [("ok", "score > 3")]), output_node("o")],
        wire(("a", "r"), ("r", "o", "ok")),
    )
    issue = only(validate_graph(raw), "expression_reference")
    assert "'score'" in issue.message


# -- several at once, the valid example, compile_graph ------------------------------------------


def test_it_reports_every_different_fault_at_once() -> None:
    raw = graph(
        [
            input_node("a"),
            node("mystery", "teleporter"),
            worker("w", temperature=9),
            transform("t", "{{ nodes.nowhere.output }}"),
            output_node("o"),
            input_node("a"),
        ],
        [
            edge("e1", "a", "mystery"),
            edge("e2", "a", "w"),
            edge("e3", "a", "t"),
            edge("e4", "t", "ghost"),
            edge("e5", "t", "o", "sideways"),
            {"source": "t", "target": "o"},
        ],
    )
    issues = validate_graph(raw)
    found = {(i.code, i.node_id, i.edge_id) for i in issues}
    assert ("unknown_type", "mystery", None) in found
    assert ("invalid_config", "w", None) in found
    assert ("duplicate_id", "a", None) in found
    assert ("dangling_edge", None, "e4") in found
    assert ("unknown_handle", None, "e5") in found
    assert ("missing_id", None, None) in found
    assert ("template_reference", "t", None) in found
    assert len(codes(issues)) == 7


def test_it_finds_no_issue_in_the_research_example() -> None:
    assert validate_graph(load_example("research")) == []


def test_it_compiles_the_research_example_into_a_plan() -> None:
    plan = compile_graph(load_example("research"))
    assert isinstance(plan, Plan)
    assert plan.roots == ("brief",)
    assert plan.output_nodes == ("publish", "too_short")
    assert set(plan.nodes) == {n["id"] for n in load_example("research")["nodes"]}


def test_it_raises_graph_validation_error_carrying_every_issue() -> None:
    raw = graph(
        [input_node("a"), node("b", "teleporter"), transform("t", "{{ oops")],
        wire(("a", "b"), ("a", "t"), ("t", "z")),
    )
    expected = validate_graph(raw)
    assert codes(expected) == {"unknown_type", "dangling_edge", "template_syntax"}
    with pytest.raises(GraphValidationError) as caught:
        compile_graph(raw)
    assert caught.value.issues == expected
    assert "3 validation error(s)" in str(caught.value)
    assert "'b'" in str(caught.value)


def test_it_serialises_an_issue_with_only_the_parts_it_names() -> None:
    issue = only(validate_graph(graph([input_node("a"), node("b", "x")])), "unknown_type")
    assert issue.to_dict() == {
        "code": "unknown_type",
        "message": issue.message,
        "node_id": "b",
        "field": "type",
    }
