"""The mini map: it shows the flow, dragging on it moves the view and scrolling on it zooms."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.session import make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

GRAPH: dict[str, Any] = {
    "nodes": [
        {"id": "brief", "type": "input", "position": {"x": 0, "y": 0}, "config": {}},
        {
            "id": "plan",
            "type": "transform",
            "position": {"x": 300, "y": 0},
            "config": {"template": "{{ input.topic }}"},
        },
        {"id": "out", "type": "output", "position": {"x": 600, "y": 0}, "config": {}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "plan"},
        {"id": "e2", "source": "plan", "target": "out"},
    ],
}


def viewport(page: Page) -> tuple[float, float, float]:
    """The canvas's pan (x, y) and zoom, from React Flow's viewport transform."""
    style = page.locator(".react-flow__viewport").get_attribute("style") or ""
    match = re.search(r"translate\(([-\d.]+)px, ([-\d.]+)px\) scale\(([-\d.]+)\)", style)
    assert match, style
    x, y, zoom = (float(part) for part in match.groups())
    return x, y, zoom


def test_the_mini_map_shows_the_flow_and_moves_and_zooms_the_view(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Mini map", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    minimap = page.get_by_role("img", name="Mini map")
    expect(minimap).to_be_visible()
    # the nodes drawn in their categories' colours: input and output (io), transform (logic)
    expect(minimap.locator(".react-flow__minimap-node")).to_have_count(2)

    box = minimap.bounding_box()
    assert box is not None
    before = viewport(page)
    cx, cy = box["x"] + box["width"] / 2, box["y"] + box["height"] / 2
    page.mouse.move(cx, cy)
    page.mouse.down()
    page.mouse.move(cx + 40, cy + 20, steps=5)
    page.mouse.up()
    after = viewport(page)
    # the window moved right and down over the flow: the flow moves left and up on the canvas
    assert after[0] < before[0] and after[1] < before[1], (before, after)
    assert after[2] == before[2]

    page.mouse.move(cx, cy)
    page.mouse.wheel(0, -200)
    page.wait_for_function(
        f"""() => {{
            const m = /scale\\(([-\\d.]+)\\)/.exec(
                document.querySelector('.react-flow__viewport').style.transform);
            return m && Number(m[1]) > {after[2]} + 0.01;
        }}"""
    )
