"""Whatever JSON it is handed, validate_graph answers with issues and compile_graph with a Plan or
GraphValidationError: nothing else ever escapes."""

from __future__ import annotations

from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from runtime.errors import GraphValidationError
from runtime.graph import Issue
from runtime.plan import Plan
from runtime.validation import compile_graph, validate_graph

CODES = {
    "invalid_graph",
    "too_many_nodes",
    "too_many_edges",
    "empty_graph",
    "missing_id",
    "invalid_node",
    "invalid_edge",
    "duplicate_id",
    "duplicate_edge",
    "unknown_type",
    "invalid_config",
    "dangling_edge",
    "unknown_handle",
    "invalid_delegate",
    "manager_without_workers",
    "too_few_participants",
    "subflow_without_workflow",
    "cycle",
    "template_syntax",
    "template_reference",
    "expression_syntax",
    "expression_reference",
}

IDS = ["a", "b", "c", "d", "e1", "e2", "out"]
TYPES = [
    "input",
    "output",
    "transform",
    "worker",
    "router",
    "manager",
    "conversation",
    "subflow",
    "",
    "Worker",
]
HANDLES = ["out", "error", "yes", "no", "default", "in", "approved", ""]
TEXTS = [
    "{{ input.topic }}",
    "{{ nodes.a.output }}",
    "{{ nodes['b'].output }}",
    "{{ nodes.ghost.output }}",
    "{{ upstream | upper }}",
    "{{ secret }}",
    "{% for x in input %}{{ x }}{% endfor %}",
    "{{ oops",
    "{% if %}",
    "{{ ''.__class__ }}",
    "input.score > 3",
    "nodes.c.output == 'x'",
    "true }}{{ x",
    "{{ " + "(" * 120 + "1" + ")" * 120 + " }}",  # deeper than jinja's parser can recurse
    "",
    " ",
]

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(IDS + TYPES + TEXTS),
)
garbage = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=12,
)
maybe = lambda values: st.one_of(st.sampled_from(values), garbage)  # noqa: E731

routes = st.lists(
    st.one_of(
        st.fixed_dictionaries({"name": maybe(HANDLES), "when": maybe(TEXTS)}),
        garbage,
    ),
    max_size=3,
)
retry = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "max_attempts": st.one_of(st.integers(-2, 30), garbage),
            "initial_delay": st.one_of(st.floats(-1, 700), garbage),
            "retry_on": st.one_of(st.lists(st.sampled_from(["rate_limited", "x"])), garbage),
        },
    ),
    garbage,
)
configs = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "template": maybe(TEXTS),
            "instructions": maybe(TEXTS),
            "value": maybe(TEXTS),
            "model": maybe(["local/echo", "openai/gpt-4o-mini", "nope"]),
            "role": garbage,
            "temperature": st.one_of(st.floats(-1, 3), garbage),
            "timeout": st.one_of(st.floats(-1, 4000), garbage),
            "routes": st.one_of(routes, garbage),
            "default": maybe([*HANDLES, None]),
            "fields": st.one_of(
                st.just({"type": "object", "required": ["topic"]}),
                st.just({"type": "nonsense"}),
                st.just({"properties": {"x": {"pattern": "("}}}),
                garbage,
            ),
            "parse_json": garbage,
            "retry": retry,
            "unexpected": garbage,
        },
    ),
    garbage,
)
nodes = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": maybe(IDS),
            "type": maybe(TYPES),
            "label": garbage,
            "position": st.one_of(
                st.fixed_dictionaries({"x": st.floats(), "y": st.floats()}), garbage
            ),
            "config": configs,
        },
    ),
    garbage,
)
edges = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "id": maybe(IDS),
            "source": maybe(IDS),
            "target": maybe(IDS),
            "kind": maybe(["flow", "delegate", "sideways"]),
            "source_handle": maybe(HANDLES),
            "target_handle": maybe(HANDLES),
        },
    ),
    garbage,
)
graphs = st.one_of(
    st.fixed_dictionaries(
        {},
        optional={
            "nodes": st.one_of(st.lists(nodes, max_size=8), garbage),
            "edges": st.one_of(st.lists(edges, max_size=10), garbage),
            "extra": garbage,
        },
    ),
    garbage,
)
# Graphs built mostly from well-formed parts, so the deeper checks (handles, cycles, templates)
# are reached often, not only the first structural ones.
texts = st.sampled_from(TEXTS)
plausible_configs = {
    "input": st.fixed_dictionaries({}, optional={"fields": st.just({"type": "object"})}),
    "output": st.fixed_dictionaries({}, optional={"value": texts}),
    "transform": st.fixed_dictionaries({"template": texts}),
    "worker": st.fixed_dictionaries({"instructions": texts}, optional={"timeout": st.floats()}),
    "router": st.fixed_dictionaries(
        {
            "routes": st.lists(
                st.fixed_dictionaries({"name": st.sampled_from(["yes", "no"]), "when": texts}),
                min_size=1,
                max_size=2,
            )
        },
        optional={"default": st.sampled_from(["default", "no", None])},
    ),
}
well_formed_nodes = st.sampled_from(sorted(plausible_configs)).flatmap(
    lambda type_: st.fixed_dictionaries(
        {
            "id": st.sampled_from(IDS),
            "type": st.just(type_),
            "config": st.one_of(plausible_configs[type_], configs),
        }
    )
)
well_formed_edges = st.fixed_dictionaries(
    {"id": st.sampled_from(IDS), "source": st.sampled_from(IDS), "target": st.sampled_from(IDS)},
    optional={
        "kind": st.sampled_from(["flow", "delegate"]),
        "source_handle": st.sampled_from(HANDLES),
    },
)
mostly_valid = st.fixed_dictionaries(
    {
        "nodes": st.lists(well_formed_nodes, min_size=1, max_size=7, unique_by=lambda n: n["id"]),
        "edges": st.lists(well_formed_edges, max_size=9),
    }
)

FUZZ = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def check(raw: Any) -> None:
    issues = validate_graph(raw)
    assert isinstance(issues, list)
    for issue in issues:
        assert isinstance(issue, Issue)
        assert issue.code in CODES
        assert isinstance(issue.message, str) and issue.message
        assert issue.node_id is None or isinstance(issue.node_id, str)
        assert issue.edge_id is None or isinstance(issue.edge_id, str)
        assert set(issue.to_dict()) <= {"code", "message", "node_id", "edge_id", "field"}
    try:
        plan = compile_graph(raw)
    except GraphValidationError as exc:
        assert issues, "compile_graph refused a graph validate_graph accepted"
        assert [i.to_dict() for i in exc.issues] == [i.to_dict() for i in issues]
    else:
        assert isinstance(plan, Plan)
        assert issues == [], "compile_graph accepted a graph validate_graph refused"


@FUZZ
@given(graphs)
def test_it_never_raises_on_random_graph_shaped_json(raw: Any) -> None:
    check(raw)


@FUZZ
@given(mostly_valid)
def test_it_never_raises_on_nearly_valid_graphs(raw: dict[str, Any]) -> None:
    check(raw)
