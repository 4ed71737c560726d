"""Who uses the app in the browser tests and how they get in: alice, her password, the real login
form, a page of their own for another person; and workflows made for her in the database
(committed: Daphne and the worker see them)."""

from __future__ import annotations

import contextlib
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from django.contrib.auth.models import User
from playwright.sync_api import Browser, BrowserContext, Page, expect

from editor import operations
from editor.models import Workflow
from tests.support.stack import Daphne

USERNAME = "alice"
PASSWORD = "owls-hoot-at-night-42"
VIEWPORT = {"width": 1280, "height": 800}


def fill_login_form(page: Page, username: str, password: str = PASSWORD) -> None:
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Log in").click()


def log_in(page: Page, username: str = USERNAME, password: str = PASSWORD) -> None:
    """Sign in as a person would: the app sends us to /login/, we fill the form, back we go."""
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/\?next=/$"))
    fill_login_form(page, username, password)
    expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()
    expect(page.get_by_test_id("new-workflow")).to_be_visible()


def node(node_id: str, type_: str, x: int, label: str, **config: Any) -> dict[str, Any]:
    """A graph node with its label, placed at ``x`` on the canvas's first row."""
    return {
        "id": node_id,
        "type": type_,
        "label": label,
        "position": {"x": x, "y": 0},
        "config": config,
    }


def make_workflow(user: User, name: str, graph: dict[str, Any]) -> Workflow:
    """A saved workflow in the user's workspace (committed: Daphne and the worker see it)."""
    return operations.create_workflow(user=user, name=name, graph=graph)


def log_in_at(page: Page, username: str, path: str) -> None:
    """The real login form, reached from a page that needs it; back on ``path`` afterwards."""
    page.goto(path)
    expect(page).to_have_url(re.compile(r"/login/\?next="))
    fill_login_form(page, username)
    page.wait_for_url(lambda url: urlsplit(url).path == path)


def fresh_page(browser: Browser, daphne: Daphne) -> tuple[BrowserContext, Page, list[str]]:
    """A 1280×800 page in a context of its own (cookies, storage) with Daphne as base URL, and
    the list its uncaught errors go to."""
    context = browser.new_context(viewport=VIEWPORT, base_url=daphne.url)
    context.set_default_timeout(15_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    return context, page, errors


@contextlib.contextmanager
def other_person(browser: Browser, daphne: Daphne, shot: Path) -> Iterator[Page]:
    """Another person's page: a context of its own (cookies, storage), failing on page errors;
    on a failure it keeps a screenshot at ``shot``, as the ``page`` fixture does for alice."""
    context, page, errors = fresh_page(browser, daphne)
    try:
        yield page
        assert not errors, f"uncaught errors in the page: {errors}"
    except BaseException:
        if not page.is_closed():
            page.screenshot(path=str(shot))
            print(f"\nscreenshot of {shot.stem}'s page: {shot}\nurl: {page.url}")
        raise
    finally:
        context.close()
