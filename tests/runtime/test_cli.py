"""``python -m runtime`` run as a real subprocess, as a person or a script would."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.graphs import REPO, edge, graph, input_node, node, output_node, transform

EXAMPLE = "examples/research.json"


def cli(*args: str, stdin: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        cwd=REPO,
        env=env,
        input=stdin,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def write(path: Path, data: Any) -> str:
    path.write_text(json.dumps(data), encoding="utf-8")
    return str(path)


def assert_no_traceback(proc: subprocess.CompletedProcess[str]) -> None:
    assert "Traceback" not in proc.stderr and "Traceback" not in proc.stdout


def test_it_runs_the_example_printing_steps_and_the_output() -> None:
    proc = cli("run", EXAMPLE, "--input", '{"topic": "x"}')
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    for step in ("brief", "plan", "research", "critic", "merge", "size", "publish"):
        assert f"● {step} started" in out
        assert f"✔ {step} succeeded" in out
    assert "✔ size succeeded → long" in out
    assert "○ too_short skipped" in out
    assert "local/echo" in out and "tokens" in out
    output = out.split("\nOutput:\n", 1)[1]
    assert '"publish": "Facts: [local model: offline stand-in, not an AI]' in output
    assert "status succeeded" in output
    assert_no_traceback(proc)


def test_it_prints_every_event_as_a_json_line() -> None:
    proc = cli("run", EXAMPLE, "--input", '{"topic": "x"}', "--json")
    assert proc.returncode == 0, proc.stderr
    events = [json.loads(line) for line in proc.stdout.splitlines()]
    assert events and all(isinstance(e.get("type"), str) for e in events)
    assert events[0]["type"] == "run.started"
    assert events[0]["data"] == {"input": {"topic": "x"}}
    assert events[-1]["type"] == "run.succeeded"
    assert [e["seq"] for e in events] == list(range(1, len(events) + 1))
    assert len({e["run"] for e in events}) == 1
    succeeded = [e["step"] for e in events if e["type"] == "step.succeeded"]
    assert succeeded[0] == "brief" and succeeded[-1] == "publish"
    assert {"step.chunk", "step.skipped"} <= {e["type"] for e in events}
    assert events[-1]["data"]["output"]["publish"].startswith("Facts:")


def test_it_reads_the_flow_from_stdin_and_the_input_from_a_file(tmp_path: Path) -> None:
    flow = graph(
        [input_node("in"), output_node("out", "Hello {{ input.name }}")],
        [edge("e1", "in", "out")],
    )
    source = write(tmp_path / "input.json", {"name": "Ada"})
    proc = cli("run", "-", "--input", f"@{source}", stdin=json.dumps(flow))
    assert proc.returncode == 0, proc.stderr
    assert "Hello Ada" in proc.stdout.split("Output:")[1]


def test_it_lists_every_problem_of_a_bad_flow(tmp_path: Path) -> None:
    bad = graph(
        [
            input_node("in"),
            node("mystery", "teleporter"),
            transform("t", "{{ nodes.ghost.output }}"),
            output_node("out"),
        ],
        [edge("e1", "in", "mystery"), edge("e2", "in", "t"), edge("e3", "t", "nowhere")],
    )
    proc = cli("validate", write(tmp_path / "bad.json", bad))
    assert proc.returncode != 0
    err = proc.stderr
    assert "3 problem(s)" in err
    assert "[unknown_type] node 'mystery' (type)" in err
    assert "[dangling_edge] edge 'e3' (target)" in err
    assert "[template_reference] node 't' (config.template)" in err
    assert "'ghost'" in err
    assert_no_traceback(proc)


def test_it_answers_validation_as_json(tmp_path: Path) -> None:
    bad = graph([input_node("in"), node("x", "teleporter")])
    proc = cli("validate", write(tmp_path / "bad.json", bad), "--json")
    assert proc.returncode == 1
    answer = json.loads(proc.stdout)
    assert answer["valid"] is False
    assert answer["errors"] == [
        {
            "code": "unknown_type",
            "message": answer["errors"][0]["message"],
            "node_id": "x",
            "field": "type",
        }
    ]


def test_it_says_a_good_flow_is_valid() -> None:
    proc = cli("validate", EXAMPLE)
    assert proc.returncode == 0
    assert proc.stdout.strip() == "valid"
    assert proc.stderr == ""


def test_it_refuses_to_run_an_invalid_flow(tmp_path: Path) -> None:
    bad = graph([input_node("in"), node("x", "teleporter")])
    proc = cli("run", write(tmp_path / "bad.json", bad))
    assert proc.returncode == 2
    assert "[unknown_type] node 'x' (type)" in proc.stderr
    assert_no_traceback(proc)


def test_it_lists_the_node_types_with_their_settings_schema() -> None:
    proc = cli("node-types")
    assert proc.returncode == 0, proc.stderr
    blocks = [b for b in proc.stdout.split("\n\n") if b.strip()]
    by_type = {b.split(" — ")[0]: b for b in blocks}
    assert {"input", "output", "transform", "worker", "router"} <= set(by_type)
    for block in by_type.values():
        line = next(x for x in block.splitlines() if x.strip().startswith("settings schema:"))
        schema = json.loads(line.split("settings schema:", 1)[1])
        assert schema["type"] == "object"
    assert '"template"' in by_type["transform"]
    assert '"routes"' in by_type["router"] and "(+ one per routes)" in by_type["router"]
    assert '"instructions"' in by_type["worker"] and "error" in by_type["worker"]


def test_it_lists_the_node_types_as_json() -> None:
    proc = cli("node-types", "--json")
    assert proc.returncode == 0, proc.stderr
    catalogue = {entry["type"]: entry for entry in json.loads(proc.stdout)}
    assert {"input", "output", "transform", "worker", "router"} <= set(catalogue)
    assert catalogue["transform"]["config_schema"]["required"] == ["template"]
    assert "fields" in catalogue["input"]["config_schema"]["properties"]
    assert catalogue["worker"]["outputs"] == ["out", "error"]
    assert catalogue["input"]["inputs"] == []
    assert catalogue["router"]["dynamic_outputs"] == "routes"


@pytest.mark.parametrize("text", ["{topic: x}", "{'topic': 'x'}", '{"topic": '])
def test_it_rejects_input_that_is_not_json(text: str) -> None:
    proc = cli("run", EXAMPLE, "--input", text)
    assert proc.returncode == 2
    assert proc.stderr.startswith("error: --input is not JSON")
    assert proc.stdout == ""
    assert_no_traceback(proc)


@pytest.mark.parametrize("command", ["run", "validate"])
def test_it_reports_a_missing_file_clearly(command: str, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope.json")
    proc = cli(command, missing)
    assert proc.returncode == 2
    assert proc.stderr == f"error: cannot read {missing}: No such file or directory\n"
    assert_no_traceback(proc)


def test_it_reports_a_flow_file_that_is_not_json(tmp_path: Path) -> None:
    path = tmp_path / "flow.json"
    path.write_text("{nodes: []}", encoding="utf-8")
    proc = cli("validate", str(path))
    assert proc.returncode == 2
    assert proc.stderr.startswith(f"error: {path} is not JSON")
    assert_no_traceback(proc)


@pytest.mark.parametrize(
    ("run_input", "complaint"),
    [
        ('{"topic": 5}', "topic: 5 is not of type 'string'"),
        ("{}", "'topic' is a required property"),
        ('"just text"', "is not of type 'object'"),
    ],
)
def test_it_fails_a_run_whose_input_breaks_the_input_fields(run_input: str, complaint: str) -> None:
    proc = cli("run", EXAMPLE, "--input", run_input)
    assert proc.returncode == 1
    assert "✘ brief failed: run input does not match the input fields" in proc.stdout
    assert complaint in proc.stdout
    assert "status failed" in proc.stdout
    # Named as the server names a failed run: the step, then its error.
    assert proc.stderr.startswith(
        "error: step 'brief' failed: run input does not match the input fields"
    )
    assert "● plan started" not in proc.stdout
    assert_no_traceback(proc)
