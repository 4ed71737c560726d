"""``Idempotency-Key`` on run starts (the API and webhooks): a retried request gets the run the
first one started, never a second run; a key reused for another request is refused."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from editor.models import AuditEntry, Workflow, Workspace
from orchestrator import runs
from orchestrator.models import Run, RunStartKey
from tests.orchestrator.conftest import make_workflow
from tests.web.concurrency import at_once, require_postgres

pytestmark = pytest.mark.django_db


def start(client: APIClient, workflow: Workflow, run_input: Any, key: str | None) -> Any:
    headers = {"HTTP_IDEMPOTENCY_KEY": key} if key is not None else {}
    return client.post(
        f"/api/workflows/{workflow.id}/runs/", {"input": run_input}, format="json", **headers
    )


def test_a_repeated_start_with_the_same_key_gets_the_first_run(
    alice_client: APIClient, workflow: Workflow
) -> None:
    first = start(alice_client, workflow, {"topic": "owls"}, "order-42")
    again = start(alice_client, workflow, {"topic": "owls"}, "order-42")
    assert (first.status_code, again.status_code) == (201, 201)
    assert again.json()["id"] == first.json()["id"]
    assert "Idempotent-Replayed" not in first.headers
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Run.objects.count() == 1
    assert AuditEntry.objects.filter(action="run.started").count() == 1
    # Without a key, or with another one, each request starts its own run.
    assert start(alice_client, workflow, {"topic": "owls"}, None).json()["id"] != first.json()["id"]
    assert start(alice_client, workflow, {"topic": "owls"}, "order-43").status_code == 201
    assert Run.objects.count() == 3


def test_a_key_reused_for_another_request_is_refused(
    alice_client: APIClient, workflow: Workflow
) -> None:
    assert start(alice_client, workflow, {"topic": "owls"}, "k1").status_code == 201
    reused = start(alice_client, workflow, {"topic": "bats"}, "k1")
    assert reused.status_code == 409
    assert reused.json()["error"]["code"] == "idempotency_key_reused"
    assert Run.objects.count() == 1


@pytest.mark.parametrize("key", ["", "x" * 201, "tab\there", "ключ"])
def test_a_key_that_is_not_printable_ascii_of_up_to_200_characters_is_refused(
    alice_client: APIClient, workflow: Workflow, key: str
) -> None:
    headers = {"HTTP_IDEMPOTENCY_KEY": key}
    response = alice_client.post(
        f"/api/workflows/{workflow.id}/runs/", {"input": {}}, format="json", **headers
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_idempotency_key"
    assert not Run.objects.exists()


def test_keys_belong_to_a_workspace(
    alice: User, alice_client: APIClient, workflow: Workflow, charlie: User, valid_graph: Any
) -> None:
    charlie_workspace = Workspace.objects.get(memberships__user=charlie)
    charlies = make_workflow(charlie, charlie_workspace, valid_graph)
    client = APIClient()
    client.force_login(charlie)
    mine = start(alice_client, workflow, {"topic": "owls"}, "shared-key")
    theirs = start(client, charlies, {"topic": "owls"}, "shared-key")
    assert (mine.status_code, theirs.status_code) == (201, 201)
    assert mine.json()["id"] != theirs.json()["id"]


def test_a_key_older_than_a_day_starts_a_new_run_and_the_sweeper_forgets_it(
    alice_client: APIClient, workflow: Workflow
) -> None:
    first = start(alice_client, workflow, {"topic": "owls"}, "daily")
    RunStartKey.objects.update(
        created_at=timezone.now() - timedelta(hours=runs.START_KEY_HOURS, seconds=1)
    )
    later = start(alice_client, workflow, {"topic": "bats"}, "daily")
    assert later.status_code == 201 and later.json()["id"] != first.json()["id"]
    assert list(RunStartKey.objects.values_list("run_id", flat=True)) == [
        Run.objects.get(pk=later.json()["id"]).pk
    ]
    RunStartKey.objects.update(
        created_at=timezone.now() - timedelta(hours=runs.START_KEY_HOURS, seconds=1)
    )
    assert runs.forget_start_keys() == 1
    assert not RunStartKey.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_twin_requests_with_one_key_at_the_same_moment_start_one_run(
    alice: User, alice_workspace: Workspace, valid_graph: Any
) -> None:
    require_postgres()
    workflow = make_workflow(alice, alice_workspace, valid_graph)
    url = f"/api/workflows/{workflow.id}/runs/"

    def post(client: APIClient) -> tuple[int, str]:
        response = client.post(
            url, {"input": {"topic": "owls"}}, format="json", HTTP_IDEMPOTENCY_KEY="twin"
        )
        return response.status_code, response.json().get("id", response.content[:200])

    results = at_once(alice, [post] * 6)
    assert {code for code, _ in results} == {201}
    assert len({run_id for _, run_id in results}) == 1
    assert Run.objects.count() == 1
    assert AuditEntry.objects.filter(action="run.started").count() == 1
