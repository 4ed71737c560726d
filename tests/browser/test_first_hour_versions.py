"""A new user's first hour, point 9: versions with context, and work that is not lost. A save
may carry a message, which Versions shows beside the version; a version that cannot run says
"invalid" and how many problems it has instead of "draft"; unsaved changes survive a reload
(back on the canvas, still unsaved, with a note and a way to discard them). Publishing and
naming versions: test_published_versions."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import card
from tests.browser.session import make_workflow, node

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def kept(page: Page, workflow_id: str, text: str) -> None:
    """Wait until the unsaved graph holding ``text`` is kept in the browser's storage."""
    page.wait_for_function(
        "([key, text]) => (localStorage.getItem(key) || '').includes(text)",
        arg=[f"flow.unsaved.{workflow_id}", text],
    )


GRAPH = {
    "nodes": [
        node("in", "input", 0, "Brief"),
        node("say", "transform", 260, "Say", template="Hello"),
        node("out", "output", 520, "Result"),
    ],
    "edges": [
        {"id": "e1", "source": "in", "target": "say"},
        {"id": "e2", "source": "say", "target": "out"},
    ],
}


def test_unsaved_work_survives_a_reload_and_saves_carry_a_message(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Greeter", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    page.on("dialog", lambda dialog: dialog.accept())  # the "leave with unsaved changes?" prompt

    # -- an edit, not saved, and the page reloaded
    card(page, "say").locator(".node-label").click()
    page.get_by_test_id("settings-panel").get_by_test_id("node-label-input").fill("Greet warmly")
    expect(page.get_by_test_id("unsaved")).to_be_visible()
    kept(page, str(workflow.id), "Greet warmly")
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(3)

    # back on the canvas, still unsaved, and said so
    banner = page.get_by_test_id("recovered-banner")
    expect(banner).to_contain_text("unsaved changes")
    expect(banner).to_contain_text("back on the canvas")
    expect(card(page, "say").locator(".node-label")).to_have_text("Greet warmly")
    expect(page.get_by_test_id("unsaved")).to_be_visible()

    # -- saved with a message: Versions shows it
    page.get_by_test_id("save-with-message").click()
    message = page.get_by_test_id("save-note-input")
    expect(message).to_be_focused()
    message.fill("Warmer greeting")
    page.get_by_test_id("save-note-submit").click()
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    page.get_by_test_id("versions").click()
    expect(page.get_by_test_id("version-note-2")).to_have_text("Warmer greeting")
    expect(page.get_by_test_id("version-note-1")).to_have_text("Created")
    page.get_by_test_id("versions").click()

    # saved: a reload brings nothing back
    page.get_by_test_id("recovered-ok").click()
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    expect(page.get_by_test_id("recovered-banner")).to_have_count(0)

    # -- a version that cannot run says how many problems it has, not "draft"
    card(page, "say").locator(".node-label").click()
    template = page.get_by_test_id("settings-panel").get_by_test_id("field-template")
    template.fill("{{ nodes.ghost.output }}")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v3")
    page.get_by_test_id("versions").click()
    expect(page.get_by_test_id("version-state-3")).to_have_text("invalid · 1 problem")
    expect(page.get_by_test_id("version-problems-3")).to_have_text("1 problem")
    expect(page.get_by_test_id("version-problems-2")).to_have_count(0)
    expect(page.get_by_test_id("version-state-2")).to_have_text("draft")

    # -- discarding kept changes puts the saved version back
    page.get_by_test_id("versions").click()
    card(page, "say").locator(".node-label").click()
    page.get_by_test_id("settings-panel").get_by_test_id("node-label-input").fill("Scratch")
    kept(page, str(workflow.id), "Scratch")
    page.reload()
    expect(page.get_by_test_id("recovered-banner")).to_be_visible()
    page.get_by_test_id("recovered-discard").click()
    expect(card(page, "say").locator(".node-label")).to_have_text("Greet warmly")
    expect(page.get_by_test_id("unsaved")).to_have_count(0)
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id("recovered-banner")).to_have_count(0)
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow.id}$"))
