"""Re-targeting an edge: drag one end of an existing connection to another handle. The same rules
as a new connection refuse what the graph forbids while it is dragged; an allowed move is one
undo step and is saved as the same edge with its new end."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import edge_end, edges, handle, start_connection
from tests.browser.session import make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def node(node_id: str, type_: str, x: int, y: int, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "position": {"x": x, "y": y}, "config": config}


# brief → plan → publish
#    └──→ write → archive
# (no two edges end at one handle: their grips would lie on top of each other)
GRAPH: dict[str, Any] = {
    "nodes": [
        node("brief", "input", 0, 100),
        node("plan", "transform", 300, 0, template="Plan for {{ input.topic }}"),
        node("write", "transform", 300, 220, template="Draft on {{ input.topic }}"),
        node("publish", "output", 620, 0),
        node("archive", "output", 620, 220),
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "plan"},
        {"id": "e2", "source": "plan", "target": "publish"},
        {"id": "e3", "source": "brief", "target": "write"},
        {"id": "e4", "source": "write", "target": "archive"},
    ],
}
EDGES = {("brief", "plan"), ("plan", "publish"), ("brief", "write"), ("write", "archive")}
MOVED = {("brief", "plan"), ("plan", "write"), ("brief", "write"), ("write", "archive")}


def test_it_moves_an_edge_end_to_another_handle_with_the_connection_rules(
    app: Page, alice: User
) -> None:
    page = app
    workflow = make_workflow(alice, "Re-targeting", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(5)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v1")
    assert edges(page) == EDGES
    hint = page.get_by_test_id("connect-hint")

    # brief → write's target end dragged onto plan: brief → plan exists already, said while
    # dragging, and the edge stays where it was
    start_connection(page, edge_end(page, "e3", "target"), handle(page, "plan", "target", "in"))
    expect(hint).to_contain_text("already connected")
    page.mouse.up()
    expect(hint).to_have_count(0)
    assert edges(page) == EDGES
    expect(page.get_by_test_id("unsaved")).to_have_count(0)

    # plan → publish's target end dragged onto write: allowed, the same edge now ends at write
    start_connection(page, edge_end(page, "e2", "target"), handle(page, "write", "target", "in"))
    expect(hint).to_have_count(0)
    page.mouse.up()
    expect(page.locator('[data-testid="rf__edge-e2"]')).to_have_attribute(
        "aria-label", "Edge from plan to write"
    )
    assert edges(page) == MOVED
    expect(page.get_by_test_id("unsaved")).to_be_visible()

    # write → archive's target end dragged onto plan: write → plan, while plan → write now
    # exists, would make a loop
    start_connection(page, edge_end(page, "e4", "target"), handle(page, "plan", "target", "in"))
    expect(hint).to_contain_text("loop")
    page.mouse.up()
    expect(hint).to_have_count(0)
    assert edges(page) == MOVED

    # one undo step puts it back, redo moves it again
    page.get_by_test_id("undo").click()
    expect(page.locator('[data-testid="rf__edge-e2"]')).to_have_attribute(
        "aria-label", "Edge from plan to publish"
    )
    assert edges(page) == EDGES
    expect(page.get_by_test_id("unsaved")).to_have_count(0)
    page.get_by_test_id("redo").click()
    expect(page.locator('[data-testid="rf__edge-e2"]')).to_have_attribute(
        "aria-label", "Edge from plan to write"
    )

    # saved as the same edge with its new end
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    saved = page.request.get(f"/api/workflows/{workflow.id}/").json()
    by_id = {edge["id"]: edge for edge in saved["graph"]["edges"]}
    assert by_id["e2"]["source"] == "plan" and by_id["e2"]["target"] == "write"
    assert {(e["source"], e["target"]) for e in by_id.values()} == MOVED
