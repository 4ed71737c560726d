"""The published OpenAPI schema agrees with the API: generated requests against every operation.

The schema is the one the app serves (``/api/schema/``), loaded through Django's WSGI app; every
operation is called in-process with valid and invalid requests (schemathesis, a small fixed
budget, the same examples on every run), as alice with an API token, on real PostgreSQL. Each
answer must be documented: its status code, content type and body shape; valid requests must be
accepted and invalid ones refused.

Path parameters of valid requests point at real objects (alice's workspace, workflow, run,
credential, webhook…) so the operations do their work instead of answering 404; invalid ones
keep what was generated.

Nothing in the schema is left out: ``/hooks/{secret}/`` is called with a real secret made for
the test. The WebSocket routes (``/ws/…``) are not HTTP operations, so not in the schema, and not
here (tests/orchestrator covers them).
"""

from __future__ import annotations

import os
import time
from collections.abc import Iterator
from typing import Any

import pytest
import redis
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
from rest_framework.test import APIClient
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    negative_data_rejection,
    positive_data_acceptance,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from editor import webhooks
from editor.credentials import create_credential
from editor.models import Membership, WebhookTrigger, Workflow, Workspace
from editor.tokens import issue_token
from orchestrator import runs
from tests.support.stack import free_port

CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
    negative_data_rejection,
    positive_data_acceptance,
]

# Fuzzed examples per operation, on top of the examples and coverage phases' fixed cases: the
# whole file takes about a minute on two cores. (A run at 30 finds nothing more today.)
MAX_EXAMPLES = 12

CONFIG = schemathesis.Config.from_dict(
    {
        # allow-x00: the API refuses a NUL character in any string, as its schema's description
        # says (PostgreSQL cannot store one); JSON Schema has no way to say it of free-form JSON
        # such as a graph's node settings.
        "generation": {"max-examples": MAX_EXAMPLES, "deterministic": True, "allow-x00": False},
        # 413 (the body is over the size limit) refuses a request as surely as a 400 does.
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        },
        # Stateful sequences (one call's answer feeding the next) are not run: each operation is
        # checked on its own, against objects the fixture makes.
        "phases": {"stateful": {"enabled": False}},
    }
)

schema = schemathesis.openapi.from_wsgi("/api/schema/", get_wsgi_application(), config=CONFIG)


@pytest.fixture
def same_connection() -> Iterator[None]:
    """Requests use the test's database connection and transaction, as Django's test client
    arranges: the WSGI handler would otherwise close it at the end of each request."""
    request_started.disconnect(close_old_connections)
    request_finished.disconnect(close_old_connections)
    try:
        yield
    finally:
        request_started.connect(close_old_connections)
        request_finished.connect(close_old_connections)


@pytest.fixture
def objects(alice: User, alice_workspace: Workspace, workflow: Workflow) -> dict[str, Any]:
    """What valid requests act on, and the token they authenticate with."""
    _, secret = issue_token(alice, "conformance")
    spare, _ = issue_token(alice, "to delete")
    run = runs.start_run(workflow, {"topic": "owls"}, actor=alice, via="token")
    create_credential(
        workspace=alice_workspace, user=alice, name="key", kind="openai", value="sk-0123456789ab"
    )
    _, hook_secret = webhooks.create_or_rotate_webhook(workflow, user=alice)
    return {
        "auth": f"Token {secret}",
        "path": {
            "workflow": str(workflow.pk),
            "workspace": alice_workspace.pk,
            "run": str(run.pk),
            "user": alice.pk,
            "token": spare.pk,
            "credential": "key",
            "example": "research",
            "number": 1,
            "secret": hook_secret,
        },
    }


def _real_path_parameters(path: str, known: dict[str, Any]) -> dict[str, Any]:
    """The real object for each path parameter of ``path``."""
    found: dict[str, Any] = {}
    if path.startswith("/api/workflows/{id}"):
        found["id"] = known["workflow"]
    elif path.startswith("/api/workspaces/{id}"):
        found["id"] = known["workspace"]
    elif path.startswith("/api/runs/{id}"):
        found["id"] = known["run"]
    if "{workflow_id}" in path:
        found["workflow_id"] = known["workflow"]
    if "{workspace_id}" in path:
        found["workspace_id"] = known["workspace"]
    if "{user_id}" in path:
        found["user_id"] = known["user"]
    if "{token_id}" in path:
        found["token_id"] = known["token"]
    if "{number}" in path:
        found["number"] = known["number"]
    if "{secret}" in path:
        found["secret"] = known["secret"]
    if "{name}" in path:
        found["name"] = known["example" if path.startswith("/api/examples/") else "credential"]
    return found


@schema.parametrize()
@settings(
    max_examples=MAX_EXAMPLES,
    derandomize=True,
    deadline=None,
    suppress_health_check=list(HealthCheck),
)
@pytest.mark.django_db
def test_every_operation_answers_as_the_schema_says(
    case: schemathesis.Case, objects: dict[str, Any], same_connection: None
) -> None:
    if case.meta is not None and case.meta.generation.mode.is_positive and case.path_parameters:
        case.path_parameters.update(_real_path_parameters(case.path, objects["path"]))
    case.call_and_validate(headers={"Authorization": objects["auth"]}, checks=CHECKS)


# -- what the schema says of answers it cannot generate ------------------------------------------


def served_schema() -> dict[str, Any]:
    response = APIClient().get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    loaded: dict[str, Any] = response.json()
    return loaded


@pytest.mark.django_db
def test_every_429_and_503_declares_its_retry_after_header() -> None:
    declared = 0
    for path, operations in served_schema()["paths"].items():
        for method, operation in operations.items():
            responses = operation["responses"]
            assert "503" in responses, (method, path)  # the database may always be away
            for code in ("429", "503"):
                if code in responses:
                    header = responses[code].get("headers", {}).get("Retry-After")
                    assert header is not None, (method, path, code)
                    assert header["required"] is True
                    assert header["schema"] == {"type": "integer", "minimum": 1}
                    declared += 1
    assert declared > 50  # every operation's 503, and the webhook's 429


@pytest.fixture
def limiter_redis(settings: Any) -> Iterator[redis.Redis]:
    """The webhook's rate limiter on the tests' Redis database, with no counts of earlier runs."""
    settings.REDIS_URL = os.environ.get("STACK_REDIS_URL") or "redis://127.0.0.1:6379/11"
    client = redis.Redis.from_url(settings.REDIS_URL)
    for key in client.scan_iter("webhook-rate:*"):
        client.delete(key)
    yield client
    client.close()


def _hook(path: str, body: bytes, content_type: str = "application/json", **headers: str) -> Any:
    return APIClient(enforce_csrf_checks=True).generic(
        "POST", path, body, content_type=content_type, **headers
    )


def test_the_webhook_answers_exactly_the_statuses_its_schema_declares(
    settings: Any,
    limiter_redis: redis.Redis,
    alice_workspace: Workspace,
    bob: User,
    workflow: Workflow,
) -> None:
    declared = set(served_schema()["paths"]["/hooks/{secret}/"]["post"]["responses"])
    trigger, secret = webhooks.create_or_rotate_webhook(workflow, user=bob)
    path = f"/hooks/{secret}/"
    answers = {
        "404": _hook(f"/hooks/{secret}x/", b"{}"),
        "415": _hook(path, b"topic=owls", "application/x-www-form-urlencoded"),
        "400": _hook(path, b'{"topic": '),
    }
    limit, settings.DATA_UPLOAD_MAX_MEMORY_SIZE = settings.DATA_UPLOAD_MAX_MEMORY_SIZE, 100
    answers["413"] = _hook(path, b'{"text": "' + b"x" * 200 + b'"}')
    settings.DATA_UPLOAD_MAX_MEMORY_SIZE = limit

    real_redis = settings.REDIS_URL
    settings.REDIS_URL = (
        f"redis://127.0.0.1:{free_port()}/0"  # nothing listens: the limiter is down
    )
    answers["503"] = _hook(path, b"{}")
    settings.REDIS_URL = real_redis

    answers["202"] = _hook(path, b'{"topic": "owls"}', HTTP_IDEMPOTENCY_KEY="delivery-1")
    answers["409"] = _hook(path, b'{"topic": "bats"}', HTTP_IDEMPOTENCY_KEY="delivery-1")
    Membership.objects.filter(user=bob, workspace=alice_workspace).update(role="viewer")
    answers["403"] = _hook(path, b"{}")
    Membership.objects.filter(user=bob, workspace=alice_workspace).update(role="editor")

    # Over the limit: the calls above that reached the limiter (and one more) fill this minute.
    WebhookTrigger.objects.filter(pk=trigger.pk).update(rate_limit_per_minute=1)
    if time.time() % 60 > 55:  # the window is the clock minute: do not straddle two
        time.sleep(60 - time.time() % 60 + 0.1)
    _hook(path, b"{}")
    answers["429"] = _hook(path, b"{}")

    for code, response in answers.items():
        assert str(response.status_code) == code, (code, response.content)
        assert response["Content-Type"] == "application/json", code
        if code != "202":
            assert set(response.json()) == {"error"}, (code, response.content)
    for code in ("429", "503"):
        assert int(answers[code]["Retry-After"]) >= 1, code
    assert answers["415"].json()["error"]["code"] == "unsupported_media_type"
    assert declared == set(answers)
