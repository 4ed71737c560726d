"""Every example that ships validates and runs offline on the ``local`` provider, in process and
through ``python -m runtime run``."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from typing import Any

import jsonschema
import pytest

from runtime.events import ListSink
from runtime.executor import InProcessExecutor
from runtime.flows import DirectoryFlows, within
from runtime.nodes.registry import default_registry
from runtime.records import RunResult
from runtime.services import Services
from runtime.validation import validate_graph
from tests.runtime.graphs import EXAMPLES, REPO, load_example

NAMES = sorted(path.stem for path in EXAMPLES.glob("*.json"))
AGENT_EXAMPLES = ["sales-report", "content-pipeline", "incident-triage"]


def default_input(raw: dict[str, Any]) -> dict[str, Any]:
    """The run input a person gets by accepting every default of the input node's fields."""
    fields = next(n for n in raw["nodes"] if n["type"] == "input")["config"].get("fields") or {}
    return {
        name: spec.get("default", f"a {name}")
        for name, spec in (fields.get("properties") or {}).items()
    }


async def run(name: str) -> tuple[RunResult, ListSink]:
    raw = load_example(name)
    sink = ListSink()
    # Sub-flows name example files beside them, as on the command line.
    services = Services(flows=within(DirectoryFlows(EXAMPLES), name, name))
    result = await InProcessExecutor(services=services, sink=sink).run(raw, default_input(raw))
    return result, sink


def test_the_agent_examples_ship() -> None:
    assert set(AGENT_EXAMPLES) <= set(NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_each_example_is_valid_and_drawn_left_to_right(name: str) -> None:
    raw = load_example(name)
    assert validate_graph(raw) == []
    by_id = {n["id"]: n for n in raw["nodes"]}
    for n in raw["nodes"]:
        assert n.get("label"), f"{n['id']} has no label"
        assert {"x", "y"} <= set(n.get("position", {})), f"{n['id']} has no position"
        assert n["type"] in default_registry
    for e in raw["edges"]:
        source, target = by_id[e["source"]], by_id[e["target"]]
        if e.get("kind") == "delegate":  # a team sits to the right of its lead, or below it
            here, there = source["position"], target["position"]
            assert here["x"] < there["x"] or here["y"] < there["y"], f"edge {e['id']} runs back"
        else:
            assert source["position"]["x"] < target["position"]["x"], f"edge {e['id']} runs left"
    inputs = [n for n in raw["nodes"] if n["type"] == "input"]
    assert len(inputs) == 1
    fields = inputs[0]["config"]["fields"]
    jsonschema.Draft202012Validator.check_schema(fields)
    jsonschema.validate(default_input(raw), fields)


@pytest.mark.parametrize("name", NAMES)
async def test_each_example_runs_offline(name: str) -> None:
    result, sink = await run(name)
    assert result.status == "succeeded", result.error
    assert result.output
    assert sink.types()[-1] == "run.succeeded"
    for step in result.steps.values():
        assert step.status in ("succeeded", "skipped"), (step.id, step.error)
        if step.type in ("worker", "manager", "classifier") and step.status == "succeeded":
            assert step.model == "local/echo" and step.tokens_in > 0


async def test_the_sales_report_manager_delegates_to_its_team() -> None:
    result, sink = await run("sales-report")
    children = [step for step in result.steps.values() if step.parent]
    assert sorted(step.node for step in children) == ["analyst", "researcher", "writer"]
    assert {step.parent for step in children} == {"lead"}
    assert all(step.status == "succeeded" for step in children)
    delegated = [e for e in sink.events if e.type == "step.delegated"]
    assert [e.step for e in delegated] == ["lead"]
    assert {t["node"] for t in delegated[0].data["tasks"]} == {"researcher", "analyst", "writer"}
    # The analyst answers schema-checked JSON; the researcher used a tool.
    analyst = next(step for step in children if step.node == "analyst")
    assert set(analyst.output) == {"highlights", "growth_pct", "risks"}
    researcher = next(step for step in children if step.node == "researcher")
    assert "text_search" in researcher.output
    lead = result.steps["lead"]
    assert lead.tokens_in > 0 and "Final answer (placeholder)" in result.output
    # one line a worker, the analyst's JSON answer by its keys
    assert "- analyst: answered JSON with highlights, growth_pct, risks" in result.output


async def test_the_content_pipeline_scores_seo_as_json() -> None:
    result, _ = await run("content-pipeline")
    seo = result.steps["seo"].output
    assert isinstance(seo["score"], int) and 0 <= seo["score"] <= 100
    assert all(isinstance(issue, str) for issue in seo["issues"])
    assert f"SEO score: {seo['score']}/100" in result.output


async def test_the_incident_triage_takes_one_branch_and_fans_out() -> None:
    result, _ = await run("incident-triage")
    branch = result.steps["triage"].branch
    if branch == "noise":
        assert result.steps["logs"].status == "skipped"
        assert set(result.output) == {"dismissed"}
    else:
        assert branch in ("incident", "unclear")
        assert result.steps["dismissed"].status == "skipped"
        for investigator in ("logs", "metrics", "deploys"):
            assert result.steps[investigator].status == "succeeded"
        assert result.steps["synthesizer"].input.keys() == {"logs", "metrics", "deploys"}
        assert set(result.output) == {"report"}


@pytest.mark.parametrize("name", AGENT_EXAMPLES)
def test_each_agent_example_runs_from_the_command_line(name: str) -> None:
    raw = load_example(name)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "ANTHROPIC_"))}
    env["PYTHONIOENCODING"] = "utf-8"
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "runtime",
            "run",
            f"examples/{name}.json",
            "--input",
            json.dumps(default_input(raw)),
        ],
        cwd=REPO,
        env=env,
        capture_output=True,
        text=True,
        encoding="utf-8",
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    assert "■ run succeeded" in proc.stdout
    assert "Traceback" not in proc.stdout + proc.stderr
