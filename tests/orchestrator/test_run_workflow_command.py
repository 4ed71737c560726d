"""``manage.py run_workflow``: start a run on the real workers and follow it in the terminal."""

from __future__ import annotations

import json
import subprocess
import sys
import uuid
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from editor.models import AuditEntry, Workspace
from orchestrator.models import Run
from tests.orchestrator.conftest import make_workflow, research_graph
from tests.support.stack import CeleryWorker, Stack

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]


def run_command(stack: Stack, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "manage.py", "run_workflow", *args],
        cwd=REPO,
        env=stack.env,
        capture_output=True,
        text=True,
        timeout=60,
    )


def test_it_runs_a_workflow_on_the_workers_and_prints_every_step(
    stack: Stack, stack_worker: CeleryWorker, alice: User, alice_workspace: Workspace
) -> None:
    workflow = make_workflow(alice, alice_workspace, research_graph(), name="Briefing")
    done = run_command(stack, str(workflow.pk), "--input", '{"topic": "owls"}', "--user", "alice")
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert "started (Briefing, version 1)" in out
    for step in ("brief", "plan", "research", "critic", "merge", "size", "publish"):
        assert f"✔ {step} succeeded" in out
    assert "· too_short skipped" in out
    assert "status succeeded" in out
    run = Run.objects.get(workflow=workflow)
    assert run.status == "succeeded"
    assert run.created_by == alice
    assert "owls" in out.split("Output:")[1]


def test_it_prints_events_as_json_lines(
    stack: Stack, stack_worker: CeleryWorker, alice: User, alice_workspace: Workspace
) -> None:
    workflow = make_workflow(alice, alice_workspace, research_graph())
    done = run_command(stack, str(workflow.pk), "--input", '{"topic": "x"}', "--json")
    assert done.returncode == 0, done.stderr
    events = [json.loads(line) for line in done.stdout.splitlines()[1:] if line.strip()]
    assert [event["seq"] for event in events] == list(range(1, len(events) + 1))
    assert events[0]["type"] == "run.started"
    assert events[-1]["type"] == "run.succeeded"


def test_it_refuses_bad_arguments_with_a_clear_message(stack: Stack, alice: User) -> None:
    missing = run_command(stack, str(uuid.uuid4()))
    assert missing.returncode != 0
    assert "no workflow" in missing.stderr
    assert "Traceback" not in missing.stderr
    bad_input = run_command(stack, str(uuid.uuid4()), "--input", "{nope")
    assert bad_input.returncode != 0
    assert "--input is not JSON" in bad_input.stderr


def test_a_workflow_that_cannot_run_is_refused_naming_each_problem_and_audited_nowhere(
    stack: Stack, alice: User, alice_workspace: Workspace, invalid_graph: dict[str, Any]
) -> None:
    workflow = make_workflow(alice, alice_workspace, invalid_graph, name="Draft")
    done = run_command(stack, str(workflow.pk), "--user", "alice")
    assert done.returncode != 0
    assert "the workflow's current version has" in done.stderr
    assert "fix them and save before running" in done.stderr
    assert "  - nodes." in done.stderr or "  - edges." in done.stderr or "  - graph:" in done.stderr
    assert "Traceback" not in done.stderr
    assert not Run.objects.filter(workflow=workflow).exists()
    assert not AuditEntry.objects.filter(action="run.started").exists()


def test_a_started_run_is_audited_as_started_from_the_command(
    stack: Stack, stack_worker: CeleryWorker, alice: User, alice_workspace: Workspace
) -> None:
    workflow = make_workflow(alice, alice_workspace, research_graph(), name="Briefing")
    done = run_command(stack, str(workflow.pk), "--input", '{"topic": "owls"}', "--user", "alice")
    assert done.returncode == 0, done.stderr
    entry = AuditEntry.objects.get(action="run.started")
    assert (entry.via, entry.actor, entry.target_label) == ("command", alice, "Briefing (v1)")


def test_max_tokens_sets_the_run_budget_and_a_crossed_budget_stops_the_run(
    stack: Stack, stack_worker: CeleryWorker, alice: User, alice_workspace: Workspace
) -> None:
    workflow = make_workflow(alice, alice_workspace, research_graph())
    done = run_command(
        stack, str(workflow.pk), "--input", '{"topic": "x"}', "--max-tokens", "1", "--max-cost", "2"
    )
    assert done.returncode == 1, done.stdout
    assert "run failed: " in done.stderr
    assert "the run's budget is spent: " in done.stderr
    assert "Traceback" not in done.stderr
    run = Run.objects.get(workflow=workflow)
    # The same budget the API's {"budget": {...}} stores, and it is what stopped the run.
    assert run.budget == {"max_tokens": 1, "max_cost": 2.0}
    assert run.status == "failed"
    assert run.error is not None and run.error["code"] == "budget_exceeded"


def test_a_roomy_budget_lets_the_run_finish(
    stack: Stack, stack_worker: CeleryWorker, alice: User, alice_workspace: Workspace
) -> None:
    workflow = make_workflow(alice, alice_workspace, research_graph())
    done = run_command(stack, str(workflow.pk), "--input", '{"topic": "x"}', "--max-cost", "0.5")
    assert done.returncode == 0, done.stderr
    run = Run.objects.get(workflow=workflow)
    assert run.budget == {"max_cost": 0.5}
    assert run.status == "succeeded"


@pytest.mark.parametrize(
    ("flag", "value", "complaint"),
    [
        ("--max-tokens", "lots", "'lots' is not a whole number of tokens"),
        ("--max-tokens", "0", "'0': the token budget must be at least 1"),
        ("--max-cost", "-1", "'-1': the cost budget must be a finite number"),
        ("--max-cost", "inf", "'inf': the cost budget must be a finite number"),
    ],
)
def test_a_bad_budget_is_refused_with_exit_code_2_before_anything_runs(
    stack: Stack, alice: User, alice_workspace: Workspace, flag: str, value: str, complaint: str
) -> None:
    workflow = make_workflow(alice, alice_workspace, research_graph())
    done = run_command(stack, str(workflow.pk), f"{flag}={value}")
    assert done.returncode == 2
    assert f"error: argument {flag}: {complaint}" in done.stderr
    assert "Traceback" not in done.stderr
    assert not Run.objects.filter(workflow=workflow).exists()
