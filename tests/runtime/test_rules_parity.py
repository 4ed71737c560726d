"""The server's graph validation gives the verdicts the canvas gives while dragging.

The cases live in tests/fixtures/graph_rules_cases.json; frontend/src/graph/rulesParity.test.ts
runs the same cases through the canvas's rules (frontend/src/graph/rules.ts). A connection the
canvas allows must compile here; one it refuses must be refused here with the issue code the
cases file names for that rule, on the edge the canvas would have saved, and with no other issue.
"""

from __future__ import annotations

import copy
import json
from typing import Any

import pytest

from runtime.nodes.registry import default_registry
from runtime.validation import compile_graph, validate_graph
from tests.runtime.graphs import REPO

CASES_FILE = REPO / "tests" / "fixtures" / "graph_rules_cases.json"
CASES: dict[str, Any] = json.loads(CASES_FILE.read_text())
# The catalogue the canvas's side of the parity runs on: the frontend's saved copy of ours.
FRONTEND_CATALOGUE = REPO / "frontend" / "src" / "test" / "fixtures"
RULE_FIELDS = ("inputs", "outputs", "dynamic_outputs", "can_delegate", "delegatable")
# Sent by the server since map and loop; a saved entry without it means False.
OPTIONAL_RULE_FIELDS = ("delegates_to_any",)


def graph_of(case: dict[str, Any]) -> dict[str, Any]:
    """The case's base graph with its change made: the connection added (in place of the edge it
    moves, if any) or a node's settings replaced."""
    graph: dict[str, Any] = copy.deepcopy(CASES["graphs"][case["graph"]])
    if "connect" in case:
        kept = [edge for edge in graph["edges"] if edge["id"] != case.get("replacing")]
        graph["edges"] = [*kept, case["edge"]]
    if "change" in case:
        for node in graph["nodes"]:
            if node["id"] == case["change"]["node"]:
                node["config"] = case["change"]["config"]
    return graph


@pytest.mark.parametrize("name", sorted(CASES["graphs"]))
def test_every_base_graph_is_valid(name: str) -> None:
    compile_graph(CASES["graphs"][name])


@pytest.mark.parametrize("case", CASES["cases"], ids=[case["name"] for case in CASES["cases"]])
def test_the_server_gives_the_canvas_verdict(case: dict[str, Any]) -> None:
    issues = validate_graph(graph_of(case))
    found = [issue.to_dict() for issue in issues]
    if case["verdict"] == "allowed":
        assert found == []
        compile_graph(graph_of(case))
        return
    assert case["verdict"] == "refused"
    expected = CASES["server_codes"][case["rule"]]
    assert {issue.code for issue in issues} == {expected}, found
    assert case["edge"]["id"] in {issue.edge_id for issue in issues}, found


def test_every_rule_has_a_refused_and_an_allowed_case() -> None:
    verdicts: dict[str, set[str]] = {rule: set() for rule in CASES["server_codes"]}
    for case in CASES["cases"]:
        verdicts[case["rule"]].add(case["verdict"])
    assert verdicts == {rule: {"allowed", "refused"} for rule in CASES["server_codes"]}


def test_the_canvas_judges_on_the_catalogue_the_server_has() -> None:
    """What the rules read from a node type (its handles, whether it delegates or takes tasks, and
    the default branch of a type with dynamic outputs) is the same in the frontend's catalogue."""
    saved = [
        *json.loads((FRONTEND_CATALOGUE / "node-types.json").read_text()),
        *json.loads((FRONTEND_CATALOGUE / "node-types.planned.json").read_text()),
    ]
    by_type = {spec["type"]: spec for spec in saved}
    used = {node["type"] for graph in CASES["graphs"].values() for node in graph["nodes"]}
    for type_name in sorted(used):
        node_type = default_registry.get(type_name)
        assert node_type is not None, type_name
        server = node_type.describe()
        canvas = by_type[type_name]
        for field in RULE_FIELDS:
            assert canvas[field] == server[field], (type_name, field)
        for field in OPTIONAL_RULE_FIELDS:
            assert canvas.get(field, False) == server[field], (type_name, field)
        default_branch = server["config_schema"]["properties"].get("default", {}).get("default")
        saved_default = canvas["config_schema"]["properties"].get("default", {}).get("default")
        assert saved_default == default_branch, type_name
