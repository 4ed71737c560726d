"""Webhook triggers: the secret URL starts a run with the posted JSON; wrong, rotated, disabled
and deleted secrets all answer the same 404; the per-minute limit is counted in a real Redis
(database 11, or STACK_REDIS_URL) and answers 429 with Retry-After."""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor import operations, webhooks
from editor.authentication import digest
from editor.models import AuditEntry, Membership, WebhookTrigger, Workflow, Workspace
from orchestrator.models import Run
from tests.web.concurrency import at_once, require_postgres

REDIS_URL = os.environ.get("STACK_REDIS_URL") or "redis://127.0.0.1:6379/11"


@pytest.fixture(autouse=True)
def test_redis(settings: Any) -> Iterator[redis.Redis]:
    settings.REDIS_URL = REDIS_URL
    client = redis.Redis.from_url(REDIS_URL)
    # Trigger ids restart with each test database: counters of an earlier session must go.
    for key in client.scan_iter("webhook-rate:*"):
        client.delete(key)
    yield client
    client.close()


def _make(client: APIClient, workflow: Workflow, **body: Any) -> dict[str, Any]:
    response = client.post(f"/api/workflows/{workflow.pk}/webhook/", body, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def _path(made: dict[str, Any]) -> str:
    return str(made["url"]).removeprefix("http://testserver")


def _call(path: str, body: bytes = b'{"topic": "owls"}', **headers: str) -> Any:
    # A bare client with CSRF checks on: the hook must need neither a session nor a CSRF token.
    return APIClient(enforce_csrf_checks=True).generic(
        "POST", path, body, content_type="application/json", **headers
    )


def _clear_of_minute_boundary() -> None:
    # The limit counts per clock minute; a burst straddling two minutes would be two windows.
    into = time.time() % 60
    if into > 55:
        time.sleep(60 - into + 0.1)


def test_a_webhook_is_made_shown_once_and_stored_hashed(
    alice: User, alice_client: APIClient, workflow: Workflow
) -> None:
    made = _make(alice_client, workflow)
    secret = _path(made).split("/")[2]
    assert _path(made) == f"/hooks/{secret}/"
    trigger = WebhookTrigger.objects.get(workflow=workflow)
    assert trigger.secret_hash == digest(secret) and secret.startswith(trigger.prefix)
    shown = alice_client.get(f"/api/workflows/{workflow.pk}/webhook/")
    assert shown.status_code == 200
    assert shown.json()["enabled"] is True and shown.json()["rate_limit_per_minute"] == 60
    assert secret not in str(shown.json()) and "url" not in shown.json()
    assert AuditEntry.objects.get(action="webhook.created").actor == alice


def test_a_call_starts_a_run_with_the_posted_json_as_its_maker(
    alice: User, alice_client: APIClient, workflow: Workflow
) -> None:
    path = _path(_make(alice_client, workflow))
    response = _call(path)
    assert response.status_code == 202, response.content
    run = Run.objects.get(pk=response.json()["run"])
    assert response.json()["url"] == f"http://testserver/api/runs/{run.pk}/"
    assert run.workflow == workflow and run.version == workflow.current_version
    assert run.input == {"topic": "owls"} and run.created_by == alice
    assert alice_client.get(f"/api/runs/{run.pk}/").status_code == 200
    entry = AuditEntry.objects.get(action="run.started", via="webhook")
    assert entry.actor == alice and entry.target_id == str(run.pk)
    trigger = WebhookTrigger.objects.get(workflow=workflow)
    assert trigger.last_triggered_at is not None
    # An empty body is an empty input.
    empty = _call(path, b"")
    assert empty.status_code == 202
    assert Run.objects.get(pk=empty.json()["run"]).input == {}


def test_wrong_rotated_disabled_and_deleted_secrets_all_get_the_same_404(
    alice_client: APIClient, workflow: Workflow
) -> None:
    first = _path(_make(alice_client, workflow))
    wrong = first[:-2] + ("A/" if first[-2] != "A" else "B/")
    unknown = _call(wrong)
    assert unknown.status_code == 404
    rotated = _path(_make(alice_client, workflow))
    assert rotated != first
    assert AuditEntry.objects.filter(action="webhook.rotated").count() == 1
    old = _call(first)
    assert old.status_code == 404 and old.json() == unknown.json()
    assert _call(rotated).status_code == 202

    url = f"/api/workflows/{workflow.pk}/webhook/"
    off = alice_client.patch(url, {"enabled": False}, format="json")
    assert off.status_code == 200 and off.json()["enabled"] is False
    disabled = _call(rotated)
    assert disabled.status_code == 404 and disabled.json() == unknown.json()
    alice_client.patch(url, {"enabled": True}, format="json")
    assert _call(rotated).status_code == 202
    assert alice_client.delete(url).status_code == 204
    assert _call(rotated).status_code == 404
    assert alice_client.get(url).status_code == 404
    assert Run.objects.count() == 2


def test_invalid_json_is_400_and_starts_nothing(
    alice_client: APIClient, workflow: Workflow
) -> None:
    path = _path(_make(alice_client, workflow))
    response = _call(path, b'{"topic": ')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_json"
    deep = _call(path, b"[" * 100_000 + b"]" * 100_000)
    assert deep.status_code == 400
    assert Run.objects.count() == 0


def test_a_body_that_is_not_a_json_object_is_400_and_starts_nothing(
    alice_client: APIClient, workflow: Workflow
) -> None:
    path = _path(_make(alice_client, workflow))
    response = _call(path, b'["owls"]')
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_input"
    assert Run.objects.count() == 0
    assert _call(path, b"").status_code == 202  # an empty body is the empty object


def test_a_retried_call_with_the_same_idempotency_key_starts_one_run(
    alice_client: APIClient, workflow: Workflow
) -> None:
    path = _path(_make(alice_client, workflow))
    first = _call(path, HTTP_IDEMPOTENCY_KEY="delivery-7")
    again = _call(path, HTTP_IDEMPOTENCY_KEY="delivery-7")
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.json()["run"] == first.json()["run"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert Run.objects.count() == 1
    other = _call(path, b'{"topic": "bats"}', HTTP_IDEMPOTENCY_KEY="delivery-7")
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "idempotency_key_reused"
    assert Run.objects.count() == 1


def test_an_oversized_body_is_413(
    settings: Any, alice_client: APIClient, workflow: Workflow
) -> None:
    path = _path(_make(alice_client, workflow))
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 1000
    response = _call(path, b'{"text": "' + b"x" * 2000 + b'"}')
    assert response.status_code == 413
    assert Run.objects.count() == 0


def test_the_rate_limit_answers_429_with_retry_after(
    alice_client: APIClient, workflow: Workflow
) -> None:
    made = _make(alice_client, workflow, rate_limit_per_minute=3)
    assert made["rate_limit_per_minute"] == 3
    path = _path(made)
    _clear_of_minute_boundary()
    codes = [_call(path).status_code for _ in range(3)]
    refused = _call(path)
    assert codes == [202, 202, 202]
    assert refused.status_code == 429
    assert 1 <= int(refused["Retry-After"]) <= 60
    assert refused.json()["error"]["code"] == "rate_limited"
    assert Run.objects.count() == 3


def test_the_counter_is_per_trigger_and_per_minute(
    alice: User, alice_workspace: Workspace, test_redis: redis.Redis, valid_graph: Any
) -> None:
    # Against Redis directly, with given clock readings: the window logic without waiting.
    one = operations.create_workflow(
        user=alice, workspace=alice_workspace, name="one", graph=valid_graph
    )
    two = operations.create_workflow(
        user=alice, workspace=alice_workspace, name="two", graph=valid_graph
    )
    first = WebhookTrigger.objects.create(
        workflow=one, prefix="a", secret_hash="a" * 64, rate_limit_per_minute=2
    )
    second = WebhookTrigger.objects.create(
        workflow=two, prefix="b", secret_hash="b" * 64, rate_limit_per_minute=2
    )
    minute = 1_000_000 * 60.0
    assert [webhooks.take(first, minute + 10) for _ in range(2)] == [0, 0]
    assert webhooks.take(first, minute + 10) == 50  # seconds to the next minute
    assert webhooks.take(second, minute + 10) == 0  # another trigger has its own count
    assert webhooks.take(first, minute + 60) == 0  # a new minute starts afresh
    assert 0 < test_redis.ttl(f"webhook-rate:{first.pk}:{int(minute // 60)}") <= 120


def test_a_graph_that_cannot_run_is_refused_with_its_issues(
    alice: User, alice_client: APIClient, alice_workspace: Workspace, invalid_graph: Any
) -> None:
    draft = operations.create_workflow(
        user=alice, workspace=alice_workspace, name="draft", graph=invalid_graph
    )
    response = _call(_path(_make(alice_client, draft)))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "invalid_graph"
    assert response.json()["error"]["fields"]
    assert Run.objects.count() == 0


def test_the_maker_losing_the_run_role_stops_the_webhook(
    alice_workspace: Workspace, bob: User, bob_client: APIClient, workflow: Workflow
) -> None:
    path = _path(_make(bob_client, workflow))
    assert _call(path).status_code == 202
    Membership.objects.filter(user=bob, workspace=alice_workspace).update(role="viewer")
    response = _call(path)
    assert response.status_code == 403
    assert "rotate" in response.json()["error"]["message"]
    assert Run.objects.count() == 1


def test_roles_and_workspaces_guard_the_management_api(
    alice_client: APIClient,
    bob_client: APIClient,
    charlie_client: APIClient,
    alice_workspace: Workspace,
    workflow: Workflow,
) -> None:
    url = f"/api/workflows/{workflow.pk}/webhook/"
    assert alice_client.get(url).status_code == 404  # none yet
    _make(alice_client, workflow)
    for call in (
        lambda c: c.get(url),
        lambda c: c.post(url, {}, format="json"),
        lambda c: c.patch(url, {"enabled": False}, format="json"),
        lambda c: c.delete(url),
    ):
        assert call(charlie_client).status_code == 404
    viewer = User.objects.create_user("vic", "vic@example.org", "pw")
    Membership.objects.create(user=viewer, workspace=alice_workspace, role="viewer")
    vic = APIClient()
    vic.force_login(viewer)
    assert vic.get(url).status_code == 200
    assert vic.patch(url, {"enabled": False}, format="json").status_code == 403
    assert vic.delete(url).status_code == 403
    bad = bob_client.patch(url, {"rate_limit_per_minute": 0}, format="json")
    assert bad.status_code == 400 and "rate_limit_per_minute" in bad.json()["error"]["fields"]
    assert WebhookTrigger.objects.get(workflow=workflow).enabled is True


@pytest.mark.django_db(transaction=True)
def test_two_first_posts_at_once_leave_one_webhook(alice: User, workflow: Workflow) -> None:
    """Both succeed (the second rotates the first's secret); neither is a 500 from the
    one-webhook-per-workflow constraint."""
    require_postgres()
    url = f"/api/workflows/{workflow.pk}/webhook/"
    results = at_once(alice, [lambda c: c.post(url, {}, format="json").status_code] * 6)
    assert sorted(results) == [201] * 6
    assert WebhookTrigger.objects.filter(workflow=workflow).count() == 1
