"""Two versions side by side, in a real browser: save twice (a node renamed, then a template
changed and a node deleted), open the version history, compare version 1 with the current one
and see the changed node marked on the canvas, the deleted one ghosted, and the template's
change in the list beside it; then pick two versions and compare those."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import card, delete_node
from tests.browser.session import make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

OLD_TEMPLATE = "Topic: {{ input.topic }}"
NEW_TEMPLATE = "TOPIC: {{ input.topic | upper }}"
GRAPH = {
    "nodes": [
        {"id": "brief", "type": "input", "label": "Brief", "position": {"x": 0, "y": 0}},
        {
            "id": "shout",
            "type": "transform",
            "label": "Shout",
            "position": {"x": 260, "y": 0},
            "config": {"template": OLD_TEMPLATE},
        },
        {"id": "result", "type": "output", "label": "Result", "position": {"x": 520, "y": 0}},
        {"id": "spare", "type": "output", "label": "Spare", "position": {"x": 520, "y": 160}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "shout"},
        {"id": "e2", "source": "shout", "target": "result"},
        {"id": "e3", "source": "shout", "target": "spare"},
    ],
}


def marked(mark: str) -> re.Pattern[str]:
    """A node wrapper's classes with the comparison's mark (``marked("")``: any mark)."""
    return re.compile(rf"\bdiff-{mark}")


def wrapper(node_id: str) -> str:
    """React Flow's element around a node's card, which carries the comparison's mark."""
    return f'.react-flow__node[data-id="{node_id}"]'


def open_settings(page: Page, node_id: str) -> None:
    card(page, node_id).locator(".node-label").click()
    expect(page.get_by_test_id("settings-panel")).to_contain_text(node_id)


def save(page: Page, version: int) -> None:
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved-state")).to_have_text(f"Saved · v{version}")


def test_it_compares_a_version_with_the_current_one_and_any_two(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Shouting", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v1")

    # -- version 2: the output renamed
    open_settings(page, "result")
    page.get_by_test_id("node-label-input").fill("Answer")
    save(page, 2)

    # -- version 3: the transform's template changed, the spare output deleted
    open_settings(page, "shout")
    page.get_by_test_id("field-template").fill(NEW_TEMPLATE)
    expect(card(page, "shout")).to_contain_text("TOPIC:")
    page.get_by_role("button", name="Close settings").click()
    delete_node(page, "spare")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    save(page, 3)

    # -- version history: compare version 1 with the current one
    page.get_by_test_id("versions").click()
    history = page.get_by_test_id("versions-panel")
    expect(history.get_by_test_id("version-3")).to_contain_text("current")
    expect(history.get_by_test_id("compare-3")).to_have_count(0)  # not with itself
    history.get_by_role("button", name="Compare version 1 with current").click()

    banner = page.get_by_test_id("compare-banner")
    expect(banner).to_contain_text("Comparing version 1 with version 3")
    expect(page.get_by_test_id("versions-panel")).to_have_count(0)  # the list takes over
    expect(page.get_by_test_id("save")).to_have_count(0)  # read-only

    # the canvas: version 3, the changed node amber, the renamed one outlined, the deleted one
    # ghosted where it was, the unchanged one plain
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.locator(wrapper("shout"))).to_have_class(marked("changed"))
    expect(page.locator(wrapper("result"))).to_have_class(marked("moved"))
    expect(page.locator(wrapper("spare"))).to_have_class(marked("removed"))
    expect(page.locator(wrapper("brief"))).not_to_have_class(marked(""))
    # the mark is visible: an amber ring and a tag on the card, the ghost faded
    shout_card = card(page, "shout")
    ring = shout_card.evaluate("(el) => getComputedStyle(el).boxShadow")
    assert "220, 104, 3" in ring, ring
    tag = shout_card.evaluate("(el) => getComputedStyle(el, '::after').content")
    assert tag == '"changed"', tag
    ghost = page.locator(wrapper("spare")).evaluate("(el) => getComputedStyle(el).opacity")
    assert float(ghost) < 1
    # the removed connection is drawn too, dashed
    expect(page.locator(".react-flow__edge.diff-removed")).to_have_count(1)

    # the list beside it: the template's change, before → after
    panel = page.get_by_test_id("compare-panel")
    expect(panel).to_contain_text("Version 1 → 3")
    expect(panel.get_by_test_id("compare-summary")).to_have_text(
        "1 changed · 0 added · 1 removed · 1 unchanged"
    )
    shout = panel.get_by_test_id("compare-node-shout")
    setting = shout.get_by_test_id("compare-setting")
    expect(setting).to_have_attribute("data-path", "config.template")
    expect(setting.locator(".compare-before")).to_have_text(f'"{OLD_TEMPLATE}"')
    expect(setting.locator(".compare-after")).to_have_text(f'"{NEW_TEMPLATE}"')
    expect(panel.get_by_test_id("compare-node-result")).to_contain_text("renamed from “Result”")
    expect(panel.get_by_test_id("compare-removed")).to_contain_text("Spare")

    # picking a node in the list shows it on the canvas, selected
    panel.get_by_test_id("compare-node-spare").get_by_role("button").click()
    expect(page.locator(wrapper("spare"))).to_have_class(marked("focus"))
    expect(page.locator(wrapper("spare"))).to_have_class(re.compile(r"\bselected\b"))
    expect(card(page, "spare")).to_be_in_viewport()

    # -- any two: versions 2 and 3 differ only in the template and the deleted node
    page.get_by_test_id("versions").click()
    history = page.get_by_test_id("versions-panel")
    history.get_by_test_id("pick-2").check()
    history.get_by_test_id("pick-3").check()
    history.get_by_test_id("compare-picked").click()
    expect(banner).to_contain_text("Comparing version 2 with version 3")
    expect(panel).to_contain_text("Version 2 → 3")
    expect(page.locator(wrapper("result"))).not_to_have_class(marked(""))
    expect(page.locator(wrapper("shout"))).to_have_class(marked("changed"))

    # -- back to editing: no marks, the editor as it was
    banner.get_by_role("button", name="Back to editing").click()
    expect(page.get_by_test_id("compare-panel")).to_have_count(0)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v3")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.locator(".react-flow__node[class*='diff-']")).to_have_count(0)
