"""Fixtures for the web app: people, their API clients, graphs and a workflow.

alice owns her workspace, bob is an editor in it (and owns his own), charlie is an outsider who
belongs only to his own workspace: whatever is alice's must be invisible (404) to him.
"""

from __future__ import annotations

import copy
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from editor import operations
from editor.models import Membership, Role, Workflow, Workspace

PASSWORD = "correct horse battery staple"

VALID_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "brief", "type": "input", "label": "Brief", "position": {"x": 0, "y": 0}},
        {
            "id": "shout",
            "type": "transform",
            "label": "Shout",
            "position": {"x": 250, "y": 0},
            "config": {"template": "Topic: {{ input.topic }}"},
        },
        {"id": "result", "type": "output", "label": "Result", "position": {"x": 500, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "shout"},
        {"id": "e2", "source": "shout", "target": "result"},
    ],
}

# Two faults the canvas can produce while someone is still editing: a transform without its
# template (a node issue) and an edge to a node that was deleted (an edge issue).
INVALID_GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "brief", "type": "input", "label": "Brief"},
        {"id": "shout", "type": "transform", "label": "Shout", "config": {}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "shout"},
        {"id": "e9", "source": "shout", "target": "gone"},
    ],
}


@pytest.fixture(autouse=True)
def fast_password_hashing(settings: Any) -> None:
    # PBKDF2 is slow on purpose; three users a test would spend most of the suite's time there.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def _user(username: str) -> User:
    return User.objects.create_user(username, f"{username}@example.org", PASSWORD)


def _client(user: User | None) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_login(user)
    return client


@pytest.fixture
def alice(db: None) -> User:
    return _user("alice")


@pytest.fixture
def bob(db: None, alice_workspace: Workspace) -> User:
    user = _user("bob")
    Membership.objects.create(user=user, workspace=alice_workspace, role=Role.EDITOR)
    return user


@pytest.fixture
def charlie(db: None) -> User:
    return _user("charlie")


@pytest.fixture
def alice_workspace(alice: User) -> Workspace:
    return operations.ensure_personal_workspace(alice)


@pytest.fixture
def alice_client(alice: User) -> APIClient:
    return _client(alice)


@pytest.fixture
def bob_client(bob: User) -> APIClient:
    return _client(bob)


@pytest.fixture
def charlie_client(charlie: User) -> APIClient:
    return _client(charlie)


@pytest.fixture
def anon_client(db: None) -> APIClient:
    return _client(None)


@pytest.fixture
def valid_graph() -> dict[str, Any]:
    return copy.deepcopy(VALID_GRAPH)


@pytest.fixture
def invalid_graph() -> dict[str, Any]:
    return copy.deepcopy(INVALID_GRAPH)


@pytest.fixture
def workflow(alice: User, alice_workspace: Workspace, valid_graph: dict[str, Any]) -> Workflow:
    """Alice's "Research brief", version 1 holding the valid graph."""
    return operations.create_workflow(
        user=alice,
        workspace=alice_workspace,
        name="Research brief",
        description="Turns a topic into a briefing",
        graph=valid_graph,
    )


@pytest.fixture
def workflow_url(workflow: Workflow) -> str:
    return f"/api/workflows/{workflow.id}/"
