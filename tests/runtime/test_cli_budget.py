"""``python -m runtime run --max-tokens N --max-cost USD``: the run budget from the terminal, as a
real subprocess, against the offline model and a loopback vendor whose answers cost money."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.runtime.graphs import REPO, edge, graph, input_node, node, output_node
from tests.support.vendor_server import Completion, VendorServer


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    base = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    base.pop("MODEL_FAST", None)
    base.pop("MODEL_STRONG", None)
    base["PYTHONIOENCODING"] = "utf-8"
    return subprocess.run(
        [sys.executable, "-m", "runtime", *args],
        cwd=REPO,
        env={**base, **(env or {})},
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )


def two_workers(model: str) -> dict[str, Any]:
    return graph(
        [
            input_node("in"),
            node(
                "first", "worker", model=model, instructions="Say something about {{ input.topic }}"
            ),
            node("second", "worker", model=model, instructions="Go on: {{ upstream }}"),
            output_node("out"),
        ],
        [edge("e1", "in", "first"), edge("e2", "first", "second"), edge("e3", "second", "out")],
    )


def write_flow(tmp_path: Path, flow: dict[str, Any]) -> str:
    path = tmp_path / "flow.json"
    path.write_text(json.dumps(flow), encoding="utf-8")
    return str(path)


def events_of(stdout: str) -> list[dict[str, Any]]:
    return [json.loads(line) for line in stdout.splitlines()]


def test_max_tokens_stops_the_run_once_it_is_crossed(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, two_workers("local/echo"))
    unlimited = cli("run", flow, "--input", '{"topic": "owls"}', "--json")
    assert unlimited.returncode == 0, unlimited.stderr
    first = next(
        e
        for e in events_of(unlimited.stdout)
        if e["type"] == "step.succeeded" and e["step"] == "first"
    )
    first_tokens = first["data"]["tokens_in"] + first["data"]["tokens_out"]

    # A limit just under what the first worker spends: that step crosses it, the second never runs.
    limited = cli(
        "run", flow, "--input", '{"topic": "owls"}', "--json", "--max-tokens", str(first_tokens - 1)
    )
    assert limited.returncode == 1, limited.stderr
    events = events_of(limited.stdout)
    assert events[-1]["type"] == "run.failed"
    assert events[-1]["data"]["error"]["code"] == "budget_exceeded"
    assert not any(e["type"] == "step.started" and e["step"] == "second" for e in events)

    # A limit above the whole run's spend changes nothing.
    roomy = cli("run", flow, "--input", '{"topic": "owls"}', "--max-tokens", "100000")
    assert roomy.returncode == 0, roomy.stderr
    assert "status succeeded" in roomy.stdout


def test_a_crossed_budget_is_said_plainly_in_human_output(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, two_workers("local/echo"))
    proc = cli("run", flow, "--input", '{"topic": "owls"}', "--max-tokens", "1")
    assert proc.returncode == 1
    assert "status failed" in proc.stdout
    assert "error: step 'first' failed: the run's budget is spent: " in proc.stderr
    assert "tokens of 1" in proc.stderr
    assert "Traceback" not in proc.stderr


def test_max_cost_stops_the_run_when_a_priced_model_spends_past_it(tmp_path: Path) -> None:
    flow = write_flow(tmp_path, two_workers("openai/gpt-4o"))
    with VendorServer() as vendor:
        # gpt-4o costs $2.50 per million input tokens: 100,000 tokens are $0.25 a call.
        vendor.respond_with(lambda request: Completion("noted", 100_000, 0))
        env = {"OPENAI_BASE_URL": vendor.url, "OPENAI_API_KEY": "test-key"}
        proc = cli(
            "run", flow, "--input", '{"topic": "owls"}', "--json", "--max-cost", "0.3", env=env
        )
        calls_when_limited = len(vendor.requests)
        roomy = cli("run", flow, "--input", '{"topic": "owls"}', "--max-cost", "0.6", env=env)

    assert proc.returncode == 1, proc.stderr
    events = events_of(proc.stdout)
    assert events[-1]["type"] == "run.failed"
    error = events[-1]["data"]["error"]
    assert error["code"] == "budget_exceeded"
    assert "$0.500000 of $0.300000" in error["message"]
    # The second call crossed the limit; nothing ran after it.
    assert calls_when_limited == 2
    assert not any(e["type"] == "step.succeeded" and e["step"] == "second" for e in events)
    assert roomy.returncode == 0, roomy.stderr
    assert "$0.500000" in roomy.stdout


@pytest.mark.parametrize(
    ("flag", "value", "complaint"),
    [
        ("--max-tokens", "abc", "'abc' is not a whole number of tokens"),
        ("--max-tokens", "1.5", "'1.5' is not a whole number of tokens"),
        ("--max-tokens", "0", "'0': the token budget must be at least 1"),
        ("--max-tokens", "-5", "'-5': the token budget must be at least 1"),
        ("--max-cost", "cheap", "'cheap' is not an amount of US dollars"),
        ("--max-cost", "-0.01", "'-0.01': the cost budget must be a finite number"),
        ("--max-cost", "nan", "'nan': the cost budget must be a finite number"),
        ("--max-cost", "inf", "'inf': the cost budget must be a finite number"),
    ],
)
def test_a_bad_budget_is_refused_with_exit_code_2(flag: str, value: str, complaint: str) -> None:
    # "--flag=value" so that "-5" is read as the flag's value, not as another option.
    proc = cli("run", "examples/research.json", "--input", '{"topic": "x"}', f"{flag}={value}")
    assert proc.returncode == 2
    assert f"error: argument {flag}: {complaint}" in proc.stderr
    assert proc.stdout == ""
    assert "Traceback" not in proc.stderr
