"""A workflow called as a tool, in a real browser on the real stack: the run view shows the call
as a child of the calling worker and the workflow's steps nested under the call, live (the nested
model call is seen running), in the step inspector and the timeline, with their labels from the
called workflow's graph and the call's cost on the worker's card."""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import card
from tests.browser.session import make_workflow
from tests.support.vendor_server import Completion, Delay, ToolCalls, VendorServer

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"  # priced: $0.15 in, $0.60 out per million tokens


def node(node_id: str, node_type: str, label: str, x: int, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "label": label,
        "position": {"x": x, "y": 0},
        "config": config,
    }


def edges(*ids: str) -> list[dict[str, Any]]:
    pairs = enumerate(itertools.pairwise(ids))
    return [{"id": f"e{n}", "source": a, "target": b} for n, (a, b) in pairs]


LOOKUP = {
    "nodes": [
        node(
            "in",
            "input",
            "Question",
            0,
            fields={"type": "object", "properties": {"q": {"type": "string"}}},
        ),
        node("look", "worker", "Look it up", 260, model=MODEL, instructions="{{ input.q }}"),
        node("out", "output", "Answer", 520),
    ],
    "edges": edges("in", "look", "out"),
}


def caller(lookup_id: str) -> dict[str, Any]:
    return {
        "nodes": [
            node("brief", "input", "Brief", 0),
            node(
                "agent",
                "worker",
                "Agent",
                260,
                model=MODEL,
                stream=False,
                tools=[f"workflow:{lookup_id}"],
                tool_timeout=60,
            ),
            node("done", "output", "Done", 520),
        ],
        "edges": edges("brief", "agent", "done"),
    }


def test_a_workflow_tool_calls_steps_show_nested_under_the_calling_worker(
    app: Page, alice: User, vendor: VendorServer
) -> None:
    page = app
    lookup = make_workflow(alice, "Lookup", LOOKUP)
    main = make_workflow(alice, "Researcher", caller(str(lookup.id)))
    # the nested model call takes a moment, so its step is seen running under the call;
    # 20,000 tokens in and 5,000 out cost $0.006
    vendor.push(
        ToolCalls([{"id": "w", "name": "Lookup", "arguments": {"q": "tides"}}]),
        Delay(2.0, Completion("Twice a day.", prompt_tokens=20_000, completion_tokens=5_000)),
        Completion("Tides come twice a day.", prompt_tokens=1, completion_tokens=1),
    )
    page.goto(f"/workflows/{main.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "tides"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/?]+$"))

    # -- live: the call shows on the worker's card, the nested step running in the timeline
    expect(page.get_by_test_id("child-agent/Lookup.1")).to_be_visible()
    page.get_by_test_id("run-tab-timeline").click()
    nested = page.get_by_test_id("timeline-agent/Lookup.1/look")
    expect(nested).to_have_attribute("data-status", "running")
    expect(nested).to_contain_text("Look it up")  # its label in the called workflow
    expect(page.get_by_test_id("timeline-agent/Lookup.1")).to_contain_text(
        "workflow tool: Lookup v1"
    )
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(nested).to_have_attribute("data-status", "succeeded")
    # no card of the canvas stands for a step of the called workflow
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(card(page, "agent")).to_have_attribute("data-status", "succeeded")

    # -- the inspector: the worker lists its call; the call lists the workflow's steps
    card(page, "agent").locator(".node-label").click()
    page.get_by_test_id("run-tab-step").click()
    children = page.get_by_test_id("step-children")
    expect(children).to_contain_text("Workflows called as tools")
    call = page.get_by_test_id("item-agent/Lookup.1")
    expect(call).to_contain_text("Lookup")
    expect(call).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("item-input-agent/Lookup.1")).to_contain_text("tides")
    # the tool call in the worker's list opens the same step
    tool_calls = page.get_by_test_id("step-tool-calls")
    expect(tool_calls.get_by_test_id("tool-call-status-Lookup")).to_have_text("succeeded")
    tool_calls.get_by_test_id("tool-call-steps-Lookup").click()
    detail = page.get_by_test_id("step-detail")
    expect(detail.locator("h3")).to_have_text("Lookup")
    expect(page.get_by_test_id("step-tool-caller")).to_contain_text("Agent")
    expect(page.get_by_test_id("step-flow")).to_have_text("Lookup v1 · 3 / 3 steps")
    expect(page.get_by_test_id("step-flow-subtree")).to_contain_text("$0.006")
    look = page.get_by_test_id("item-agent/Lookup.1/look")
    expect(look).to_contain_text("Look it up")
    expect(page.get_by_test_id("item-output-agent/Lookup.1/look")).to_contain_text("Twice a day.")
    # a call is not a place to re-run from: its worker is
    expect(page.get_by_test_id("step-rerun-from")).to_have_count(0)
    look.click()
    expect(detail.locator("h3")).to_have_text("Look it up")
    expect(page.get_by_test_id("step-in-flow")).to_contain_text("in sub-flow Lookup")
    expect(detail).to_contain_text("20000 in · 5000 out")
