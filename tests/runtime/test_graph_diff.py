"""diff_graphs: what changed between two versions of a graph, by the reuse rule's fingerprint."""

from __future__ import annotations

import copy
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from runtime.graph_diff import diff_graphs, settings_diff
from runtime.reuse import node_fingerprint

BEFORE: dict[str, Any] = {
    "nodes": [
        {"id": "brief", "type": "input", "label": "Brief", "position": {"x": 0, "y": 0}},
        {
            "id": "writer",
            "type": "worker",
            "label": "Writer",
            "position": {"x": 250, "y": 0},
            "config": {
                "model": "local/echo",
                "instructions": "Write about {{ input.topic }}.",
                "retry": {"max_attempts": 2, "backoff": 1.5},
                "tools": ["calculator"],
            },
        },
        {
            "id": "route",
            "type": "router",
            "label": "Route",
            "position": {"x": 500, "y": 0},
            "config": {"routes": [{"name": "yes", "when": "x > 1"}], "default": "no"},
        },
        {"id": "old", "type": "transform", "label": "Old", "config": {"template": "x"}},
        {"id": "result", "type": "output", "label": "Result", "position": {"x": 750, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "writer"},
        {"id": "e2", "source": "writer", "target": "route"},
        {"id": "e3", "source": "route", "target": "result", "source_handle": "yes"},
        {"id": "e4", "source": "route", "target": "old", "source_handle": "no"},
    ],
}


def after_edits() -> dict[str, Any]:
    graph = copy.deepcopy(BEFORE)
    nodes = {node["id"]: node for node in graph["nodes"]}
    writer = nodes["writer"]["config"]
    writer["instructions"] = "Write three facts about {{ input.topic }}."
    writer["retry"]["max_attempts"] = 3
    writer["tools"] = ["calculator", "http"]
    nodes["route"]["label"] = "Decide"
    nodes["result"]["position"] = {"x": 800, "y": 40}
    graph["nodes"] = [n for n in graph["nodes"] if n["id"] != "old"]
    graph["nodes"].append({"id": "summary", "type": "transform", "config": {"template": "y"}})
    graph["edges"] = [
        # same connections, new ids (the canvas may regenerate them)
        {"id": "x1", "source": "brief", "target": "writer", "kind": "flow"},
        {"id": "x2", "source": "writer", "target": "route", "source_handle": "out"},
        {"id": "x3", "source": "route", "target": "result", "source_handle": "yes"},
        {"id": "x5", "source": "route", "target": "summary", "source_handle": "no"},
    ]
    return graph


def test_nodes_added_removed_changed_and_moved_or_renamed() -> None:
    diff = diff_graphs(BEFORE, after_edits())
    nodes = diff["nodes"]
    assert nodes["added"] == [{"id": "summary", "type": "transform", "label": ""}]
    assert nodes["removed"] == [{"id": "old", "type": "transform", "label": "Old"}]
    assert [change["id"] for change in nodes["changed"]] == ["writer"]
    assert {c["id"]: (c["renamed"], c["moved"]) for c in nodes["moved_or_renamed"]} == {
        "route": (True, False),
        "result": (False, True),
    }
    route = next(c for c in nodes["moved_or_renamed"] if c["id"] == "route")
    assert (route["label_before"], route["label"], route["settings"]) == ("Route", "Decide", [])
    assert nodes["unchanged"] == 1  # brief


def test_the_settings_diff_lists_every_differing_leaf_by_path() -> None:
    writer = diff_graphs(BEFORE, after_edits())["nodes"]["changed"][0]
    assert writer == {
        "id": "writer",
        "type": "worker",
        "label": "Writer",
        "label_before": "Writer",
        "renamed": False,
        "moved": False,
        "settings": [
            {
                "path": "config.instructions",
                "change": "changed",
                "before": "Write about {{ input.topic }}.",
                "after": "Write three facts about {{ input.topic }}.",
            },
            {"path": "config.retry.max_attempts", "change": "changed", "before": 2, "after": 3},
            # lists of different lengths are compared as whole values
            {
                "path": "config.tools",
                "change": "changed",
                "before": ["calculator"],
                "after": ["calculator", "http"],
            },
        ],
    }


def test_lists_of_equal_length_are_compared_item_by_item() -> None:
    before = {"type": "router", "config": {"routes": [{"name": "yes", "when": "x > 1"}, "b"]}}
    after = {"type": "router", "config": {"routes": [{"name": "yes", "when": "x > 2"}, "c"]}}
    assert settings_diff(before, after) == [
        {"path": "config.routes[0].when", "change": "changed", "before": "x > 1", "after": "x > 2"},
        {"path": "config.routes[1]", "change": "changed", "before": "b", "after": "c"},
    ]


def test_keys_added_or_removed_are_listed_whole_and_odd_keys_are_quoted() -> None:
    before = {"type": "worker", "config": {"model": "local/echo", "a.b": 1, "retry": {"x": 1}}}
    after = {"type": "worker", "config": {"model": "local/echo", 'say "hi"': 2, "retry": {}}}
    assert settings_diff(before, after) == [
        {"path": 'config["a.b"]', "change": "removed", "before": 1, "after": None},
        {"path": "config.retry.x", "change": "removed", "before": 1, "after": None},
        {"path": 'config["say \\"hi\\""]', "change": "added", "before": None, "after": 2},
    ]


def test_a_changed_type_is_a_change_of_its_own() -> None:
    before = {"nodes": [{"id": "a", "type": "transform", "config": {"template": "x"}}]}
    after = {"nodes": [{"id": "a", "type": "worker", "config": {"template": "x"}}]}
    (change,) = diff_graphs(before, after)["nodes"]["changed"]
    assert change["type"] == "worker"
    assert change["settings"] == [
        {"path": "type", "change": "changed", "before": "transform", "after": "worker"}
    ]


def test_values_compare_as_the_fingerprint_does() -> None:
    # 1, 1.0 and true are different settings to the reuse rule, so they are to the diff
    for left, right in ((1, 1.0), (1, True), (0, False), (None, 0)):
        before = {"nodes": [{"id": "a", "type": "t", "config": {"n": left}}]}
        after = {"nodes": [{"id": "a", "type": "t", "config": {"n": right}}]}
        assert node_fingerprint(before["nodes"][0]) != node_fingerprint(after["nodes"][0])
        (change,) = diff_graphs(before, after)["nodes"]["changed"]
        assert change["settings"] == [
            {"path": "config.n", "change": "changed", "before": left, "after": right}
        ]
    # key order is no change at all, and a missing config is an empty one
    before = {"nodes": [{"id": "a", "type": "t", "config": {"x": 1, "y": 2}}, {"id": "b"}]}
    after = {
        "nodes": [{"id": "a", "type": "t", "config": {"y": 2, "x": 1}}, {"id": "b", "config": {}}]
    }
    assert diff_graphs(before, after)["nodes"]["unchanged"] == 2


def test_positions_compare_as_places() -> None:
    before = {"nodes": [{"id": "a", "type": "t", "position": {"x": 250, "y": 0}}]}
    after = {"nodes": [{"id": "a", "type": "t", "position": {"x": 250.0, "y": 0.0}}]}
    assert diff_graphs(before, after)["nodes"]["unchanged"] == 1


def test_a_changed_node_also_says_whether_it_moved_or_was_renamed() -> None:
    before = {"nodes": [{"id": "a", "type": "t", "label": "A", "config": {"n": 1}}]}
    after = {
        "nodes": [{"id": "a", "type": "t", "label": "B", "position": {"x": 5}, "config": {"n": 2}}]
    }
    diff = diff_graphs(before, after)["nodes"]
    assert diff["moved_or_renamed"] == []
    (change,) = diff["changed"]
    assert (change["renamed"], change["moved"], change["label_before"]) == (True, True, "A")


def test_edges_are_matched_by_what_they_connect_not_by_id() -> None:
    edges = diff_graphs(BEFORE, after_edits())["edges"]
    assert edges["added"] == [
        {
            "id": "x5",
            "source": "route",
            "target": "summary",
            "kind": "flow",
            "source_handle": "no",
            "target_handle": "in",
        }
    ]
    assert edges["removed"] == [
        {
            "id": "e4",
            "source": "route",
            "target": "old",
            "kind": "flow",
            "source_handle": "no",
            "target_handle": "in",
        }
    ]


def test_an_edge_moved_to_another_handle_or_kind_is_removed_and_added() -> None:
    before = {"nodes": [], "edges": [{"id": "e", "source": "m", "target": "w"}]}
    after = {"nodes": [], "edges": [{"id": "e", "source": "m", "target": "w", "kind": "delegate"}]}
    edges = diff_graphs(before, after)["edges"]
    assert [e["kind"] for e in edges["added"]] == ["delegate"]
    assert [e["kind"] for e in edges["removed"]] == ["flow"]


def test_a_duplicated_edge_counts_once() -> None:
    one = {"id": "e1", "source": "a", "target": "b"}
    before = {"nodes": [], "edges": [one]}
    after = {"nodes": [], "edges": [one, {**one, "id": "e2"}]}
    assert [e["id"] for e in diff_graphs(before, after)["edges"]["added"]] == ["e2"]
    assert [e["id"] for e in diff_graphs(after, before)["edges"]["removed"]] == ["e2"]


def test_the_same_graph_has_no_changes_and_drafts_do_not_break_it() -> None:
    assert diff_graphs(BEFORE, copy.deepcopy(BEFORE)) == {
        "nodes": {
            "added": [],
            "removed": [],
            "changed": [],
            "moved_or_renamed": [],
            "unchanged": 5,
        },
        "edges": {"added": [], "removed": []},
    }
    draft = {
        "nodes": [
            {"type": "worker"},
            {"id": 7},
            "x",
            {"id": "a", "type": "t"},
            {"id": "a", "type": "u"},
        ],
        "edges": [{"id": "e", "source": "a"}, 3, {"source": "a", "target": "b"}],
    }
    diff = diff_graphs({"nodes": "nope"}, draft)
    assert diff["nodes"]["added"] == [{"id": "a", "type": "t", "label": ""}]  # the first "a"
    assert diff["edges"]["added"] == [
        {
            "id": "",
            "source": "a",
            "target": "b",
            "kind": "flow",
            "source_handle": "out",
            "target_handle": "in",
        }
    ]
    assert diff_graphs({}, {})["nodes"]["unchanged"] == 0


JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-3, 3)
    | st.sampled_from([0.0, 1.0, 1.5])
    | st.text("ab", max_size=2),
    lambda inner: (
        st.lists(inner, max_size=3)
        | st.dictionaries(st.sampled_from(["a", "b", "c.d"]), inner, max_size=3)
    ),
    max_leaves=8,
)


@settings(max_examples=300, derandomize=True)
@given(
    st.sampled_from(["worker", "router"]),
    st.sampled_from(["worker", "router"]),
    JSON,
    JSON,
)
def test_a_node_has_settings_listed_exactly_when_its_fingerprint_differs(
    type_before: str, type_after: str, config_before: Any, config_after: Any
) -> None:
    before = {"id": "n", "type": type_before, "config": config_before}
    after = {"id": "n", "type": type_after, "config": config_after}
    diff = diff_graphs({"nodes": [before]}, {"nodes": [after]})["nodes"]
    differs = node_fingerprint(before) != node_fingerprint(after)
    assert bool(diff["changed"]) == differs
    assert bool(settings_diff(before, after)) == differs
    assert diff["unchanged"] == (0 if differs else 1)
