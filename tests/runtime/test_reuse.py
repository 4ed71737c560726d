"""Time travel in the engine: the reuse rule, the forecast, the in-process executor re-running from
a step of an exported event log, and the command line's ``--reuse/--from-step/--output``."""

from __future__ import annotations

import copy
import io
import json
from pathlib import Path
from typing import Any

import pytest

from runtime.cli import main
from runtime.event_log import EventLogError, parse_events, recorded_run
from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.graph import node_fingerprint
from runtime.plan import template_reads
from runtime.records import RunResult
from runtime.reuse import Recorded, ReusePlan, decide, downstream, forecast
from runtime.validation import compile_graph

EXAMPLE = Path(__file__).resolve().parents[2] / "examples" / "research.json"
TOPIC = {"topic": "owls"}


def research() -> dict[str, Any]:
    return json.loads(EXAMPLE.read_text())


def run_with_log(
    graph: dict[str, Any], reuse: ReusePlan | None = None
) -> tuple[RunResult, list[dict[str, Any]]]:
    sink = ListSink()
    result = InProcessExecutor(sink=sink).run_sync(copy.deepcopy(graph), TOPIC, reuse=reuse)
    return result, [event.to_dict() for event in sink.events]


def recorded(status: str = "succeeded", step_input: Any = "in", fingerprint: str = "f") -> Recorded:
    return Recorded("n", fingerprint, status, step_input, "out!", "out", cost=0.5)


# -- the rule --------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "step_input", "fingerprint", "executed", "reused"),
    [
        (ReusePlan(recorded={"n": recorded()}), "in", "f", set(), True),
        (ReusePlan(recorded={"n": recorded()}), "other input", "f", set(), False),
        (ReusePlan(recorded={"n": recorded()}), "in", "changed settings", set(), False),
        (ReusePlan(recorded={"n": recorded()}), "in", "f", {"up"}, False),  # upstream executed
        (ReusePlan(recorded={"n": recorded()}, forced=frozenset({"n"})), "in", "f", set(), False),
        (ReusePlan(recorded={"n": recorded("failed")}), "in", "f", set(), False),
        (ReusePlan(recorded={"n": recorded("skipped")}), "in", "f", set(), False),
        (ReusePlan(recorded={"n": recorded("reused")}), "in", "f", set(), True),
        (ReusePlan(recorded={}), "in", "f", set(), False),
    ],
)
def test_a_step_is_reused_only_when_nothing_it_depends_on_changed(
    plan: ReusePlan, step_input: Any, fingerprint: str, executed: set[str], reused: bool
) -> None:
    decision = decide(plan, "n", fingerprint, step_input, ["up"], executed)
    assert (decision is not None) is reused
    if decision is not None:
        assert (decision.kind, decision.output, decision.branch) == ("recorded", "out!", "out")


def test_edited_and_pinned_outputs_win_over_anything_recorded() -> None:
    plan = ReusePlan(recorded={"n": recorded()}, edited={"n": {"x": 1}}, forced=frozenset({"n"}))
    decision = decide(plan, "n", "other", None, ["up"], {"up"})
    assert decision is not None and (decision.kind, decision.output) == ("edited", {"x": 1})
    pinned = decide(ReusePlan(pinned={"n": [1, 2]}), "n", "f", None, [], set())
    assert pinned is not None and (pinned.kind, pinned.output, pinned.source) == (
        "pinned",
        [1, 2],
        None,
    )


def test_key_order_does_not_make_inputs_differ() -> None:
    plan = ReusePlan(recorded={"n": recorded(step_input={"a": 1, "b": [1, {"c": 2, "d": 3}]})})
    assert decide(plan, "n", "f", {"b": [1, {"d": 3, "c": 2}], "a": 1}, [], set()) is not None
    assert decide(plan, "n", "f", {"b": [{"d": 3, "c": 2}, 1], "a": 1}, [], set()) is None


def test_a_label_or_a_move_on_the_canvas_is_not_a_change_of_settings() -> None:
    node = {"id": "n", "type": "worker", "label": "A", "position": {"x": 1}, "config": {"x": 1}}
    moved = {**node, "label": "B", "position": {"x": 99}}
    assert node_fingerprint(node) == node_fingerprint(moved)
    assert node_fingerprint(node) != node_fingerprint({**node, "config": {"x": 2}})
    assert node_fingerprint(node) != node_fingerprint({**node, "type": "transform"})


def test_downstream_follows_edges_and_template_reads() -> None:
    plan = compile_graph(research())
    reads = {node_id: template_reads(planned) for node_id, planned in plan.nodes.items()}
    assert downstream(plan, "critic", reads) == {"critic", "merge", "size", "publish", "too_short"}
    # research and critic read plan's output by name as well as by edge.
    assert reads["research"] == {"plan"}
    assert downstream(plan, "plan", reads) == set(plan.nodes) - {"brief"}


# -- the in-process executor ---------------------------------------------------------------------


def test_rerun_from_a_step_reuses_upstream_and_executes_from_there() -> None:
    graph = research()
    first, events = run_with_log(graph)
    source = recorded_run(events)
    assert source.input == TOPIC and set(source.steps) == set(first.steps)
    plan = compile_graph(graph)
    reads = {node_id: template_reads(planned) for node_id, planned in plan.nodes.items()}
    reuse = ReusePlan(
        source_run=source.run_id,
        recorded=source.steps,
        forced=frozenset(downstream(plan, "merge", reads)),
    )
    second, log = run_with_log(graph, reuse)
    statuses = {key: step.status for key, step in second.steps.items()}
    assert statuses == {
        "brief": "reused",
        "plan": "reused",
        "research": "reused",
        "critic": "reused",
        "merge": "succeeded",
        "size": "succeeded",
        "publish": "succeeded",
        "too_short": "skipped",
    }
    assert second.output == first.output
    link = second.steps["plan"].reused_from
    assert link == {
        "kind": "recorded",
        "run": first.run_id,
        "step": "plan",
        "cost": 0.0,
        "tokens_in": 0,
        "tokens_out": 0,
    }
    assert second.totals.reused == 4
    # Nothing upstream started: no step.started event for a reused step.
    started = [event["step"] for event in log if event["type"] == "step.started"]
    assert started == ["merge", "size", "publish"]


def test_a_changed_node_and_everything_after_it_execute_again() -> None:
    graph = research()
    _, events = run_with_log(graph)
    changed = research()
    for node in changed["nodes"]:
        if node["id"] == "research":
            node["config"]["instructions"] = "Find two facts. {{ nodes.plan.output }}"
    result, _ = run_with_log(changed, ReusePlan(recorded=recorded_run(events).steps))
    executed = {key for key, step in result.steps.items() if step.status == "succeeded"}
    assert executed == {"research", "merge", "size", "publish"}
    assert "Find two facts" in result.output["publish"]


def test_forecast_matches_what_the_run_then_does() -> None:
    graph = research()
    _, events = run_with_log(graph)
    plan = compile_graph(graph)
    reads = {node_id: template_reads(planned) for node_id, planned in plan.nodes.items()}
    reuse = ReusePlan(
        recorded=recorded_run(events).steps, forced=frozenset(downstream(plan, "critic", reads))
    )
    verdicts = forecast(plan, reuse, reads)
    assert verdicts == {
        "brief": "reuse",
        "plan": "reuse",
        "research": "reuse",
        "critic": "execute",
        "merge": "execute",
        "size": "execute",
        "publish": "execute",
        "too_short": "execute",
    }
    result, _ = run_with_log(graph, reuse)
    actual = {key: step.status for key, step in result.steps.items()}
    assert {k for k, v in verdicts.items() if v == "reuse"} == {
        k for k, v in actual.items() if v == "reused"
    }


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "empty"),
        ("not json\n", "line 1 is not JSON"),
        ('{"seq": 1}\n', "line 1 is not an event"),
        ('{"type": "step.chunk", "step": "x.y.1"}\n', "no run events"),
    ],
)
def test_a_file_that_is_not_an_event_log_is_refused(text: str, message: str) -> None:
    with pytest.raises(EventLogError, match=message):
        recorded_run(parse_events(text))


def test_the_events_api_page_is_read_like_json_lines() -> None:
    _, events = run_with_log(research())
    page = json.dumps({"events": events, "last_seq": len(events), "more": False})
    assert recorded_run(parse_events(page)).steps == recorded_run(events).steps


# -- the command line ------------------------------------------------------------------------------


def cli(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_the_command_line_reruns_from_a_step_of_an_exported_log(tmp_path: Path) -> None:
    code, log, _ = cli("run", str(EXAMPLE), "--input", json.dumps(TOPIC), "--json")
    assert code == 0
    (tmp_path / "run.jsonl").write_text(log)
    code, out, err = cli(
        "run", str(EXAMPLE), "--reuse", str(tmp_path / "run.jsonl"), "--from-step", "merge"
    )
    assert code == 0, err
    assert "↺ plan reused from run" in out
    assert "● merge started" in out and "● plan started" not in out
    assert "4 step(s) reused" in out
    code, out, _ = cli(
        "run",
        str(EXAMPLE),
        "--reuse",
        str(tmp_path / "run.jsonl"),
        "--from-step",
        "critic",
        "--output",
        '"no risks"',
    )
    assert code == 0
    assert "↺ critic edited" in out and "Risks: no risks" in out


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["--from-step", "merge"], "need --reuse"),
        (["--reuse", "LOG", "--output", "1"], "--output needs --from-step"),
        (["--reuse", "LOG", "--from-step", "nope"], "the flow has no node 'nope'"),
        (["--reuse", "missing.jsonl"], "cannot read missing.jsonl"),
        (["--reuse", "LOG", "--from-step", "critic", "--output", "{bad"], "--output is not JSON"),
    ],
)
def test_the_command_line_refuses_bad_reuse_arguments(
    tmp_path: Path, argv: list[str], message: str
) -> None:
    _, log, _ = cli("run", str(EXAMPLE), "--input", json.dumps(TOPIC), "--json")
    (tmp_path / "run.jsonl").write_text(log)
    argv = [str(tmp_path / "run.jsonl") if arg == "LOG" else arg for arg in argv]
    code, _, err = cli("run", str(EXAMPLE), *argv)
    assert code == 2
    assert message in err


def test_an_exported_log_counts_a_managers_tasks_and_a_reused_steps_first_cost() -> None:
    events = [
        {"type": "run.started", "run": "r1", "data": {"input": {}}},
        {"type": "step.started", "step": "lead", "data": {"input": "brief"}},
        {
            "type": "step.succeeded",
            "step": "lead.alpha.1",
            "data": {"cost": 0.25, "tokens_in": 3, "tokens_out": 4},
        },
        {
            "type": "step.succeeded",
            "step": "lead",
            "data": {
                "output": "x",
                "cost": 0.5,
                "tokens_in": 10,
                "tokens_out": 20,
                "fingerprint": "f",
            },
        },
        {
            "type": "step.reused",
            "step": "plan",
            "data": {
                "input": 1,
                "output": 2,
                "fingerprint": "g",
                "from": {
                    "kind": "recorded",
                    "run": "r0",
                    "step": "plan",
                    "cost": 0.125,
                    "tokens_in": 5,
                    "tokens_out": 6,
                },
            },
        },
    ]
    steps = recorded_run(events).steps
    assert (steps["lead"].cost, steps["lead"].tokens_in, steps["lead"].tokens_out) == (0.75, 13, 24)
    assert steps["lead"].input == "brief" and "lead.alpha.1" not in steps
    assert (
        steps["plan"].status,
        steps["plan"].cost,
        steps["plan"].tokens_in,
        steps["plan"].input,
    ) == ("reused", 0.125, 5, 1)


TALK = {
    "nodes": [
        {"id": "brief", "type": "input"},
        {
            "id": "talk",
            "type": "conversation",
            "config": {"topic": "On {{ input.topic }}", "max_turns": 4},
        },
        {"id": "writer", "type": "worker", "config": {"model": "local/echo", "role": "Writer"}},
        {"id": "critic", "type": "worker", "config": {"model": "local/echo", "role": "Critic"}},
        {"id": "done", "type": "output"},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "talk"},
        {"id": "e2", "source": "talk", "target": "done"},
        {"id": "d1", "source": "talk", "target": "writer", "kind": "delegate"},
        {"id": "d2", "source": "talk", "target": "critic", "kind": "delegate"},
    ],
}


def test_the_command_line_reruns_from_a_conversation_turn(tmp_path: Path) -> None:
    flow = tmp_path / "talk.json"
    flow.write_text(json.dumps(TALK))
    code, log, _ = cli("run", str(flow), "--input", json.dumps(TOPIC), "--json")
    assert code == 0
    (tmp_path / "run.jsonl").write_text(log)
    code, out, err = cli(
        "run",
        str(flow),
        "--reuse",
        str(tmp_path / "run.jsonl"),
        "--from-step",
        "talk.critic.2",
        "--output",
        '"Shorter, please."',
        "--json",
    )
    assert code == 0, err
    events = [json.loads(line) for line in out.splitlines()]
    reused = [e["step"] for e in events if e["type"] == "step.reused"]
    assert reused == ["brief", "talk.writer.1", "talk.critic.2"]
    started = [e["step"] for e in events if e["type"] == "step.started"]
    assert started == ["talk", "talk.writer.3", "talk", "talk.critic.4", "talk", "done"]
    turn_3 = next(e for e in events if e["type"] == "step.started" and e["step"] == "talk.writer.3")
    assert "Shorter, please." in json.dumps(turn_3["data"]["input"])
    code, _, err = cli(
        "run", str(flow), "--reuse", str(tmp_path / "run.jsonl"), "--from-step", "talk.critic.9"
    )
    assert code == 2 and "no finished task 'talk.critic.9'" in err
