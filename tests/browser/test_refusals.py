"""What the editor refuses, and how it says so: a connection that would make a loop is refused
while it is being dragged; settings the server cannot accept are marked on their node after a
save (and while editing); the unsaved marker follows the edits."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import card, edges, handle, start_connection
from tests.browser.session import make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

ROUTE = "upstream | length > 3"


def node(node_id: str, type_: str, x: int, y: int, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "position": {"x": x, "y": y}, "config": config}


# brief → plan → write → size ─long→ publish
#                             └short→ fallback
GRAPH: dict[str, Any] = {
    "nodes": [
        # its fields declared: a template reading an undeclared input field would be a warning
        node("brief", "input", 0, 0, fields={"type": "object", "properties": {"topic": {}}}),
        node("plan", "transform", 260, 0, template="Plan for {{ input.topic }}"),
        node("write", "transform", 520, 0, template="Draft: {{ nodes.plan.output }}"),
        node("size", "router", 260, 200, routes=[{"name": "long", "when": ROUTE}], default="short"),
        node("publish", "output", 560, 150),
        node("fallback", "output", 560, 280),
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "plan"},
        {"id": "e2", "source": "plan", "target": "write"},
        {"id": "e3", "source": "write", "target": "size"},
        {"id": "e4", "source": "size", "target": "publish", "source_handle": "long"},
        {"id": "e5", "source": "size", "target": "fallback", "source_handle": "short"},
    ],
}
EDGES = {
    ("brief", "plan"),
    ("plan", "write"),
    ("write", "size"),
    ("size", "publish"),
    ("size", "fallback"),
}


def drag(page: Page, source: tuple[str, str], target: tuple[str, str]) -> None:
    """Start dragging a connection from a node's output handle over another's input handle."""
    (source_node, source_handle), (target_node, target_handle) = source, target
    start_connection(
        page,
        handle(page, source_node, "source", source_handle),
        handle(page, target_node, "target", target_handle),
    )


@pytest.fixture
def opened(app: Page, alice: User) -> Page:
    """Alice's saved, valid workflow, open in the editor."""
    workflow = make_workflow(alice, "Refusals", GRAPH)
    app.goto(f"/workflows/{workflow.id}")
    expect(app.locator(".react-flow__node")).to_have_count(6)
    expect(app.get_by_test_id("saved-state")).to_have_text("Saved · v1")
    expect(app.get_by_test_id("issues-button")).to_have_count(0)
    return app


def test_it_refuses_a_connection_that_would_loop_while_it_is_dragged(opened: Page) -> None:
    page = opened
    assert edges(page) == EDGES

    # write → plan closes the loop plan → write → plan: said while dragging, and not added
    start_connection(
        page, handle(page, "write", "source", "out"), handle(page, "plan", "target", "in")
    )
    hint = page.get_by_test_id("connect-hint")
    expect(hint).to_be_visible()
    expect(hint).to_contain_text("loop")
    page.mouse.up()
    expect(hint).to_have_count(0)
    assert edges(page) == EDGES
    expect(page.get_by_test_id("unsaved")).to_have_count(0)

    # a second plan → write is refused as a duplicate
    start_connection(
        page, handle(page, "plan", "source", "out"), handle(page, "write", "target", "in")
    )
    expect(hint).to_contain_text("already connected")
    page.mouse.up()
    assert edges(page) == EDGES

    # the input node has no input handle: dropping a connection on it adds nothing
    start_connection(page, handle(page, "size", "source", "long"), card(page, "brief"))
    page.mouse.up()
    assert edges(page) == EDGES
    expect(page.get_by_test_id("unsaved")).to_have_count(0)

    # …while an allowed connection is added (so the refusals above were not a broken gesture)
    start_connection(
        page, handle(page, "plan", "source", "out"), handle(page, "size", "target", "in")
    )
    expect(hint).to_have_count(0)
    page.mouse.up()
    expect(page.locator(".react-flow__edge")).to_have_count(6)
    assert edges(page) == {*EDGES, ("plan", "size")}
    expect(page.get_by_test_id("unsaved")).to_be_visible()


def test_it_shows_the_servers_errors_on_the_nodes_they_concern(opened: Page) -> None:
    page = opened
    expect(page.get_by_test_id("unsaved")).to_have_count(0)

    # -- a router expression that does not parse: nothing the browser can see, the server can
    card(page, "size").locator(".node-label").click()
    panel = page.get_by_test_id("settings-panel")
    when = panel.get_by_test_id("field-routes[0].when")
    expect(when).to_have_value(ROUTE)
    when.fill("upstream >>> (")
    expect(page.get_by_test_id("unsaved")).to_be_visible()
    expect(page.get_by_test_id("saved-state")).to_have_count(0)

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("toast-info")).to_contain_text("as a draft: 1 problem")
    expect(page.get_by_test_id("unsaved")).to_have_count(0)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    error = page.get_by_test_id("node-error-size")
    expect(error).to_be_visible()
    expect(error).to_contain_text("does not parse")
    expect(card(page, "size")).to_have_attribute("data-invalid", "true")
    expect(card(page, "size")).to_have_class(re.compile(r"\binvalid\b"))
    # …under the field it concerns, too, and in the toolbar's list of problems
    expect(panel.get_by_test_id("field-error-routes[0].when")).to_contain_text("does not parse")
    expect(page.get_by_test_id("issues-button")).to_have_text(re.compile(r"1 problem\b"))
    # the other nodes are fine
    expect(card(page, "plan")).not_to_have_attribute("data-invalid", "true")
    expect(page.get_by_test_id("node-error-plan")).to_have_count(0)

    # -- a template naming a node that is not upstream: found by the live check, before a save
    card(page, "plan").locator(".node-label").click()
    template = page.get_by_test_id("settings-panel").get_by_test_id("field-template")
    template.fill("Plan for {{ nodes.publish.output }}")
    expect(page.get_by_test_id("unsaved")).to_be_visible()
    expect(page.get_by_test_id("node-error-plan")).to_contain_text("not upstream")
    expect(card(page, "plan")).to_have_attribute("data-invalid", "true")
    expect(page.get_by_test_id("issues-button")).to_have_text(re.compile(r"2 problems"))

    # -- both put right and saved: the marks go, and so does the unsaved marker
    template.fill("Plan for {{ input.topic }}")
    card(page, "size").locator(".node-label").click()
    page.get_by_test_id("settings-panel").get_by_test_id("field-routes[0].when").fill(ROUTE)
    expect(page.get_by_test_id("unsaved")).to_be_visible()
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("unsaved")).to_have_count(0)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v3")
    expect(page.get_by_test_id("node-error-size")).to_have_count(0)
    expect(page.get_by_test_id("node-error-plan")).to_have_count(0)
    expect(card(page, "size")).not_to_have_attribute("data-invalid", "true")
    expect(page.get_by_test_id("issues-button")).to_have_count(0)

    # the server holds the repaired version
    saved = page.request.get(page.url.replace("/workflows/", "/api/workflows/") + "/").json()
    assert saved["issues"] == []
    routes = next(n for n in saved["graph"]["nodes"] if n["id"] == "size")["config"]["routes"]
    assert routes == [{"name": "long", "when": ROUTE}]
