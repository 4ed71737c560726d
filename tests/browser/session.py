"""Who uses the app in the browser tests and how she gets in: alice, her password, the real login
form; and workflows made for her in the database (committed: Daphne and the worker see them)."""

from __future__ import annotations

import re
from typing import Any

from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from editor import operations
from editor.models import Workflow

USERNAME = "alice"
PASSWORD = "owls-hoot-at-night-42"


def log_in(page: Page, username: str = USERNAME, password: str = PASSWORD) -> None:
    """Sign in as a person would: the app sends us to /login/, we fill the form, back we go."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()
    expect(page.get_by_test_id("new-workflow")).to_be_visible()


def make_workflow(user: User, name: str, graph: dict[str, Any]) -> Workflow:
    """A saved workflow in the user's workspace (committed: Daphne and the worker see it)."""
    return operations.create_workflow(user=user, name=name, graph=graph)
