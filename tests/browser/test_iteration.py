"""Map and loop in a real browser on the real stack.

A new user builds input → map → output from the palette and wires the map's body by dragging from
its "body" handle: every node that can be a body offers a task handle while the drag is under
way, and a drop on a worker's ordinary input handle makes a delegate edge all the same. A run over
20 leads on the Celery workers shows the map's progress climbing live to "20 / 20", the map opens
its list of items, and an item opens its own step.

An approval gate as a map's body asks once per item: two people's worth of decisions made in the
run view, and the map finishes with one approved and one rejected item.
"""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import Step
from tests.browser.canvas import (
    centre,
    connect,
    delete_node,
    drop_from_palette,
    edges,
    handle,
    workflow_id_of,
)
from tests.browser.session import log_in, make_workflow
from tests.support.vendor_server import Completion, Delay, RecordedRequest, VendorServer

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

LEADS = [{"name": f"Lead {n}", "company": f"Company {n}"} for n in range(1, 21)]
INSTRUCTIONS = "Qualify {{ upstream.name }} of {{ upstream.company }} as hot, warm or cold."

# Every change of the map's progress text, in the order the page showed them.
RECORD_PROGRESS = """(testId) => {
    const seen = [];
    const scan = () => {
        const el = document.querySelector(`[data-testid="${testId}"]`);
        const text = el ? el.textContent : null;
        if (text && seen[seen.length - 1] !== text) seen.push(text);
    };
    scan();
    new MutationObserver(scan).observe(document.body, {
        subtree: true, childList: true, characterData: true,
    });
    window.__progress = seen;
}"""


def qualify(request: RecordedRequest) -> Delay:
    """The vendor's answer to one lead, a moment later: the workers' two processes take the 20
    leads two at a time, so the progress climbs over several seconds. (It runs on the vendor's
    handler threads: it keeps no state.)"""
    prompt = request.body["messages"][-1]["content"]
    lead = re.search(r"Lead \d+", prompt)
    return Delay(0.3, Completion(f"{lead.group(0) if lead else 'A lead'} is warm."))


def test_a_map_built_on_the_canvas_shows_its_progress_live_and_lists_its_items(
    page: Page, alice: User, vendor: VendorServer
) -> None:
    log_in(page)
    page.get_by_test_id("new-workflow").click()
    page.get_by_test_id("name-input").fill("Qualify leads")
    page.get_by_test_id("name-submit").click()
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    workflow_id = workflow_id_of(page)

    # -- the map and the loop are in the palette's logic group, each with its own icon
    logic = page.get_by_role("region", name="Logic")
    expect(logic.get_by_test_id("palette-item-map")).to_be_visible()
    expect(logic.get_by_test_id("palette-item-loop")).to_be_visible()

    brief = drop_from_palette(page, "input", 110, 120)
    each = drop_from_palette(page, "map", 380, 120)
    result = drop_from_palette(page, "output", 650, 120)
    scout = drop_from_palette(page, "transform", 240, 430)
    qualifier = drop_from_palette(page, "worker", 560, 430)
    connect(page, handle(page, brief, "source", "out"), handle(page, each, "target", "in"))
    connect(page, handle(page, each, "source", "out"), handle(page, result, "target", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(2)

    # -- the body: a transform has no task handle until a drag from the map's body handle starts
    body_handle = handle(page, each, "source", "@delegate")
    expect(body_handle).to_contain_text("body")
    scout_task = handle(page, scout, "target", "@task")
    expect(scout_task).to_have_count(0)
    x, y = centre(body_handle)
    page.mouse.move(x, y)
    page.mouse.down()
    page.mouse.move(x - 20, y + 30, steps=5)
    expect(scout_task).to_be_visible()  # offered on every node that could be the body
    expect(handle(page, result, "target", "@task")).to_be_visible()
    tx, ty = centre(scout_task)
    page.mouse.move(tx, ty, steps=10)
    page.mouse.up()
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    expect(page.locator(".react-flow__edge.react-flow__edge-delegate")).to_have_count(1)
    assert (each, scout) in edges(page)
    # the drag is over: only the body keeps its task handle
    expect(scout_task).to_be_visible()
    expect(handle(page, result, "target", "@task")).to_have_count(0)

    # -- a second body is one too many: the map says so (the server's validation, live)
    connect(page, body_handle, handle(page, qualifier, "target", "in"))
    expect(page.locator(".react-flow__edge.react-flow__edge-delegate")).to_have_count(2)
    expect(page.get_by_test_id(f"node-error-{each}")).to_contain_text("2 body node(s)")

    # -- the transform goes; the worker, wired at its ordinary input handle, is the body
    delete_node(page, scout)
    expect(page.get_by_test_id(f"node-error-{each}")).to_have_count(0)
    assert edges(page) == {(brief, each), (each, result), (each, qualifier)}

    # -- settings: the map's items are an expression; the worker asks the test's vendor
    panel = page.get_by_test_id("settings-panel")
    page.get_by_test_id(f"node-{each}").locator(".node-label").click()
    items = panel.get_by_test_id("field-items")
    expect(items).to_have_class(re.compile(r"\bmono\b"))
    items.fill("input.leads")
    expect(panel.get_by_test_id("field-concurrency")).to_have_value("4")
    page.get_by_test_id(f"node-{qualifier}").locator(".node-label").click()
    panel.get_by_test_id("field-model").fill("openai/gpt-4o-mini")
    panel.get_by_test_id("field-instructions").fill(INSTRUCTIONS)
    expect(panel.get_by_test_id("settings-status")).to_have_text("Settings look fine")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("unsaved")).to_be_hidden()
    saved = page.request.get(f"/api/workflows/{workflow_id}/").json()
    assert saved["issues"] == []
    delegates = [e for e in saved["graph"]["edges"] if e["kind"] == "delegate"]
    assert [(e["source"], e["target"]) for e in delegates] == [(each, qualifier)]

    # -- run it over 20 leads and watch the map's card count them, live
    vendor.respond_with(qualify)
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"leads": LEADS}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow_id}/runs/[^/]+$"))
    progress_text = page.get_by_test_id(f"node-progress-text-{each}")
    expect(progress_text).to_be_visible()
    page.evaluate(RECORD_PROGRESS, f"node-progress-text-{each}")
    expect(progress_text).to_have_text("20 / 20", timeout=60_000)
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    seen: list[str] = page.evaluate("() => window.__progress")
    counts = [int(text.split(" / ")[0]) for text in seen]
    assert counts == sorted(counts), f"the progress went back: {seen}"
    assert any(0 < n < 20 for n in counts), f"no progress seen between 0 and 20: {seen}"
    assert all(text.endswith(" / 20") for text in seen), seen
    expect(page.get_by_test_id(f"node-{qualifier}")).to_have_attribute("data-status", "succeeded")
    assert len(vendor.requests) == 20

    # -- the map opens its items: each one's status, input and output, and each opens its step
    page.get_by_test_id(f"node-items-{each}").click()
    children = page.get_by_test_id("step-children")
    expect(children).to_be_visible()
    expect(page.get_by_test_id("step-children-progress")).to_have_text("20 / 20")
    rows = page.get_by_test_id("step-children-list").locator("[data-testid^='item-'][data-status]")
    expect(rows).to_have_count(20)
    for n in range(1, 21):
        expect(rows.nth(n - 1)).to_have_attribute("data-status", "succeeded")
    seventh = f"{each}.{qualifier}.7"
    expect(page.get_by_test_id(f"item-input-{seventh}")).to_contain_text('"name":"Lead 7"')
    expect(page.get_by_test_id(f"item-output-{seventh}")).to_contain_text("Lead 7 is warm.")
    page.get_by_test_id(f"item-{seventh}").click()
    detail = page.get_by_test_id("step-detail")
    expect(detail).to_contain_text(seventh)
    expect(page.get_by_test_id("step-item-number")).to_contain_text("item 7 of 20")
    expect(page.get_by_test_id("step-output")).to_have_text("Lead 7 is warm.")
    page.get_by_test_id("step-parent").click()
    expect(page.get_by_test_id("step-children")).to_be_visible()

    # -- the timeline shows the items as one row, which opens the list too
    page.get_by_test_id("run-tab-timeline").click()
    expect(page.get_by_test_id(f"timeline-items-{each}")).to_contain_text("Items: 20 / 20")
    expect(page.get_by_test_id(f"timeline-{seventh}")).to_have_count(0)
    # every item ran as a step of the run on the workers
    steps = Step.objects.filter(run__workflow_id=workflow_id, parent__key=each)
    assert steps.count() == 20
    assert set(steps.values_list("status", flat=True)) == {"succeeded"}


GATES: dict[str, Any] = {
    "nodes": [
        {
            "id": "people",
            "type": "input",
            "label": "People",
            "position": {"x": 0, "y": 0},
            "config": {},
        },
        {
            "id": "each",
            "type": "map",
            "label": "Each person",
            "position": {"x": 300, "y": 0},
            "config": {"items": "input.people", "concurrency": 2},
        },
        {
            "id": "ask",
            "type": "approval",
            "label": "Send invite?",
            "position": {"x": 300, "y": 240},
            "config": {"prompt": "Send an invite to {{ upstream }}?"},
        },
        {
            "id": "done",
            "type": "output",
            "label": "Invites",
            "position": {"x": 600, "y": 0},
            "config": {},
        },
    ],
    "edges": [
        {"id": "e1", "source": "people", "target": "each"},
        {"id": "d1", "source": "each", "target": "ask", "kind": "delegate"},
        {"id": "e2", "source": "each", "target": "done"},
    ],
}


def test_an_approval_gate_as_a_maps_body_is_decided_per_item_in_the_run_view(
    page: Page, alice: User
) -> None:
    flow = make_workflow(alice, "Invites", GATES)
    log_in(page)
    page.goto(f"/workflows/{flow.id}")
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"people": ["ann", "bob"]}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{flow.id}/runs/[^/]+$"))

    # both items wait for a person at once (concurrency 2), each with a Decide button
    expect(page.get_by_test_id("run-waiting")).to_be_visible()
    expect(page.get_by_test_id("node-progress-text-each")).to_have_text("0 / 2 · 2 waiting")
    for n, (name, verdict) in enumerate((("ann", "approve"), ("bob", "reject")), start=1):
        decide = page.get_by_test_id(f"run-decide-each.ask.{n}")
        expect(decide).to_be_visible()
        decide.click()
        decision = page.get_by_test_id("decision-dialog")
        expect(decision).to_contain_text(f"Send an invite to {name}?")
        decision.get_by_test_id(verdict).click()
        expect(decision).to_be_hidden()

    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("node-progress-text-each")).to_have_text("2 / 2")
    page.get_by_test_id("node-items-each").click()
    expect(page.get_by_test_id("item-each.ask.1")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("item-each.ask.2")).to_have_attribute("data-status", "succeeded")
    steps = Step.objects.filter(run__workflow=flow, parent__key="each").order_by("id")
    assert [s.branch for s in steps] == ["approved", "rejected"]


# More than the 1,000 items a step.delegated event lists: the rest are counted, not listed.
BIG = 1_200
# The longest tasks the page ran (ms), from the browser's long-task timing: a page that froze
# for a second while the events of a thousand items poured in would show it here.
RECORD_LONG_TASKS = """() => {
    window.__longTasks = [];
    new PerformanceObserver((list) => {
        for (const entry of list.getEntries()) window.__longTasks.push(entry.duration);
    }).observe({ type: 'longtask', buffered: false });
}"""


def test_a_map_of_many_items_keeps_the_page_responsive(page: Page, alice: User) -> None:
    graph = {
        "nodes": [
            {"id": "n", "type": "input", "label": "Numbers", "position": {"x": 0, "y": 0}},
            {
                "id": "each",
                "type": "map",
                "label": "Each number",
                "position": {"x": 300, "y": 0},
                "config": {"items": "input.numbers", "concurrency": 16, "max_items": 5000},
            },
            {
                "id": "double",
                "type": "worker",
                "label": "Double",
                "position": {"x": 300, "y": 240},
                "config": {"model": "local/echo", "instructions": "Double {{ upstream }}."},
            },
            {"id": "done", "type": "output", "label": "Doubled", "position": {"x": 600, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "n", "target": "each"},
            {"id": "d1", "source": "each", "target": "double", "kind": "delegate"},
            {"id": "e2", "source": "each", "target": "done"},
        ],
    }
    flow = make_workflow(alice, "Many numbers", graph)
    log_in(page)
    page.goto(f"/workflows/{flow.id}")
    page.evaluate(RECORD_LONG_TASKS)
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"numbers": list(range(BIG))}))
    dialog.get_by_test_id("run-submit").click()
    progress = page.get_by_test_id("node-progress-text-each")
    # the total comes from the delegation's count: only the first 1,000 items are listed in it
    expect(progress).to_have_text(re.compile(r"^\d+ / 1,200$"))
    expect(progress).to_have_text(re.compile(r"^[1-9]\d\d / 1,200$"), timeout=60_000)

    # the map's items: a page of rows, more on request, filters by status
    page.get_by_test_id("node-items-each").click()
    rows = page.get_by_test_id("step-children-list").locator("[data-testid^='item-'][data-status]")
    expect(rows).to_have_count(50)
    expect(page.get_by_test_id("item-input-each.double.50")).to_have_text("in 49")
    page.get_by_test_id("step-children-more").click()
    expect(rows).to_have_count(250)
    expect(page.get_by_test_id("items-filter-pending")).to_be_visible()
    page.get_by_test_id("run-tab-timeline").click()
    expect(page.get_by_test_id("timeline-items-each")).to_contain_text(" / 1,200")
    expect(page.get_by_test_id("timeline-each.double.1")).to_have_count(0)

    # cancelled midway: the items not finished are cancelled, every one of them counted
    page.get_by_test_id("cancel-run").click()
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("cancelled", re.I))
    expect(progress).to_have_text(re.compile(r"^1,200 / 1,200 · [\d,]+ cancelled$"))
    page.get_by_test_id("run-tab-step").click()
    page.get_by_test_id("items-filter-cancelled").click()
    expect(rows.first).to_have_attribute("data-status", "cancelled")

    long_tasks: list[float] = page.evaluate("() => window.__longTasks")
    assert max(long_tasks, default=0) < 1_000, f"the page froze: {sorted(long_tasks)[-5:]} ms"
