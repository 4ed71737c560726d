"""Personal API tokens: many per user, the secret shown once, hashed at rest, optional expiry,
401 for bad/expired/deleted ones, last_used_at at most once a minute, the user's roles apply."""

from __future__ import annotations

from datetime import timedelta

from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from editor.authentication import digest
from editor.models import ApiToken, AuditEntry, Membership, Workflow, Workspace
from editor.tokens import issue_token


def _with(secret: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    return client


def test_a_token_is_made_shown_once_and_works_as_its_user(
    alice_client: APIClient, alice: User, workflow: Workflow
) -> None:
    made = alice_client.post("/api/tokens/", {"name": "ci"}, format="json")
    assert made.status_code == 201, made.content
    secret = made.json()["secret"]
    assert secret.startswith(made.json()["prefix"])
    assert made.json()["expires_at"] is None
    stored = ApiToken.objects.get(pk=made.json()["id"])
    assert stored.secret_hash == digest(secret)
    assert secret not in str(ApiToken.objects.filter(pk=stored.pk).values().first())

    listed = alice_client.get("/api/tokens/").json()
    assert [t["name"] for t in listed] == ["ci"]
    assert "secret" not in listed[0] and secret not in str(listed)

    response = _with(secret).get("/api/workflows/")
    assert response.status_code == 200
    assert response.json()["results"][0]["id"] == str(workflow.pk)
    entry = AuditEntry.objects.get(action="token.created")
    assert entry.actor == alice and secret not in str(entry.detail)


def test_many_named_tokens_each_work_and_deleting_one_stops_only_it(
    alice_client: APIClient, alice: User
) -> None:
    first = alice_client.post("/api/tokens/", {"name": "laptop"}, format="json").json()
    second = alice_client.post("/api/tokens/", {"name": "server"}, format="json").json()
    assert _with(first["secret"]).get("/api/workflows/").status_code == 200
    assert _with(second["secret"]).get("/api/workflows/").status_code == 200
    assert alice_client.delete(f"/api/tokens/{first['id']}/").status_code == 204
    gone = _with(first["secret"]).get("/api/workflows/")
    assert gone.status_code == 401
    assert gone["WWW-Authenticate"] == "Token"
    assert gone.json()["error"]["code"] == "authentication_failed"
    assert _with(second["secret"]).get("/api/workflows/").status_code == 200
    assert AuditEntry.objects.filter(action="token.deleted", actor=alice).count() == 1


def test_bad_and_expired_tokens_get_401_with_www_authenticate(alice: User) -> None:
    for header in ["Token nope", "Token a b", "Token"]:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=header)
        response = client.get("/api/workflows/")
        assert response.status_code == 401, header
        assert response["WWW-Authenticate"] == "Token"
    _, secret = issue_token(alice, "old", expires_at=timezone.now() - timedelta(seconds=1))
    response = _with(secret).get("/api/workflows/")
    assert response.status_code == 401
    assert "expired" in response.json()["error"]["message"]
    alice.is_active = False
    alice.save()
    _, fresh = issue_token(alice, "fresh")
    assert _with(fresh).get("/api/workflows/").status_code == 401


def test_an_expiry_in_days_is_kept_and_validated(alice_client: APIClient) -> None:
    made = alice_client.post("/api/tokens/", {"name": "week", "expires_in_days": 7}, format="json")
    assert made.status_code == 201
    assert made.json()["expires_at"] is not None
    assert _with(made.json()["secret"]).get("/api/tokens/").status_code == 200
    bad = alice_client.post("/api/tokens/", {"name": "", "expires_in_days": 0}, format="json")
    assert bad.status_code == 400
    assert set(bad.json()["error"]["fields"]) == {"name", "expires_in_days"}


def test_last_used_is_written_at_most_once_a_minute(alice: User) -> None:
    token, secret = issue_token(alice, "script")
    assert token.last_used_at is None
    _with(secret).get("/api/workflows/")
    token.refresh_from_db()
    first = token.last_used_at
    assert first is not None
    _with(secret).get("/api/workflows/")
    token.refresh_from_db()
    assert token.last_used_at == first  # within the minute: no new write
    ApiToken.objects.filter(pk=token.pk).update(last_used_at=first - timedelta(minutes=2))
    _with(secret).get("/api/workflows/")
    token.refresh_from_db()
    assert token.last_used_at > first - timedelta(minutes=2)


def test_tokens_are_personal_and_cannot_mint_tokens(
    alice: User, alice_client: APIClient, charlie_client: APIClient
) -> None:
    _, secret = issue_token(alice, "script")
    mine = ApiToken.objects.get(user=alice)
    assert charlie_client.get("/api/tokens/").json() == []
    assert charlie_client.delete(f"/api/tokens/{mine.pk}/").status_code == 404
    assert ApiToken.objects.filter(pk=mine.pk).exists()
    refused = _with(secret).post("/api/tokens/", {"name": "successor"}, format="json")
    assert refused.status_code == 403
    assert ApiToken.objects.filter(user=alice).count() == 1


def test_a_token_acts_with_its_users_role(alice_workspace: Workspace, workflow: Workflow) -> None:
    viewer = User.objects.create_user("vera", "vera@example.org", "pw")
    Membership.objects.create(user=viewer, workspace=alice_workspace, role="viewer")
    _, secret = issue_token(viewer, "script")
    client = _with(secret)
    assert client.get(f"/api/workflows/{workflow.pk}/").status_code == 200
    refused = client.post(f"/api/workflows/{workflow.pk}/runs/", {"input": {}}, format="json")
    assert refused.status_code == 403
    assert "viewer" in refused.json()["error"]["message"]
    # A token needs no CSRF token: it is not a cookie the browser sends on its own.
    csrf_client = APIClient(enforce_csrf_checks=True)
    csrf_client.credentials(HTTP_AUTHORIZATION=f"Token {secret}")
    created = csrf_client.post("/api/workflows/", {"name": "mine"}, format="json")
    assert created.status_code == 201
