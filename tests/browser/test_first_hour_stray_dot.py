"""A new user's first hour, point 7: "a stray dot on the canvas". In the run view two dots were
left that meant nothing: every node the run had not reached wore a grey "·" badge in its corner,
and a dot kept pulsing along the edge into an approval gate for as long as the gate waited for a
person, as if data were still arriving. Now a node the run has not reached has no badge (its card
is dimmed; once the run passes it by, it says "skipped") and the edge into a waiting gate is drawn
as passed, while the gate itself says it waits."""

from __future__ import annotations

import json
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import Approval
from tests.browser.canvas import card
from tests.browser.session import make_workflow, node

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


GRAPH = {
    "nodes": [
        node("brief", "input", 0, "Brief"),
        node("draft", "transform", 260, "Draft", template="A note on {{ input.topic }}"),
        node("gate", "approval", 520, "Sign-off", prompt="Publish this?"),
        node("publish", "output", 800, "Publish"),
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "draft"},
        {"id": "e2", "source": "draft", "target": "gate"},
        {"id": "e3", "source": "gate", "target": "publish", "source_handle": "approved"},
    ],
}


def test_nothing_dots_the_canvas_while_a_gate_waits_and_after_it_is_rejected(
    app: Page, alice: User
) -> None:
    page = app
    workflow = make_workflow(alice, "Newsletter", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow.id}/runs/[^/]+$"))
    run_id = page.url.rsplit("/", 1)[1]

    # -- the gate waits for a person
    expect(card(page, "gate")).to_have_attribute("data-status", "waiting")
    expect(page.get_by_test_id("node-status-gate")).to_have_attribute("data-shown", "waiting")
    for ran in ("brief", "draft"):
        expect(page.get_by_test_id(f"node-status-{ran}")).to_have_text("✓")
    # the edge into it is drawn as passed: no dot travelling along it
    expect(page.locator('[data-testid="rf__edge-e2"] .edge-flow')).to_have_class(
        re.compile(r"\bedge-done\b")
    )
    expect(page.locator(".edge-pulse, .delegate-pulse")).to_have_count(0)
    # the node not reached yet has no badge at all, only a dimmed card
    expect(card(page, "publish")).to_have_attribute("data-status", re.compile("^(idle|pending)$"))
    expect(page.get_by_test_id("node-status-publish")).to_have_count(0)
    assert page.locator(".react-flow__node .node-status").count() == 3

    # -- rejected: the node on the branch not taken says it was skipped, not a bare dot
    step_id = str(Approval.objects.get(run_id=run_id).step.key)
    page.get_by_test_id(f"run-decide-{step_id}").click()
    page.get_by_test_id("reject").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Rejected")
    expect(page.get_by_test_id("node-status-gate")).to_have_text("✗")
    skipped = page.get_by_test_id("node-status-publish")
    expect(skipped).to_have_attribute("data-shown", "skipped")
    expect(skipped).to_have_attribute("title", "Skipped")
    expect(skipped).not_to_have_text("·")
    expect(page.locator(".edge-pulse, .delegate-pulse")).to_have_count(0)

    # -- and so after a reload, from the recorded events
    page.reload()
    expect(page.get_by_test_id("run-status")).to_have_text("Rejected")
    expect(page.get_by_test_id("node-status-gate")).to_have_text("✗")
    expect(page.get_by_test_id("node-status-publish")).to_have_attribute("data-shown", "skipped")
