"""A new user's first hour, point 10: the paper cuts. The login page asks for nothing that is
not there (no favicon 404); the New workflow dialog starts in its Name field, so typing a name
with a space neither goes nowhere nor closes it; an exported workflow imported again keeps its
description and, imported twice, gets a name of its own; the list has a search box; Webhook on a
workflow without one opens without a 404 in the console."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, Response, expect

from tests.browser.session import fill_login_form, make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

EXPORTED: dict[str, Any] = {
    "format": "flowbuilder.workflow",
    "format_version": 1,
    "name": "Owl digest",
    "description": "Three owl facts, every Monday",
    "graph": {
        "nodes": [
            {"id": "in", "type": "input", "position": {"x": 0, "y": 0}, "config": {}},
            {"id": "out", "type": "output", "position": {"x": 300, "y": 0}, "config": {}},
        ],
        "edges": [{"id": "e1", "source": "in", "target": "out"}],
    },
}


def test_the_first_hour_paper_cuts_are_gone(page: Page, alice: User, tmp_path: Path) -> None:
    failed: list[str] = []

    def note(response: Response) -> None:
        if response.status >= 400:
            failed.append(f"{response.status} {response.url}")

    page.on("response", note)
    console: list[str] = []
    page.on("console", lambda m: console.append(m.text) if m.type == "error" else None)

    # -- the login page: nothing missing
    page.goto("/")
    expect(page).to_have_url(re.compile(r"/login/"))
    fill_login_form(page, "alice")
    expect(page.get_by_role("heading", name="Workflows", exact=True)).to_be_visible()
    assert failed == [], failed

    # -- the New workflow dialog starts in Name; a space is a space
    page.get_by_test_id("new-workflow").click()
    name = page.get_by_test_id("name-input")
    expect(name).to_be_focused()
    page.keyboard.type("Owl facts")
    expect(name).to_have_value("Owl facts")
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")

    # -- import keeps the description; importing again makes a name of its own
    exported = tmp_path / "owl-digest.json"
    exported.write_text(json.dumps(EXPORTED))
    for _ in range(2):
        page.goto("/")
        page.get_by_test_id("import-file").set_input_files(str(exported))
        expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    page.goto("/")
    rows = page.get_by_test_id("workflow-list").locator("tbody tr")
    expect(rows).to_have_count(2)
    names = rows.locator(".row-link").all_inner_texts()
    assert sorted(names) == ["Owl digest", "Owl digest (2)"], names
    expect(rows.filter(has_text="Three owl facts, every Monday")).to_have_count(2)

    # -- search: by name or description, on the server's list
    make_workflow(alice, "Sales report", {"nodes": [], "edges": []})
    page.reload()
    expect(rows).to_have_count(3)
    search = page.get_by_test_id("workflow-search")
    search.fill("monday owl")
    expect(rows).to_have_count(2)
    search.fill("sales")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Sales report")
    search.fill("nothing like this")
    expect(page.get_by_test_id("workflow-search-empty")).to_contain_text("nothing like this")
    search.fill("")
    expect(rows).to_have_count(3)

    # -- Webhook on a workflow without one: no 404, no console error
    failed.clear()
    console.clear()
    row = rows.filter(has_text="Sales report")
    row.get_by_role("button", name=re.compile("Webhook of")).click()
    expect(page.get_by_test_id("webhook-none")).to_be_visible()
    # made, closed and opened again, it shows the webhook (the list learnt it has one)
    page.get_by_test_id("webhook-create").click()
    expect(page.get_by_test_id("webhook-details")).to_be_visible()
    page.keyboard.press("Escape")
    row.get_by_role("button", name=re.compile("Webhook of")).click()
    expect(page.get_by_test_id("webhook-details")).to_be_visible()
    assert failed == [], failed
    assert console == [], console
