"""Invitations: an owner invites with a role and gets the link once; the signed-in holder joins
with that role once; revoked links 404, used and expired ones 410; already a member 409."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.utils import timezone
from rest_framework.test import APIClient

from editor.authentication import digest
from editor.models import AuditEntry, Invitation, Membership, Workspace
from tests.web.concurrency import at_once, require_postgres


def _invite(client: APIClient, workspace: Workspace, **body: object) -> dict[str, object]:
    payload = {"email": "dana@example.org", "role": "runner", **body}
    response = client.post(f"/api/workspaces/{workspace.pk}/invitations/", payload, format="json")
    assert response.status_code == 201, response.content
    return dict(response.json())


def _secret(invitation: dict[str, object]) -> str:
    return str(invitation["url"]).rsplit("/invitations/", 1)[1]


def _dana() -> APIClient:
    user = User.objects.create_user("dana", "dana@example.org", "pw")
    client = APIClient()
    client.force_login(user)
    return client


def test_an_owner_invites_and_the_link_is_shown_once_and_stored_hashed(
    alice: User, alice_workspace: Workspace, alice_client: APIClient
) -> None:
    made = _invite(alice_client, alice_workspace)
    secret = _secret(made)
    assert str(made["url"]).startswith("http://testserver/invitations/")
    stored = Invitation.objects.get(pk=made["id"])
    assert stored.secret_hash == digest(secret)
    assert timedelta(days=6, hours=23) < stored.expires_at - timezone.now() <= timedelta(days=7)
    listed = alice_client.get(f"/api/workspaces/{alice_workspace.pk}/invitations/").json()
    assert [(i["email"], i["role"], i["invited_by"]) for i in listed] == [
        ("dana@example.org", "runner", "alice")
    ]
    assert secret not in str(listed) and "url" not in listed[0]
    entry = AuditEntry.objects.get(action="invitation.created")
    assert entry.actor == alice and secret not in str(entry.detail)


def test_only_owners_invite_and_outsiders_get_404(
    alice_workspace: Workspace, bob_client: APIClient, charlie_client: APIClient
) -> None:
    url = f"/api/workspaces/{alice_workspace.pk}/invitations/"
    body = {"email": "x@example.org", "role": "viewer"}
    assert bob_client.post(url, body, format="json").status_code == 403
    assert bob_client.get(url).status_code == 403
    assert charlie_client.post(url, body, format="json").status_code == 404
    assert charlie_client.get(url).status_code == 404
    assert not Invitation.objects.exists()


def test_field_errors_name_the_field(alice_workspace: Workspace, alice_client: APIClient) -> None:
    response = alice_client.post(
        f"/api/workspaces/{alice_workspace.pk}/invitations/",
        {"email": "not-an-email", "role": "boss"},
        format="json",
    )
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"email", "role"}


def test_accepting_joins_with_the_role_once(
    alice_workspace: Workspace, alice_client: APIClient, charlie_client: APIClient
) -> None:
    secret = _secret(_invite(alice_client, alice_workspace))
    dana = _dana()
    response = dana.post("/api/invitations/accept/", {"token": secret}, format="json")
    assert response.status_code == 201, response.content
    assert response.json() == {
        "workspace": alice_workspace.pk,
        "workspace_name": alice_workspace.name,
        "role": "runner",
    }
    assert Membership.objects.get(user__username="dana", workspace=alice_workspace).role == "runner"
    assert dana.get(f"/api/workspaces/{alice_workspace.pk}/members/").status_code == 200
    assert AuditEntry.objects.get(action="invitation.accepted").actor.username == "dana"
    # The link is spent: nobody else gets in with it.
    used = charlie_client.post("/api/invitations/accept/", {"token": secret}, format="json")
    assert used.status_code == 410
    assert "already been used" in used.json()["error"]["message"]
    # Accepted invitations are no longer pending.
    assert alice_client.get(f"/api/workspaces/{alice_workspace.pk}/invitations/").json() == []


def test_a_member_cannot_accept_again(
    alice_workspace: Workspace, alice_client: APIClient, bob_client: APIClient
) -> None:
    secret = _secret(_invite(alice_client, alice_workspace, role="owner"))
    response = bob_client.post("/api/invitations/accept/", {"token": secret}, format="json")
    assert response.status_code == 409
    assert "already a member" in response.json()["error"]["message"]
    assert Membership.objects.get(user__username="bob", workspace=alice_workspace).role == "editor"


def test_revoked_wrong_and_expired_links_do_not_let_anyone_in(
    alice_workspace: Workspace, alice_client: APIClient
) -> None:
    revoked = _invite(alice_client, alice_workspace)
    expired = _invite(alice_client, alice_workspace, email="eve@example.org")
    url = f"/api/workspaces/{alice_workspace.pk}/invitations/{revoked['id']}/"
    assert alice_client.delete(url).status_code == 204
    assert alice_client.delete(url).status_code == 404
    assert AuditEntry.objects.filter(action="invitation.revoked").count() == 1
    Invitation.objects.filter(pk=expired["id"]).update(
        expires_at=timezone.now() - timedelta(seconds=1)
    )
    dana = _dana()
    for secret, code, words in [
        (_secret(revoked), 404, "not valid"),
        (_secret(revoked)[:-1] + "x", 404, "not valid"),
        (_secret(expired), 410, "expired"),
    ]:
        response = dana.post("/api/invitations/accept/", {"token": secret}, format="json")
        assert response.status_code == code, secret
        assert words in response.json()["error"]["message"]
    assert not Membership.objects.filter(user__username="dana", workspace=alice_workspace).exists()


def test_another_workspaces_owner_cannot_revoke_by_id(
    alice_workspace: Workspace, alice_client: APIClient, charlie: User, charlie_client: APIClient
) -> None:
    made = _invite(alice_client, alice_workspace)
    charlie_ws = Membership.objects.get(user=charlie).workspace
    response = charlie_client.delete(f"/api/workspaces/{charlie_ws.pk}/invitations/{made['id']}/")
    assert response.status_code == 404
    assert Invitation.objects.filter(pk=made["id"]).exists()


def test_the_link_opens_a_page_that_joins_after_sign_in(
    alice_workspace: Workspace, alice_client: APIClient
) -> None:
    secret = _secret(_invite(alice_client, alice_workspace))
    page = f"/invitations/{secret}"
    anonymous = Client().get(page)
    assert anonymous.status_code == 302 and anonymous["Location"].startswith("/login/")
    User.objects.create_user("dana", "dana@example.org", "pw")
    browser = Client()
    browser.login(username="dana", password="pw")
    shown = browser.get(page)
    assert shown.status_code == 200
    assert "Join alice&#x27;s workspace" in shown.content.decode()
    assert "<strong>runner</strong>" in shown.content.decode()
    joined = browser.post(page)
    assert joined.status_code == 302
    assert joined["Location"] == f"/settings/members?workspace={alice_workspace.pk}"
    assert Membership.objects.filter(user__username="dana", workspace=alice_workspace).exists()
    again = browser.get(page)
    assert again.status_code == 410 and "already been used" in again.content.decode()
    assert browser.get("/invitations/not-a-link").status_code == 404


@pytest.mark.django_db(transaction=True)
def test_accepting_two_links_at_once_joins_once(alice: User, alice_workspace: Workspace) -> None:
    """The second acceptance is a 409 like any other \"already a member\", not a 500."""
    require_postgres()
    owner = APIClient()
    owner.force_login(alice)
    secrets = [
        _secret(_invite(owner, alice_workspace, email="zed@example.org", role="viewer"))
        for _ in range(4)
    ]
    zed = User.objects.create_user("zed", "zed@example.org", "pw")

    def accept(secret: str) -> Callable[[APIClient], int]:
        return lambda c: (
            c.post("/api/invitations/accept/", {"token": secret}, format="json").status_code
        )

    results = at_once(zed, [accept(secret) for secret in secrets])
    assert sorted(results) == [201, 409, 409, 409]
    assert Membership.objects.filter(user=zed, workspace=alice_workspace).count() == 1
