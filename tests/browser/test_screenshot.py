"""The editor as people see it: the research example imported from its JSON file, run to the end,
photographed at 1280×800 for the docs; and the layout at 1920×1080 (nothing cut off, no sideways
scrolling). Also the sales-report example's manager after a run, with its delegations, for the
docs' second picture."""

from __future__ import annotations

import os
import re
import struct
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from tests.browser.canvas import (
    hidden_nodes,
    hidden_nodes_after_moving,
    label_truncated,
    workflow_id_of,
)
from tests.support.stack import Daphne

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

REPO = Path(__file__).resolve().parents[2]
EXAMPLE = REPO / "examples" / "research.json"
DOCS_SHOT = REPO / "docs" / "screenshot-editor.png"
MANAGER_EXAMPLE = REPO / "examples" / "sales-report.json"
MANAGER_SHOT = REPO / "docs" / "screenshot-manager.png"
MAX_BYTES = 300_000


def png_size(path: Path) -> tuple[int, int]:
    """Width and height from a PNG's IHDR chunk (and proof that it is a PNG at all)."""
    head = path.read_bytes()[:24]
    assert head[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    assert head[12:16] == b"IHDR"
    width, height = struct.unpack(">II", head[16:24])
    return width, height


def shot_path(tmp_path: Path, docs_shot: Path = DOCS_SHOT) -> Path:
    """The picture in docs/ when it is missing or UPDATE_SCREENSHOTS=1 asks for a new one;
    otherwise a scratch file, so that every test run does not rewrite a committed image."""
    if os.environ.get("UPDATE_SCREENSHOTS") == "1" or not docs_shot.exists():
        docs_shot.parent.mkdir(exist_ok=True)
        return docs_shot
    return tmp_path / docs_shot.name


def no_sideways_scrolling(page: Page) -> None:
    overflow = page.evaluate(
        """() => ({
            doc: document.documentElement.scrollWidth - document.documentElement.clientWidth,
            body: document.body.scrollWidth - document.body.clientWidth,
        })"""
    )
    assert overflow == {"doc": 0, "body": 0}, f"the page scrolls sideways: {overflow}"


def inside_viewport(page: Page, test_id: str) -> None:
    viewport = page.viewport_size
    assert viewport is not None
    element = page.get_by_test_id(test_id)
    expect(element).to_be_visible()
    box = element.bounding_box()
    assert box is not None
    assert box["width"] > 100 and box["height"] > 100, f"{test_id} is squashed: {box}"
    assert box["x"] >= 0 and box["y"] >= 0, f"{test_id} starts off screen: {box}"
    assert box["x"] + box["width"] <= viewport["width"] + 0.5, f"{test_id} overflows: {box}"
    assert box["y"] + box["height"] <= viewport["height"] + 0.5, f"{test_id} overflows: {box}"


def test_it_photographs_the_research_example_after_a_run_and_lays_out_at_1920(
    app: Page, alice: User, browser: Browser, stack_daphne: Daphne, tmp_path: Path
) -> None:
    page = app
    # -- import examples/research.json as a person would: the list page's file picker
    page.get_by_test_id("import-file").set_input_files(str(EXAMPLE))
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    workflow_id = workflow_id_of(page)
    expect(page.locator(".react-flow__node")).to_have_count(8)
    expect(page.locator(".react-flow__edge")).to_have_count(8)
    expect(page.get_by_test_id("issues-button")).to_have_count(0)
    toast = page.get_by_test_id("toast-success")
    expect(toast).to_contain_text("Imported")
    toast.get_by_role("button").click()  # dismissed, so it is not in the picture
    expect(toast).to_have_count(0)

    # -- run it: the input node's schema makes a form with a topic field
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("field-topic").fill("barn owls")
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/]+$"))
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    for node_id in ("brief", "plan", "research", "critic", "merge", "size", "publish"):
        expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("node-too_short")).to_have_attribute("data-status", "skipped")
    expect(page.get_by_test_id("run-final-output")).to_contain_text("barn owls")
    expect(page.get_by_test_id("run-connection")).to_have_text("Finished")
    for node_id in ("research", "critic", "size"):  # beside a status badge and branch labels
        assert not label_truncated(page, node_id), node_id
    # the fitted view keeps every node clear of the mini map and the zoom controls
    assert hidden_nodes(page) == []

    # -- the picture for the docs, at 1280×800
    no_sideways_scrolling(page)
    target = shot_path(tmp_path)
    page.mouse.move(0, 0)  # no hover highlight in the picture
    page.screenshot(path=str(target))
    assert target.exists()
    assert png_size(target) == (1280, 800)
    assert 10_000 < target.stat().st_size < MAX_BYTES, target.stat().st_size

    # -- the same workflow's editor at 1920×1080: palette, canvas and settings panel side by side
    wide = browser.new_context(
        viewport={"width": 1920, "height": 1080},
        base_url=stack_daphne.url,
        storage_state=page.context.storage_state(),
    )
    try:
        editor = wide.new_page()
        errors: list[str] = []
        editor.on("pageerror", lambda error: errors.append(str(error)))
        editor.goto(f"/workflows/{workflow_id}")
        expect(editor.locator(".react-flow__node")).to_have_count(8)
        assert hidden_nodes(editor) == []
        editor.get_by_test_id("node-research").locator(".node-label").click()
        expect(editor.get_by_test_id("settings-panel")).to_contain_text("Researcher")
        # the panel narrows the canvas: the view, still as fitted, is fitted again to what is left
        assert hidden_nodes_after_moving(editor) == []
        editor.screenshot(path=str(tmp_path / "editor-1920.png"))
        for test_id in ("canvas", "settings-panel"):
            inside_viewport(editor, test_id)
        palette = editor.get_by_role("complementary", name="Node palette")
        expect(palette).to_be_visible()
        box = palette.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= 1920
        assert box["y"] + box["height"] <= 1080
        # side by side, not on top of each other
        canvas = editor.get_by_test_id("canvas").bounding_box()
        panel = editor.get_by_test_id("settings-panel").bounding_box()
        assert canvas is not None and panel is not None
        assert box["x"] + box["width"] <= canvas["x"] + 0.5
        assert canvas["x"] + canvas["width"] <= panel["x"] + 0.5
        no_sideways_scrolling(editor)
        assert png_size(tmp_path / "editor-1920.png") == (1920, 1080)
        assert not errors, errors
    finally:
        wide.close()


def test_it_photographs_a_manager_after_it_delegated_to_its_workers(
    app: Page, tmp_path: Path
) -> None:
    page = app
    page.get_by_test_id("import-file").set_input_files(str(MANAGER_EXAMPLE))
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    expect(page.locator(".react-flow__node")).to_have_count(6)
    toast = page.get_by_test_id("toast-success")
    toast.get_by_role("button").click()
    expect(toast).to_have_count(0)

    # the input node's defaults fill the form; run with them
    page.get_by_test_id("run").click()
    page.get_by_test_id("run-dialog").get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/]+$"))
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    for node_id in ("brief", "lead", "researcher", "analyst", "writer", "report"):
        expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-status", "succeeded")
    # the manager shows its delegations and what its whole subtree cost
    expect(
        page.get_by_test_id("node-children-lead").locator("[data-testid^=child-]")
    ).not_to_have_count(0)
    expect(page.get_by_test_id("node-subtree-lead")).to_be_visible()
    expect(page.get_by_test_id("run-connection")).to_have_text("Finished")
    assert hidden_nodes(page) == []

    target = shot_path(tmp_path, MANAGER_SHOT)
    page.mouse.move(0, 0)
    page.screenshot(path=str(target))
    assert png_size(target) == (1280, 800)
    assert 10_000 < target.stat().st_size < MAX_BYTES, target.stat().st_size
