"""The scheduling functions on compiled plans: what is ready, what is skipped, what a node gets."""

from __future__ import annotations

from runtime.scheduling import (
    SKIPPED,
    JoinCounts,
    advance,
    initial_ready,
    is_complete,
    readiness,
    run_output,
    step_input,
)
from tests.runtime.graphs import (
    chain,
    compiled,
    edge,
    graph,
    input_node,
    load_example,
    output_node,
    router,
    transform,
    wire,
    worker,
)


def diamond():
    return compiled(
        graph(
            [
                input_node("a"),
                transform("b", "b"),
                transform("c", "c"),
                transform("d", "d"),
                output_node("o"),
            ],
            wire(("a", "b"), ("a", "c"), ("b", "d"), ("c", "d"), ("d", "o")),
        )
    )


def branching():
    """a → r; r.yes → y1 → y2; r.no → n1 → n2; both ends meet at j → o."""
    return compiled(
        graph(
            [
                input_node("a"),
                router("r", [("yes", "input.ok"), ("no", "not input.ok")], default=None),
                transform("y1", "y1"),
                transform("y2", "y2"),
                transform("n1", "n1"),
                transform("n2", "n2"),
                transform("j", "j"),
                output_node("o"),
            ],
            wire(
                ("a", "r"),
                ("r", "y1", "yes"),
                ("y1", "y2"),
                ("r", "n1", "no"),
                ("n1", "n2"),
                ("y2", "j"),
                ("n2", "j"),
                ("j", "o"),
            ),
        )
    )


def test_it_runs_a_chain_one_node_at_a_time() -> None:
    plan = compiled(chain(input_node("a"), transform("b", "b"), output_node("c")))
    assert initial_ready(plan) == ["a"]
    outcomes = {"a": "out"}
    assert advance(plan, outcomes, "a").ready == ["b"]
    outcomes["b"] = "out"
    step = advance(plan, outcomes, "b")
    assert (step.ready, step.skipped) == (["c"], [])
    assert not is_complete(plan, outcomes)
    outcomes["c"] = "out"
    assert advance(plan, outcomes, "c").ready == []
    assert is_complete(plan, outcomes)


def test_it_makes_a_join_wait_for_both_sides_of_a_diamond() -> None:
    plan = diamond()
    outcomes = {"a": "out"}
    assert advance(plan, outcomes, "a").ready == ["b", "c"]
    outcomes["b"] = "out"
    assert advance(plan, outcomes, "b").ready == []
    assert readiness(plan, "d", outcomes) == "wait"
    outcomes["c"] = "out"
    assert readiness(plan, "d", outcomes) == "ready"
    assert advance(plan, outcomes, "c").ready == ["d"]


def test_it_starts_every_root_at_once_in_declaration_order() -> None:
    raw = graph(
        [
            transform("zeta", "z"),
            input_node("in"),
            transform("alpha", "a"),
            transform("join", "{{ upstream }}"),
            output_node("o"),
        ],
        wire(("zeta", "join"), ("in", "join"), ("alpha", "join"), ("join", "o")),
    )
    assert initial_ready(compiled(raw)) == ["zeta", "in", "alpha"]
    assert initial_ready(compiled(raw)) == ["zeta", "in", "alpha"]  # the same every time


def test_it_lists_ready_nodes_in_plan_order_whatever_the_edge_order() -> None:
    nodes = [input_node("a"), transform("t1", "1"), transform("t2", "2"), transform("t3", "3")]
    forward = compiled(graph(nodes, wire(("a", "t1"), ("a", "t2"), ("a", "t3"))))
    backward = compiled(graph(nodes, wire(("a", "t3"), ("a", "t2"), ("a", "t1"))))
    for plan in (forward, backward):
        assert advance(plan, {"a": "out"}, "a").ready == ["t1", "t2", "t3"]


def test_it_skips_the_branch_not_taken_down_the_whole_chain() -> None:
    plan = branching()
    outcomes = {"a": "out", "r": "yes"}
    step = advance(plan, outcomes, "r")
    assert step.ready == ["y1"]
    assert step.skipped == ["n1", "n2"]  # the skip cascades; j still waits for y2
    assert readiness(plan, "j", {**outcomes, "n1": SKIPPED, "n2": SKIPPED}) == "wait"


def test_it_runs_the_node_where_branches_meet_once_when_one_side_is_live() -> None:
    plan = branching()
    outcomes = {"a": "out", "r": "no", "n1": "out", "n2": "out", "y1": SKIPPED, "y2": SKIPPED}
    assert advance(plan, outcomes, "n2").ready == ["j"]
    outcomes["j"] = "out"
    assert advance(plan, outcomes, "j").ready == ["o"]
    assert step_input(plan, "j", {"n2": "from no"}, outcomes) == "from no"


def test_it_readies_a_node_reached_by_two_routes_of_one_router_once() -> None:
    plan = compiled(
        graph(
            [input_node("a"), router("r", [("x", "true"), ("y", "false")]), output_node("o")],
            wire(("a", "r"), ("r", "o", "x"), ("r", "o", "y")),
        )
    )
    step = advance(plan, {"a": "out", "r": "y"}, "r")
    assert (step.ready, step.skipped) == (["o"], [])


def test_it_skips_everything_behind_a_router_whose_branches_all_die() -> None:
    plan = branching()
    # The router left by a branch wired to nothing here ("maybe" is not in this plan's edges).
    step = advance(plan, {"a": "out", "r": "maybe"}, "r")
    assert step.ready == []
    assert step.skipped == ["y1", "y2", "n1", "n2", "j", "o"]


def test_it_routes_a_failure_along_the_error_edge() -> None:
    plan = compiled(
        graph(
            [
                input_node("a"),
                worker("w"),
                transform("ok", "fine"),
                transform("fix", "{{ upstream.message }}"),
                output_node("o"),
            ],
            [
                edge("e1", "a", "w"),
                edge("e2", "w", "ok"),
                edge("e3", "w", "fix", "error"),
                edge("e4", "ok", "o"),
                edge("e5", "fix", "o"),
            ],
        )
    )
    assert plan.handles_errors("w")
    assert not plan.handles_errors("ok")
    assert not plan.handles_errors("a")
    outcomes = {"a": "out", "w": "error"}
    step = advance(plan, outcomes, "w")
    assert (step.ready, step.skipped) == (["fix"], ["ok"])
    error = {"code": "provider_timeout", "message": "too slow"}
    assert step_input(plan, "fix", {"w": error}, outcomes) == error


def test_it_gives_a_node_its_one_live_upstream_output_as_is() -> None:
    plan = compiled(chain(input_node("a"), transform("b", "b"), output_node("c")))
    outputs = {"a": {"topic": "x"}, "b": ["a", "list"]}
    outcomes = {"a": "out", "b": "out"}
    assert step_input(plan, "b", outputs, outcomes) == {"topic": "x"}
    assert step_input(plan, "c", outputs, outcomes) == ["a", "list"]
    assert step_input(plan, "a", outputs, outcomes) is None  # a root reads the run input


def test_it_gives_a_join_a_dict_of_its_live_upstreams_by_node_id() -> None:
    plan = diamond()
    outputs = {"b": "from b", "c": "from c"}
    outcomes = {"a": "out", "b": "out", "c": "out"}
    assert step_input(plan, "d", outputs, outcomes) == {"b": "from b", "c": "from c"}
    # A skipped upstream is left out: one live upstream means its value, not a dict.
    assert step_input(plan, "d", outputs, {**outcomes, "c": SKIPPED}) == "from b"


def test_it_answers_the_single_output_value_as_the_run_output() -> None:
    plan = compiled(chain(input_node("a"), output_node("o")))
    assert run_output(plan, {"a": 1, "o": "done"}, {"a": "out", "o": "out"}) == "done"


def test_it_answers_an_object_of_the_output_nodes_that_ran() -> None:
    plan = compiled(load_example("research"))
    assert plan.output_nodes == ("publish", "too_short")
    outcomes = {"publish": "out", "too_short": SKIPPED}
    assert run_output(plan, {"publish": "brief"}, outcomes) == {"publish": "brief"}
    both = {"publish": "out", "too_short": "out"}
    assert run_output(plan, {"publish": 1, "too_short": 2}, both) == {"publish": 1, "too_short": 2}


def test_it_plays_the_research_example_to_completion_deterministically() -> None:
    """Drive the whole example with the pure functions alone, as an executor would."""

    def play() -> list[list[str]]:
        plan = compiled(load_example("research"))
        outcomes: dict[str, str] = {}
        waves, ready = [], initial_ready(plan)
        while ready:
            waves.append(ready)
            following: list[str] = []
            for node_id in ready:
                outcomes[node_id] = "long" if node_id == "size" else "out"
                progress = advance(plan, outcomes, node_id)
                outcomes.update(dict.fromkeys(progress.skipped, SKIPPED))
                following.extend(progress.ready)
            ready = following
        assert is_complete(plan, outcomes)
        assert outcomes["too_short"] == SKIPPED
        return waves

    expected = [["brief"], ["plan"], ["research", "critic"], ["merge"], ["size"], ["publish"]]
    assert play() == expected
    assert play() == expected


def _walk(plan, branches: dict[str, str], counts: JoinCounts | None) -> list[tuple]:
    """Run a plan to its end, each node leaving by ``branches`` (default ``out``), and note what
    every advance made ready and skipped."""
    outcomes: dict[str, str] = {}
    ready = list(initial_ready(plan))
    seen = []
    while ready:
        node = ready.pop(0)
        outcomes[node] = branches.get(node, "out")
        step = advance(plan, outcomes, node, counts)
        outcomes.update(dict.fromkeys(step.skipped, SKIPPED))
        seen.append((node, step.ready, step.skipped))
        ready.extend(step.ready)
    assert is_complete(plan, outcomes)
    return seen


def wide_join(width: int):
    """a → b0…b(width-1) → j → o, with every other branch behind a router that dies."""
    nodes = [input_node("a"), transform("j", "j"), output_node("o")]
    links = [("j", "o")]
    for i in range(width):
        nodes.append(transform(f"b{i}", str(i)))
        links.append((f"b{i}", "j"))
        if i % 2:
            nodes.append(router(f"r{i}", [("go", "false")], default=None))
            links += [("a", f"r{i}"), (f"r{i}", f"b{i}", "go")]
        else:
            links.append(("a", f"b{i}"))
    return compiled(graph(nodes, wire(*links)))


def test_counting_a_joins_edges_decides_as_reading_them_all_does() -> None:
    cases = [
        (diamond(), {}),
        (branching(), {"r": "yes"}),
        (branching(), {"r": "no"}),
        (branching(), {"r": "maybe"}),  # every branch dies: the rest is skipped
        (wide_join(9), {}),
    ]
    for plan, branches in cases:
        counted = _walk(plan, branches, JoinCounts(plan))
        assert counted == _walk(plan, branches, None)
    walked = _walk(wide_join(9), {}, JoinCounts(wide_join(9)))
    made_ready = [node for _, ready, _ in walked for node in ready]
    assert made_ready.count("j") == 1  # the join runs once, after its last branch
    assert made_ready.index("j") > max(made_ready.index(f"b{i}") for i in range(0, 9, 2))
