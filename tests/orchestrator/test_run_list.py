"""GET /api/runs/ as the runs page reads it: every run of my workspaces with the workflow's name,
who started it and an input preview; filters by outcome, workflow, who, dates, trigger and a
search; a bad filter is a 400 naming it."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import Workflow
from orchestrator.models import Run
from tests.orchestrator.test_runs_api import drive, error_of, started_run

pytestmark = pytest.mark.django_db


def listed(client: APIClient, **params: Any) -> list[dict[str, Any]]:
    response = client.get("/api/runs/", params)
    assert response.status_code == 200, response.content[:500]
    return list(response.json()["results"])


def test_it_lists_filters_and_refuses_bad_filters(
    alice: User, alice_client: APIClient, research_workflow: Workflow, workflow: Workflow
) -> None:
    done = drive(started_run(alice_client, workflow, {"topic": "owls"}))
    assert done.status == "succeeded", done.error
    research = started_run(alice_client, research_workflow, {"topic": "bats " * 60})
    Run.objects.filter(pk=research.pk).update(status="failed")

    rows = listed(alice_client)
    assert {r["id"] for r in rows} == {str(done.pk), str(research.pk)}
    row = next(r for r in rows if r["id"] == str(research.pk))
    assert row["workflow_name"] == "Research" and row["started_by"] == "alice"
    assert row["input_preview"].startswith('{"topic": "bats') and len(row["input_preview"]) == 120

    assert [r["id"] for r in listed(alice_client, outcome="failed")] == [str(research.pk)]
    assert [r["id"] for r in listed(alice_client, outcome=done.status)] == [str(done.pk)]
    assert [r["id"] for r in listed(alice_client, workflow=str(workflow.pk))] == [str(done.pk)]
    # every word of the search: "Research brief" and "Research" both hold "resea"
    assert len(listed(alice_client, search="resea")) == 2
    assert [r["id"] for r in listed(alice_client, search="resea brief")] == [str(done.pk)]
    assert [r["id"] for r in listed(alice_client, search=str(done.pk)[:8])] == [str(done.pk)]
    assert listed(alice_client, started_by="bob") == []
    assert len(listed(alice_client, since="2000-01-01", until="2999-12-31")) == 2
    assert listed(alice_client, since="2999-01-01") == []
    assert len(listed(alice_client, trigger="session")) == 2
    assert listed(alice_client, trigger="webhook") == []
    assert listed(alice_client, trigger="rerun") == []

    for name, value in (("outcome", "great"), ("trigger", "fax"), ("since", "last week")):
        error = error_of(alice_client.get("/api/runs/", {name: value}), 400)
        assert name in error["fields"], error
