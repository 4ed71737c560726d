"""An example that runs another example as a sub-flow: importing it imports the other beside it,
and the run (steps executed in this process, as a worker would) finds it in the workspace."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import Workflow, Workspace
from orchestrator.models import Step
from orchestrator.runs import start_run
from tests.orchestrator.conftest import drive

# The sub-flow's query runs on a thread of its own, which sees committed rows only.
pytestmark = pytest.mark.django_db(transaction=True)


def test_importing_the_checked_article_imports_the_fact_check_and_the_run_uses_it(
    alice_client: APIClient, alice: User, alice_workspace: Workspace
) -> None:
    response = alice_client.post("/api/examples/checked-article/import/", {}, format="json")
    assert response.status_code == 201, response.json()
    article = Workflow.objects.get(pk=response.json()["id"])
    check = Workflow.objects.get(name="Fact check")
    assert article.workspace == check.workspace == alice_workspace
    assert check.current_version is not None
    assert "fact-check" in check.current_version.note
    [subflow] = [n for n in response.json()["graph"]["nodes"] if n["type"] == "subflow"]
    assert subflow["config"]["workflow"] == str(check.id)

    run = drive(start_run(article, {"topic": "owls"}, actor=alice, via="session"))

    assert run.status == "succeeded", run.error
    assert "Fact check:\n" in run.output and "You are the Fact checker." in run.output
    # The sub-flow ran as steps of the run, under its subflow step, pinned to the version
    # current when the run started.
    call = Step.objects.get(run=run, key="check")
    assert call.flow["workflow"] == str(check.id)
    assert call.flow["version"] == check.current_version_id == run.flow_versions[str(check.id)]
    inner = Step.objects.filter(run=run, in_flow=call)
    assert inner.exists() and all(step.key.startswith("check/") for step in inner)
    assert {step.status for step in inner} <= {"succeeded", "skipped"}
    models = {step.model for step in inner if step.model}
    assert models == {"local/echo"} and sum(step.tokens_in for step in inner) > 0
    assert run.tokens_in == sum(step.tokens_in for step in Step.objects.filter(run=run))


def test_an_import_into_a_team_workspace_puts_the_sub_flow_there_too(
    bob_client: APIClient, alice_workspace: Workspace
) -> None:
    response = bob_client.post(
        "/api/examples/checked-article/import/",
        {"workspace": alice_workspace.id},
        format="json",
    )
    assert response.status_code == 201, response.json()
    names = set(Workflow.objects.filter(workspace=alice_workspace).values_list("name", flat=True))
    assert names == {"Checked article", "Fact check"}
    assert Workflow.objects.count() == 2
