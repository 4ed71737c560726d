"""A new user's first hour, point 5: building does not fight the user. Pressing palette items
adds nodes side by side, never on top of each other; Approval is in sight without scrolling the
palette; a drop while a node's settings are open lands on the canvas (the drag folds the panel
away); Tidy up leaves every node, Output included, in view."""

from __future__ import annotations

import re
import time

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import (
    card,
    connect,
    drop_from_palette,
    handle,
    hidden_nodes_after_moving,
    node_ids,
)

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def toolbar_overlaps(page: Page) -> list[tuple[str, str]]:
    """Pairs of the editor toolbar's controls that cover each other (by test id or text)."""
    clashes: list[list[str]] = page.evaluate(
        """() => {
            const controls = [...document.querySelectorAll(
                '.toolbar button, .toolbar a, .toolbar input, .toolbar .unsaved, .toolbar .saved'
            )].filter((el) => el.getClientRects().length)
              .map((el) => [el.dataset.testid || el.textContent.trim(),
                            el.getBoundingClientRect()]);
            const found = [];
            const n = controls.length;
            for (let i = 0; i < n; i++) for (let j = i + 1; j < n; j++) {
                const [a, ra] = controls[i], [b, rb] = controls[j];
                if (ra.left < rb.right - 1 && rb.left < ra.right - 1
                    && ra.top < rb.bottom - 1 && rb.top < ra.bottom - 1) found.push([a, b]);
            }
            return found;
        }"""
    )
    return [(a, b) for a, b in clashes]


def boxes_overlap(page: Page) -> list[tuple[str, str]]:
    """Pairs of node cards that overlap on screen, measured in one go (a banner coming or going
    moves the whole canvas between two separate measurements)."""
    clashes: list[list[str]] = page.evaluate(
        """() => {
            const cards = [...document.querySelectorAll('.react-flow__node')]
                .map((n) => [n.dataset.id, n.getBoundingClientRect()]);
            const found = [];
            for (const [a, ra] of cards) for (const [b, rb] of cards) {
                if (a < b && ra.left < rb.right && rb.left < ra.right
                    && ra.top < rb.bottom && rb.top < ra.bottom) found.push([a, b]);
            }
            return found;
        }"""
    )
    return [(a, b) for a, b in clashes]


def node_places(page: Page) -> dict[str, str]:
    """Each node's place on the canvas (its card's transform, in the flow's own coordinates)."""
    places: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.react-flow__node')]
            .map((n) => [n.dataset.id, n.style.transform]))"""
    )
    return places


def tidy_up(page: Page, timeout: float = 10.0) -> None:
    """Presses Tidy up and waits until the nodes have moved (it lays out once the problem check
    has settled and the cards are measured)."""
    before = node_places(page)
    page.get_by_test_id("auto-layout").click()
    deadline = time.monotonic() + timeout
    while node_places(page) == before:
        assert time.monotonic() < deadline, "Tidy up moved no node"
        page.wait_for_timeout(50)


def boxes_overlap_after_moving(page: Page, timeout: float = 5.0) -> list[tuple[str, str]]:
    """``boxes_overlap`` once the cards have taken their places (Tidy up waits for the cards the
    problem check changes to be measured, a frame or more after the click), or at ``timeout``."""
    deadline = time.monotonic() + timeout
    clashes = boxes_overlap(page)
    while clashes and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        clashes = boxes_overlap(page)
    return clashes


def test_building_a_flow_by_hand_without_fighting_the_editor(app: Page, alice: User) -> None:
    page = app
    page.get_by_test_id("new-workflow").click()
    page.get_by_test_id("name-input").fill("By hand")
    page.get_by_test_id("name-submit").click()
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    expect(page.get_by_test_id("canvas-empty")).to_be_visible()

    # Approval is in sight in the palette without scrolling it
    approval = page.get_by_test_id("palette-item-approval")
    palette = page.locator(".palette-body").bounding_box()
    item = approval.bounding_box()
    assert palette and item and item["y"] + item["height"] <= palette["y"] + palette["height"]

    # -- pressing palette items three times: three nodes, side by side
    for _ in range(3):
        page.get_by_test_id("palette-item-worker").click()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    assert boxes_overlap(page) == []
    # the last one added is selected, its settings closed until clicked
    expect(page.get_by_test_id("settings-panel")).to_have_count(0)

    # -- with a node's settings open, a drag from the palette folds them away and the drop lands
    first = node_ids(page)[0]
    card(page, first).locator(".node-label").click()
    expect(page.get_by_test_id("settings-panel")).to_be_visible()
    brief = drop_from_palette(page, "input", 120, 420)
    expect(page.get_by_test_id("settings-panel")).to_have_count(0)
    result = drop_from_palette(page, "output", 760, 420)
    connect(page, handle(page, brief, "source", "out"), handle(page, first, "target", "in"))
    connect(page, handle(page, first, "source", "out"), handle(page, result, "target", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    # the problems count, unsaved state, undo and the rest of the toolbar side by side at 1280 px
    expect(page.get_by_test_id("issues-button")).to_be_visible()
    assert toolbar_overlaps(page) == []

    # -- Tidy up: everything, Output included, in view afterwards
    tidy_up(page)
    assert boxes_overlap_after_moving(page) == []
    assert hidden_nodes_after_moving(page) == []
    # and again after the settings panel took its room back
    card(page, result).locator(".node-label").click()
    expect(page.get_by_test_id("settings-panel")).to_be_visible()
    page.get_by_test_id("auto-layout").click()
    assert hidden_nodes_after_moving(page) == [], "Tidy up pushed a node out of sight"
