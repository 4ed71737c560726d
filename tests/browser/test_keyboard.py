"""The editor without a mouse: Tab reaches the palette, Save and Run; Enter adds a node and saves,
Space opens the run dialog, and Enter in the dialog starts the run."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.session import make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

GRAPH = {
    "nodes": [
        {"id": "brief", "type": "input", "position": {"x": 0, "y": 0}},
        {
            "id": "shout",
            "type": "transform",
            "position": {"x": 260, "y": 0},
            "config": {"template": "{{ input.topic | upper }}!"},
        },
        {"id": "result", "type": "output", "position": {"x": 520, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "shout"},
        {"id": "e2", "source": "shout", "target": "result"},
    ],
}
MAX_PRESSES = 60


def focused(page: Page) -> str:
    """The focused element's test id (or its tag, when it has none)."""
    found: str = page.evaluate(
        "() => document.activeElement?.dataset?.testid || document.activeElement?.tagName || ''"
    )
    return found


def press_until(page: Page, key: str, test_id: str) -> list[str]:
    """Press ``key`` until the element with ``test_id`` has the focus; the focus's path."""
    path = []
    for _ in range(MAX_PRESSES):
        page.keyboard.press(key)
        path.append(focused(page))
        if path[-1] == test_id:
            return path
    raise AssertionError(f"{key} never reached {test_id}; the focus went {path}")


def shows_focus(page: Page) -> bool:
    """The focused element is drawn differently: an outline or a ring (not colour alone)."""
    visible: bool = page.evaluate(
        """() => {
            const style = getComputedStyle(document.activeElement);
            return (style.outlineStyle !== 'none' && parseFloat(style.outlineWidth) > 0)
                || style.boxShadow !== 'none';
        }"""
    )
    return visible


def test_it_saves_and_runs_from_the_keyboard(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Keyboard", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v1")

    # Tab from the top of the page passes Save and Run on its way to the palette
    path = press_until(page, "Tab", "palette-item-worker")
    assert "save" in path and "run" in path, path
    assert path.index("save") < path.index("run") < path.index("palette-item-worker")

    # Enter on a palette item adds that node, in view and selected: an unsaved change (its
    # settings open when it is clicked, not on every add)
    page.keyboard.press("Enter")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.get_by_test_id("node-worker_1")).to_be_visible()
    expect(page.get_by_test_id("node-worker_1")).to_have_class(re.compile(r"\bselected\b"))
    expect(page.get_by_test_id("settings-panel")).to_have_count(0)
    expect(page.get_by_test_id("unsaved")).to_be_visible()

    # back to Save (Shift+Tab), whose focus can be seen, and Enter saves
    press_until(page, "Shift+Tab", "save")
    assert shows_focus(page), "the focused Save button looks like any other"
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("unsaved")).to_have_count(0)
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")

    # the next stop is Run; Space opens the run dialog, with the focus inside it
    page.keyboard.press("Tab")
    assert focused(page) == "run"
    assert shows_focus(page), "the focused Run button looks like any other"
    page.keyboard.press("Space")
    dialog = page.get_by_test_id("run-dialog")
    expect(dialog).to_be_visible()
    assert dialog.evaluate("(d) => d.contains(document.activeElement)")

    # type the input, Tab to the dialog's Run button, Enter: the run starts and finishes
    input_box = dialog.get_by_test_id("run-input-json")
    input_box.focus()
    page.keyboard.press("ControlOrMeta+a")
    page.keyboard.type('{"topic": "owls"}')
    press_until(page, "Tab", "run-submit")
    page.keyboard.press("Enter")
    expect(page).to_have_url(re.compile(r"/runs/[^/]+$"))
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("run-final-output")).to_contain_text("OWLS!")
