"""Team workspaces and members: create and rename, list, change roles, remove, leave; the last
owner stays; outsiders get 404 and non-owners 403; every change is in the audit log."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor.models import AuditEntry, Membership, Workspace
from tests.web.concurrency import at_once, require_postgres


def _url(workspace: Workspace, user: User | None = None) -> str:
    base = f"/api/workspaces/{workspace.pk}/members/"
    return f"{base}{user.pk}/" if user is not None else base


def test_creating_a_workspace_makes_the_creator_its_owner(
    alice: User, alice_client: APIClient
) -> None:
    response = alice_client.post("/api/workspaces/", {"name": "Research team"}, format="json")
    assert response.status_code == 201, response.content
    data = response.json()
    assert data["name"] == "Research team" and data["role"] == "owner"
    assert data["slug"] == "research-team"
    again = alice_client.post("/api/workspaces/", {"name": "Research team"}, format="json")
    assert again.json()["slug"] == "research-team-2"
    names = {w["name"] for w in alice_client.get("/api/workspaces/").json()["results"]}
    assert {"Research team", "alice's workspace"} <= names
    assert AuditEntry.objects.filter(action="workspace.created", actor=alice).count() == 2
    blank = alice_client.post("/api/workspaces/", {"name": "  "}, format="json")
    assert blank.status_code == 400
    assert "name" in blank.json()["error"]["fields"]


def test_only_an_owner_renames_and_outsiders_get_404(
    alice_workspace: Workspace,
    alice_client: APIClient,
    bob_client: APIClient,
    charlie_client: APIClient,
) -> None:
    url = f"/api/workspaces/{alice_workspace.pk}/"
    refused = bob_client.patch(url, {"name": "Bob's now"}, format="json")
    assert refused.status_code == 403
    assert "editor" in refused.json()["error"]["message"]
    assert charlie_client.patch(url, {"name": "Mine"}, format="json").status_code == 404
    done = alice_client.patch(url, {"name": "Lab"}, format="json")
    assert done.status_code == 200 and done.json()["name"] == "Lab"
    alice_workspace.refresh_from_db()
    assert alice_workspace.name == "Lab"
    assert AuditEntry.objects.get(action="workspace.renamed").detail["to"] == "Lab"


def test_every_member_sees_the_members_and_outsiders_see_nothing(
    alice_workspace: Workspace, bob: User, bob_client: APIClient, charlie_client: APIClient
) -> None:
    response = bob_client.get(_url(alice_workspace))
    assert response.status_code == 200
    assert [(m["username"], m["role"], m["you"]) for m in response.json()] == [
        ("alice", "owner", False),
        ("bob", "editor", True),
    ]
    assert charlie_client.get(_url(alice_workspace)).status_code == 404
    assert charlie_client.get("/api/workspaces/999999/members/").status_code == 404


def test_an_owner_changes_roles_and_others_may_not(
    alice: User,
    alice_workspace: Workspace,
    alice_client: APIClient,
    bob: User,
    bob_client: APIClient,
    charlie: User,
    charlie_client: APIClient,
) -> None:
    refused = bob_client.patch(_url(alice_workspace, alice), {"role": "viewer"}, format="json")
    assert refused.status_code == 403
    hidden = charlie_client.patch(_url(alice_workspace, bob), {"role": "owner"}, format="json")
    assert hidden.status_code == 404
    done = alice_client.patch(_url(alice_workspace, bob), {"role": "runner"}, format="json")
    assert done.status_code == 200 and done.json()["role"] == "runner"
    assert Membership.objects.get(user=bob, workspace=alice_workspace).role == "runner"
    entry = AuditEntry.objects.get(action="member.role_changed")
    assert entry.detail == {"from": "editor", "to": "runner"} and entry.actor == alice
    bad = alice_client.patch(_url(alice_workspace, bob), {"role": "god"}, format="json")
    assert bad.status_code == 400 and "role" in bad.json()["error"]["fields"]
    # charlie is no member here: his id in this workspace's URL is not found.
    stranger = alice_client.patch(_url(alice_workspace, charlie), {"role": "viewer"}, format="json")
    assert stranger.status_code == 404


def test_the_last_owner_can_be_neither_demoted_nor_removed(
    alice: User, alice_workspace: Workspace, alice_client: APIClient, bob: User
) -> None:
    demote = alice_client.patch(_url(alice_workspace, alice), {"role": "editor"}, format="json")
    assert demote.status_code == 409
    assert "last owner" in demote.json()["error"]["message"]
    leave = alice_client.delete(_url(alice_workspace, alice))
    assert leave.status_code == 409
    assert "last owner" in leave.json()["error"]["message"]
    assert Membership.objects.get(user=alice, workspace=alice_workspace).role == "owner"
    # With a second owner, the first may step down.
    alice_client.patch(_url(alice_workspace, bob), {"role": "owner"}, format="json")
    stepped = alice_client.patch(_url(alice_workspace, alice), {"role": "viewer"}, format="json")
    assert stepped.status_code == 200


def test_an_owner_removes_a_member_who_then_sees_404(
    alice: User,
    alice_workspace: Workspace,
    alice_client: APIClient,
    bob: User,
    bob_client: APIClient,
) -> None:
    assert bob_client.get(_url(alice_workspace)).status_code == 200
    assert alice_client.delete(_url(alice_workspace, bob)).status_code == 204
    assert not Membership.objects.filter(user=bob, workspace=alice_workspace).exists()
    assert bob_client.get(_url(alice_workspace)).status_code == 404
    assert AuditEntry.objects.get(action="member.removed").target_id == str(bob.pk)
    assert alice_client.delete(_url(alice_workspace, bob)).status_code == 404


def test_a_member_may_leave_but_not_remove_others(
    alice: User,
    alice_workspace: Workspace,
    bob: User,
    bob_client: APIClient,
) -> None:
    refused = bob_client.delete(_url(alice_workspace, alice))
    assert refused.status_code == 403
    assert "owner" in refused.json()["error"]["message"]
    assert bob_client.delete(_url(alice_workspace, bob)).status_code == 204
    assert not Membership.objects.filter(user=bob, workspace=alice_workspace).exists()
    assert AuditEntry.objects.get(action="member.left").actor == bob


def test_two_owners_demoting_each_other_at_once_leave_one_owner(transactional_db: None) -> None:
    """Roles are checked and owners counted with the workspace's members locked: of two
    simultaneous demotions one wins, and the loser, no longer an owner, is refused (403). Never
    both, which would leave the workspace without an owner."""
    from django.db import connection, transaction

    from editor import operations

    if connection.vendor != "postgresql":
        pytest.skip("watches lock waits in pg_stat_activity; SQLite has one writer anyway")
    alice = User.objects.create_user("alice", "alice@example.org", "pw")
    bob = User.objects.create_user("bob", "bob@example.org", "pw")
    workspace = operations.ensure_personal_workspace(alice)
    Membership.objects.create(user=bob, workspace=workspace, role="owner")
    clients = {}
    for user in (alice, bob):
        clients[user.username] = APIClient()
        clients[user.username].force_login(user)
    results: dict[str, int] = {}

    def demote(actor: str, target: User) -> None:
        try:
            response = clients[actor].patch(
                _url(workspace, target), {"role": "viewer"}, format="json"
            )
            results[actor] = response.status_code
        finally:
            connection.close()  # this thread's own connection

    # Hold the first membership row so both requests are in flight before either may proceed.
    with transaction.atomic():
        list(Membership.objects.select_for_update().filter(workspace=workspace).order_by("pk")[:1])
        threads = [
            threading.Thread(target=demote, args=("alice", bob)),
            threading.Thread(target=demote, args=("bob", alice)),
        ]
        for thread in threads:
            thread.start()
        deadline = time.monotonic() + 10
        waiting = 0
        with connection.cursor() as cursor:
            while waiting < 2 and time.monotonic() < deadline:
                time.sleep(0.02)
                # Statistics views are read once per transaction unless the snapshot is dropped.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity"
                    " WHERE wait_event_type = 'Lock' AND datname = current_database()"
                )
                waiting = cursor.fetchone()[0]
    for thread in threads:
        thread.join(timeout=30)
    # Both changes queued on the lock (neither decided on what it read before the other wrote).
    assert waiting >= 2, results
    assert sorted(results.values()) == [200, 403], results
    owners = Membership.objects.filter(workspace=workspace, role="owner").count()
    assert owners == 1


@pytest.mark.django_db(transaction=True)
def test_team_workspaces_of_one_name_made_at_once_all_succeed(alice: User) -> None:
    """Their slugs collide; the losers retry with another slug instead of answering 500."""
    require_postgres()
    results = at_once(
        alice,
        [lambda c: c.post("/api/workspaces/", {"name": "Team"}, format="json").status_code] * 6,
    )
    assert results == [201] * 6
    assert Workspace.objects.filter(name="Team").count() == 6
    assert len(set(Workspace.objects.filter(name="Team").values_list("slug", flat=True))) == 6
