"""A new user's first flow, end to end in a real browser: sign in, create a workflow, drag three
nodes from the palette, wire them by dragging between handles, set the worker's instructions,
save, reload, run it on the real Celery worker and watch the nodes finish in order."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import (
    canvas_box,
    connect,
    drop_from_palette,
    edges,
    first_tick,
    handle,
    label_truncated,
    record_statuses,
    recorded_statuses,
    workflow_id_of,
)
from tests.browser.session import log_in
from tests.support.vendor_server import Completion, Delay, VendorServer

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

INSTRUCTIONS = "Write three facts about {{ input.topic }}."
ANSWER = "Owls can turn their heads 270 degrees."
CARD_WIDTH = 216  # .node-card at zoom 1


def test_it_builds_saves_reloads_and_runs_a_flow_made_by_hand(
    page: Page, alice: User, vendor: VendorServer
) -> None:
    log_in(page)

    # -- a new workflow, from the list page
    page.get_by_test_id("new-workflow").click()
    page.get_by_test_id("name-input").fill("Owl facts")
    page.get_by_test_id("name-submit").click()
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    expect(page.get_by_test_id("canvas-empty")).to_be_visible()
    expect(page.get_by_test_id("saved-state")).to_be_visible()
    workflow_id = workflow_id_of(page)

    # -- three nodes dragged from the palette, down a diagonal so each card and handle is clear
    drops = {"input": (130, 140), "worker": (340, 300), "output": (550, 460)}
    brief = drop_from_palette(page, "input", *drops["input"])
    expect(page.get_by_test_id("canvas-empty")).to_be_hidden()
    expect(page.get_by_test_id("unsaved")).to_be_visible()
    writer = drop_from_palette(page, "worker", *drops["worker"])
    result = drop_from_palette(page, "output", *drops["output"])
    # each card lies under the point it was dropped on, at the zoom the canvas opened with (the
    # first drop on an empty canvas once made React Flow zoom in and re-centre the view)
    canvas = canvas_box(page)
    for node_id, node_type in ((brief, "input"), (writer, "worker"), (result, "output")):
        x, y = canvas["x"] + drops[node_type][0], canvas["y"] + drops[node_type][1]
        box = page.get_by_test_id(f"node-{node_id}").bounding_box()
        assert box is not None
        assert box["x"] < x < box["x"] + box["width"], (node_id, box, x)
        assert box["y"] < y < box["y"] + box["height"], (node_id, box, y)
        assert box["width"] == pytest.approx(CARD_WIDTH, abs=1), f"zoomed: {box}"

    # -- two connections, each dragged from an output handle to an input handle
    connect(page, handle(page, brief, "source", "out"), handle(page, writer, "target", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(1)
    connect(page, handle(page, writer, "source", "out"), handle(page, result, "target", "in"))
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    assert edges(page) == {(brief, writer), (writer, result)}

    # -- the worker's settings: a model the test's vendor plays, and instructions
    page.get_by_test_id(f"node-{writer}").locator(".node-label").click()
    panel = page.get_by_test_id("settings-panel")
    expect(panel).to_contain_text(writer)
    panel.get_by_test_id("field-model").fill("openai/gpt-4o-mini")
    panel.get_by_test_id("field-instructions").fill(INSTRUCTIONS)
    # the card sums the settings up (its model), and the panel checks them as they are typed
    expect(page.get_by_test_id(f"node-{writer}")).to_contain_text("openai/gpt-4o-mini")
    expect(panel.get_by_test_id("settings-status")).to_have_text("Settings look fine")

    # -- save, and the marker goes
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("unsaved")).to_be_hidden()
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")

    # -- reload: the same nodes and edges, from the server
    page.reload()
    for node_id, node_type in ((brief, "input"), (writer, "worker"), (result, "output")):
        expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-type", node_type)
    expect(page.locator(".react-flow__edge")).to_have_count(2)
    assert edges(page) == {(brief, writer), (writer, result)}
    expect(page.get_by_test_id("unsaved")).to_have_count(0)

    response = page.request.get(f"/api/workflows/{workflow_id}/")
    assert response.ok, response.text()
    saved = response.json()
    graph = saved["graph"]
    assert {n["id"]: n["type"] for n in graph["nodes"]} == {
        brief: "input",
        writer: "worker",
        result: "output",
    }
    assert {(e["source"], e["target"]) for e in graph["edges"]} == {
        (brief, writer),
        (writer, result),
    }
    config = next(n for n in graph["nodes"] if n["id"] == writer)["config"]
    assert config["instructions"] == INSTRUCTIONS
    assert config["model"] == "openai/gpt-4o-mini"
    assert saved["issues"] == []

    # -- run it: the worker's answer takes a moment, so each node's turn can be seen
    vendor.push(Delay(1.5, Completion(ANSWER)))
    record_statuses(page)
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    expect(dialog).to_be_visible()
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow_id}/runs/[^/]+$"))
    expect(dialog).to_be_hidden()

    for node_id in (brief, writer, result):
        expect(page.get_by_test_id(f"node-{node_id}")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("run-output")).to_contain_text(ANSWER)
    expect(page.get_by_test_id("run-final-output")).to_contain_text(ANSWER)
    # the status badges leave the titles whole ("Worker agent", not "Worker a…")
    for node_id in (brief, writer, result):
        assert not label_truncated(page, node_id), node_id

    # Each node turned green in order. The output node is pure: the engine runs it inline, in the
    # worker's own transaction, so its success reaches the page in the same batch as the worker's
    # and may be drawn in the same frame (never before it).
    log = recorded_statuses(page)
    done = {node_id: first_tick(log, node_id, "succeeded") for node_id in (brief, writer, result)}
    assert done[brief] < done[writer] <= done[result], f"not input → worker → output: {log}"
    # the worker was watched running, live, after the input finished and before it did
    assert done[brief] <= first_tick(log, writer, "running") < done[writer], log

    # the worker asked the model with the instructions typed into its settings
    request = vendor.last_request
    prompt = json.dumps(request.body["messages"])
    assert "Write three facts about owls." in prompt

    # the timeline lists the three steps in the order they ran, all done
    page.get_by_test_id("run-tab-timeline").click()
    steps = page.get_by_test_id("run-timeline").locator("[data-testid^=timeline-]")
    expect(steps).to_have_count(3)
    expect(steps.locator(".timeline-name")).to_have_text(["Input", "Worker agent", "Output"])
    for index in range(3):
        expect(steps.nth(index)).to_have_attribute("data-status", "succeeded")
