"""Fixtures for the run side: the web app's people and clients, graphs that exercise the
scheduler, and ``drive`` (execute queued steps in this process, as a worker would).

The stack fixtures (real Celery workers, Daphne, Redis) come from :mod:`tests.support.stack`.
"""

from __future__ import annotations

import copy
import itertools
import json
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User

from editor import operations as editor_operations
from editor.models import Workflow, Workspace
from orchestrator.execution import execute_step
from orchestrator.models import Run, Step
from tests.support.stack import (  # noqa: F401  (fixtures, registered by being imported here)
    stack,
    stack_daphne,
    stack_database_url,
    stack_vendor,
    stack_worker,
    vendor,
)
from tests.web.conftest import (  # noqa: F401  (fixtures, registered by being imported here)
    alice,
    alice_client,
    alice_workspace,
    anon_client,
    bob,
    bob_client,
    charlie,
    charlie_client,
    fast_password_hashing,
    invalid_graph,
    valid_graph,
    workflow,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


def research_graph() -> dict[str, Any]:
    """examples/research.json: input → plan → (research ∥ critic) → merge → router → outputs."""
    return json.loads((EXAMPLES / "research.json").read_text())


def node(node_id: str, type_: str, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "label": node_id.title(), "config": config}


def edge(source: str, target: str, handle: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": f"{source}-{target}", "source": source, "target": target}
    if handle:
        found["source_handle"] = handle
    return found


def chain(*nodes: dict[str, Any]) -> dict[str, Any]:
    """Nodes wired one after the other."""
    return {
        "nodes": list(nodes),
        "edges": [edge(a["id"], b["id"]) for a, b in itertools.pairwise(nodes)],
    }


def make_workflow(
    user: User, workspace: Workspace, graph: dict[str, Any], name: str = "Flow"
) -> Workflow:
    return editor_operations.create_workflow(
        user=user, workspace=workspace, name=name, graph=copy.deepcopy(graph)
    )


def drive(run: Run | Any, limit: int = 100) -> Run:
    """Execute the run's queued steps in this process (the real task body) until none is left."""
    run_id = run.pk if isinstance(run, Run) else run
    for _ in range(limit):
        queued = list(
            Step.objects.filter(run_id=run_id, status="queued")
            .order_by("id")
            .values_list("pk", flat=True)
        )
        if not queued:
            return Run.objects.get(pk=run_id)
        for step_id in queued:
            execute_step(step_id)
    raise AssertionError(f"run {run_id} still has queued steps after {limit} rounds")


def event_log(run: Run | Any) -> list[dict[str, Any]]:
    run_id = run.pk if isinstance(run, Run) else run
    from orchestrator.models import Event

    return [e.to_message() for e in Event.objects.filter(run_id=run_id).order_by("seq")]


@pytest.fixture
def research_workflow(alice: User, alice_workspace: Workspace) -> Workflow:  # noqa: F811
    return make_workflow(alice, alice_workspace, research_graph(), name="Research")
