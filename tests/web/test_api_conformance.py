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

from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import User
from django.core.signals import request_finished, request_started
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from hypothesis import HealthCheck, settings
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
from editor.models import Workflow, Workspace
from editor.tokens import issue_token
from orchestrator import runs

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
