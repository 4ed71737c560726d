"""A new user's first hour, point 4: a flow with errors cannot be run, and says why in plain
words. A node dropped with a required setting left empty marks its card, the toolbar counts the
problem, Run is disabled with the reason beside it, the problems list names the node by its label
and picking a problem opens that node's settings at the field; once fixed, Run is back."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import card, connect, drop_from_palette, handle
from tests.browser.session import make_workflow, node

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def test_run_is_disabled_with_the_reason_and_problems_open_their_node(
    app: Page, alice: User
) -> None:
    page = app
    graph = {
        "nodes": [node("brief", "input", 0, "Brief"), node("done", "output", 600, "Result")],
        "edges": [{"id": "e1", "source": "brief", "target": "done"}],
    }
    workflow = make_workflow(alice, "Lookup", graph)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(2)
    expect(page.get_by_test_id("run")).to_be_enabled()
    expect(page.get_by_test_id("run-blocked")).to_have_count(0)

    # -- an HTTP request dropped between them, wired in, its URL left empty
    fetch = drop_from_palette(page, "http_request", 330, 560)
    # (point 5) a drop selects the node but leaves its settings closed: the canvas stays clear
    expect(card(page, fetch)).to_have_class(re.compile(r"\bselected\b"))
    expect(page.get_by_test_id("settings-panel")).to_have_count(0)
    connect(page, handle(page, "brief", "source", "out"), handle(page, fetch, "target", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # the card says what is wrong in plain words, not pydantic's "Field required"
    expect(page.get_by_test_id(f"node-error-{fetch}")).to_have_text(re.compile(r"URL is required"))
    expect(card(page, fetch)).to_have_attribute("data-invalid", "true")
    expect(page.get_by_test_id("issues-button")).to_have_text(re.compile(r"1 problem\b"))

    # -- Run is disabled, and says why
    run = page.get_by_test_id("run")
    expect(run).to_be_disabled()
    expect(page.get_by_test_id("run-blocked")).to_have_text("Fix the problem to run")
    expect(run).to_have_attribute("title", re.compile(r"HTTP request: URL is required"))
    # Ctrl/⌘ Enter does not open the run dialog either
    page.get_by_test_id("canvas").click(position={"x": 700, "y": 600})
    page.keyboard.press("Control+Enter")
    expect(page.get_by_test_id("run-dialog")).to_have_count(0)

    # -- the problems list names the node by its label; picking the problem opens its settings
    page.get_by_test_id("issues-button").click()
    row = page.get_by_role("dialog", name="Problems").locator(".issue-row").first
    expect(row).to_have_attribute("data-severity", "error")
    expect(row.locator("strong")).to_have_text("HTTP request")
    expect(row).to_contain_text("URL is required")
    row.click()
    panel = page.get_by_test_id("settings-panel")
    expect(panel).to_be_visible()
    expect(panel.get_by_test_id("field-error-url")).to_contain_text("Required")

    # -- fixed: the mark goes and Run is back
    panel.get_by_test_id("field-url").fill("https://example.org/{{ input.topic }}")
    expect(page.get_by_test_id(f"node-error-{fetch}")).to_have_count(0)
    expect(run).to_be_enabled()
    expect(page.get_by_test_id("run-blocked")).to_have_count(0)
