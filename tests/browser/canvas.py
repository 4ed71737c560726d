"""What a person does on the canvas, as Playwright gestures: drag a node type from the palette,
drag a connection from one handle to another, and watch the nodes' run statuses change."""

from __future__ import annotations

import re
import time
from typing import Any

from playwright.sync_api import Locator, Page, expect


def canvas_box(page: Page) -> dict[str, float]:
    box = page.get_by_test_id("canvas").bounding_box()
    assert box is not None, "the canvas is not on the page"
    return box


def drop_from_palette(page: Page, node_type: str, x: float, y: float) -> str:
    """Drag ``palette-item-<type>`` onto the canvas at (x, y) from the canvas's top-left (a real
    HTML5 drag: dragstart, dragover, drop). Returns the new node's id."""
    before = set(node_ids(page))
    page.get_by_test_id(f"palette-item-{node_type}").drag_to(
        page.get_by_test_id("canvas"), target_position={"x": x, "y": y}
    )
    expect(page.locator(".react-flow__node")).to_have_count(len(before) + 1)
    added = set(node_ids(page)) - before
    assert len(added) == 1, f"one node should have been added, not {added}"
    node_id = added.pop()
    expect(card(page, node_id)).to_have_attribute("data-type", node_type)
    return node_id


def node_types(page: Page) -> dict[str, str]:
    """Every node card on the canvas: id → type."""
    found: dict[str, str] = page.evaluate(
        """() => Object.fromEntries([...document.querySelectorAll('.react-flow__node')]
            .map((n) => [n.dataset.id, n.querySelector('[data-type]')?.dataset.type]))"""
    )
    return found


def node_ids(page: Page) -> list[str]:
    return list(node_types(page))


def card(page: Page, node_id: str) -> Locator:
    return page.get_by_test_id(f"node-{node_id}")


def delete_node(page: Page, node_id: str) -> None:
    """Click the card, and once it shows selected press Delete, as a person does (a key pressed
    before the click's selection landed deletes nothing); the card is gone."""
    card(page, node_id).locator(".node-label").click()
    expect(card(page, node_id)).to_have_class(re.compile(r"\bselected\b"))
    page.keyboard.press("Delete")
    expect(card(page, node_id)).to_have_count(0)


def label_truncated(page: Page, node_id: str) -> bool:
    """Whether the card's title is cut short (an ellipsis instead of its end)."""
    truncated: bool = (
        card(page, node_id)
        .locator(".node-label")
        .evaluate("(el) => el.scrollWidth > el.clientWidth + 1")
    )
    return truncated


def handle(page: Page, node_id: str, kind: str, handle_id: str) -> Locator:
    """A React Flow handle: kind is "source" (right edge) or "target" (left edge)."""
    return page.locator(
        f'.react-flow__handle.{kind}[data-nodeid="{node_id}"][data-handleid="{handle_id}"]'
    )


def centre(locator: Locator) -> tuple[float, float]:
    box = locator.bounding_box()
    assert box is not None, f"{locator} is not visible"
    return box["x"] + box["width"] / 2, box["y"] + box["height"] / 2


def start_connection(page: Page, source: Locator, target: Locator) -> None:
    """Press on ``source`` and move (in steps, as a hand would) over ``target``; the button stays
    down so the caller can look at the canvas mid-drag, then ``page.mouse.up()``."""
    sx, sy = centre(source)
    tx, ty = centre(target)
    page.mouse.move(sx, sy)
    page.mouse.down()
    page.mouse.move((sx + tx) / 2, (sy + ty) / 2, steps=8)
    page.mouse.move(tx, ty, steps=8)


def connect(page: Page, source: Locator, target: Locator) -> None:
    start_connection(page, source, target)
    page.mouse.up()


def edge_end(page: Page, edge_id: str, end: str) -> Locator:
    """The grip React Flow puts at an edge's ``end`` ("source" or "target") for dragging that end
    to another handle: a transparent circle just off the handle, along the edge."""
    return page.locator(f'[data-testid="rf__edge-{edge_id}"] .react-flow__edgeupdater-{end}')


def hidden_nodes(page: Page) -> list[str]:
    """Node cards not wholly in sight: reaching outside the canvas, or under the mini map or the
    zoom controls drawn over it."""
    hidden: list[str] = page.evaluate(
        """() => {
            const box = (el) => el.getBoundingClientRect();
            const canvas = box(document.querySelector('[data-testid="canvas"]'));
            const overlays = ['.react-flow__minimap', '.react-flow__controls']
                .map((s) => document.querySelector(s)).filter(Boolean).map(box);
            const meets = (a, b) =>
                a.left < b.right && b.left < a.right && a.top < b.bottom && b.top < a.bottom;
            return [...document.querySelectorAll('.react-flow__node')].filter((node) => {
                const r = box(node);
                const inside = r.left >= canvas.left && r.right <= canvas.right
                    && r.top >= canvas.top && r.bottom <= canvas.bottom;
                return !inside || overlays.some((o) => meets(r, o));
            }).map((node) => node.dataset.id);
        }"""
    )
    return hidden


def hidden_nodes_after_moving(page: Page, timeout: float = 5.0) -> list[str]:
    """``hidden_nodes`` once the view has stopped moving (a fit animates), or at ``timeout``."""
    deadline = time.monotonic() + timeout
    hidden = hidden_nodes(page)
    while hidden and time.monotonic() < deadline:
        page.wait_for_timeout(100)
        hidden = hidden_nodes(page)
    return hidden


def edges(page: Page) -> set[tuple[str, str]]:
    """The edges React Flow draws, as (source, target) pairs, from its "Edge from A to B" labels."""
    labels: list[str] = page.locator(".react-flow__edge").evaluate_all(
        "(els) => els.map((e) => e.getAttribute('aria-label') || '')"
    )
    pairs = set()
    for label in labels:
        match = re.fullmatch(r"Edge from (\S+) to (\S+)", label)
        assert match, f"an edge without the usual label: {label!r}"
        pairs.add((match.group(1), match.group(2)))
    return pairs


# -- run statuses, in the order the page shows them -----------------------------------------------

RECORD_STATUSES = """() => {
    // Every status change of every node card, in the order the DOM shows them. Each scan after a
    // batch of DOM mutations gets a new tick: changes in one batch share a tick.
    const log = [];
    const seen = new Map();
    let tick = 0;
    const scan = () => {
        tick += 1;
        for (const el of document.querySelectorAll('.react-flow__node [data-status][data-type]')) {
            const id = el.closest('.react-flow__node').dataset.id;
            if (seen.get(id) !== el.dataset.status) {
                seen.set(id, el.dataset.status);
                log.push({ id, status: el.dataset.status, tick });
            }
        }
    };
    scan();
    new MutationObserver(scan).observe(document.body, {
        subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'],
    });
    window.__statusLog = log;
}"""


def record_statuses(page: Page) -> None:
    """Start recording status changes (survives in-app navigation: the app is one page)."""
    page.evaluate(RECORD_STATUSES)


def recorded_statuses(page: Page) -> list[dict[str, Any]]:
    log: list[dict[str, Any]] = page.evaluate("() => window.__statusLog")
    return log


def first_tick(log: list[dict[str, Any]], node_id: str, status: str) -> int:
    ticks = [entry["tick"] for entry in log if entry["id"] == node_id and entry["status"] == status]
    assert ticks, f"{node_id} was never seen {status}: {log}"
    return int(ticks[0])


def workflow_id_of(page: Page) -> str:
    match = re.search(r"/workflows/([^/?#]+)", page.url)
    assert match, f"not on a workflow page: {page.url}"
    return match.group(1)
