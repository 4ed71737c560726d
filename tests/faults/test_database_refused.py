"""PostgreSQL refuses new connections (it is restarting, or not taking any): every HTTP view
answers 503 with ``Retry-After``, never a 500 — the REST API, the webhook, the server-rendered
pages, the login form and the admin alike: in the API's error shape for API paths and clients
that ask for JSON, as a short page for a browser. Once the database takes connections again the
same requests succeed, and nothing was stored for the refused ones.

Daphne runs without its pool here (``WEB_DB_POOL_SIZE=0``, as behind a PgBouncer), so every
request opens a connection of its own and meets the refusal. The refusal is PostgreSQL's own:
the test database is set to ``ALLOW_CONNECTIONS false`` (sessions already open, like this
test's, go on).
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import psycopg
import pytest
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.contrib.auth.models import User
from django.db import connection

from editor import webhooks
from editor.models import Workspace
from editor.tokens import issue_token
from orchestrator.models import Run
from tests.orchestrator.conftest import chain, make_workflow, node, session_of
from tests.support.stack import Daphne, Stack
from tests.web.conftest import PASSWORD

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

BROWSER = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"


@contextlib.contextmanager
def connections_refused() -> Iterator[None]:
    """The test database refuses every new connection until the block ends."""
    settings = connection.settings_dict
    name = settings["NAME"]
    with psycopg.connect(
        dbname="postgres",
        user=settings.get("USER") or None,
        password=settings.get("PASSWORD") or None,
        host=settings.get("HOST") or "127.0.0.1",
        port=settings.get("PORT") or 5432,
        autocommit=True,
    ) as admin:
        admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS false')
        try:
            yield
        finally:
            admin.execute(f'ALTER DATABASE "{name}" ALLOW_CONNECTIONS true')


@dataclass
class Call:
    """One request, what it answers when the database is there, and whether a browser made it."""

    name: str
    method: str
    path: str
    ok: int
    html: bool = False
    headers: dict[str, str] = field(default_factory=dict)
    json: Any = None
    data: dict[str, str] | None = None

    def send(self, client: httpx.Client) -> httpx.Response:
        return client.request(
            self.method, self.path, headers=self.headers, json=self.json, data=self.data
        )


def assert_unavailable(call: Call, response: httpx.Response) -> None:
    what = f"{call.name}: {response.status_code} {response.text[:300]}"
    assert response.status_code == 503, what
    assert int(response.headers["Retry-After"]) > 0, what
    if call.html:
        assert response.headers["Content-Type"].startswith("text/html"), what
        assert "try again" in response.text.lower(), what
    else:
        assert response.headers["Content-Type"] == "application/json", what
        body = response.json()
        assert body["error"]["code"] == "database_unavailable", what
        assert body["error"]["message"], what


def calls(web: Daphne, alice: User, alice_workspace: Workspace) -> list[Call]:
    workflow = make_workflow(
        alice, alice_workspace, chain(node("brief", "input"), node("result", "output"))
    )
    _, hook = webhooks.create_or_rotate_webhook(workflow, user=alice)
    # Daphne checks passwords with the project's hashers, not the tests' fast one (first: a
    # session is bound to the password it was made with).
    alice.password = PBKDF2PasswordHasher().encode(PASSWORD, "refused-salt", iterations=1000)
    alice.save(update_fields=["password"])
    _, token = issue_token(alice, "refused")
    api = {"Authorization": f"Token {token}"}
    cookie = {"Cookie": f"sessionid={session_of(alice)}"}
    # The login form's CSRF token: its page is served without the database to an anonymous GET.
    form = httpx.get(f"{web.url}/login/", trust_env=False, timeout=10)
    assert form.status_code == 200
    csrf = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', form.text)
    assert csrf is not None
    login = {
        "Cookie": f"csrftoken={form.cookies['csrftoken']}",
        "Accept": BROWSER,
        "Referer": f"{web.url}/login/",
    }
    credentials = {
        "username": "alice",
        "password": PASSWORD,
        "csrfmiddlewaretoken": csrf.group(1),
    }
    return [
        # DRF views: the API, with a token.
        Call("list workflows", "GET", "/api/workflows/", 200, headers=api),
        Call(
            "start a run",
            "POST",
            f"/api/workflows/{workflow.pk}/runs/",
            201,
            headers=api,
            json={"input": {"topic": "owls"}},
        ),
        # A browser on an API path still gets the API's shape.
        Call("API page", "GET", "/api/workflows/", 200, headers={**cookie, "Accept": BROWSER}),
        # The webhook: no session, no token.
        Call("webhook", "POST", f"/hooks/{hook}/", 202, json={"topic": "bats"}),
        # Plain Django views: the app's page, the login form, the admin.
        Call("app page", "GET", "/", 200, html=True, headers={**cookie, "Accept": BROWSER}),
        Call("app page as JSON", "GET", "/", 200, headers={**cookie, "Accept": "application/json"}),
        Call("log in", "POST", "/login/", 302, html=True, headers=login, data=credentials),
        Call("admin", "GET", "/admin/", 302, html=True, headers={**cookie, "Accept": BROWSER}),
    ]


def test_every_view_answers_503_with_retry_after_while_the_database_refuses_connections(
    stack: Stack, alice: User, alice_workspace: Workspace
) -> None:
    with (
        stack.daphne(env={"WEB_DB_POOL_SIZE": "0"}) as web,
        httpx.Client(
            base_url=web.url, timeout=15, trust_env=False, follow_redirects=False
        ) as client,
    ):
        planned = calls(web, alice, alice_workspace)
        with connections_refused():
            for call in planned:
                client.cookies.clear()
                assert_unavailable(call, call.send(client))
            health = client.get("/readyz")
            assert health.status_code == 503
            assert health.json()["database"].startswith("error")
        assert not Run.objects.exists(), "a refused run start stored a run"

        for call in planned:
            client.cookies.clear()
            response = call.send(client)
            assert response.status_code == call.ok, (call.name, response.text[:300], web.log_tail())
        assert client.get("/readyz").json()["database"] == "ok"
    assert sorted(Run.objects.values_list("input", flat=True), key=str) == [
        {"topic": "bats"},
        {"topic": "owls"},
    ]
