"""A new user's first hour, point 3: a run that ends through a rejected approval says so. The
run view's status reads "Rejected" (not "Succeeded" with a null output), the gate shows ✗, the
nodes after its approved branch, which never ran, show no ✓, the run list says "Rejected", and
the API gives the run's outcome as "rejected"."""

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


def start_from_the_editor(page: Page, workflow_id: str) -> str:
    page.goto(f"/workflows/{workflow_id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow_id}/runs/[^/]+$"))
    return page.url.rsplit("/", 1)[1]


def test_a_rejected_approval_ends_the_run_as_rejected_everywhere(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Newsletter", GRAPH)
    run_id = start_from_the_editor(page, str(workflow.id))

    # -- the gate waits; Alice rejects it from the run view
    expect(card(page, "gate")).to_have_attribute("data-status", "waiting")
    step_id = str(Approval.objects.get(run_id=run_id).step.key)
    page.get_by_test_id(f"run-decide-{step_id}").click()
    page.get_by_test_id("reject").click()

    # -- the run's status says Rejected, not Succeeded
    status = page.get_by_test_id("run-status")
    expect(status).to_have_text("Rejected")
    expect(status).to_have_attribute("data-status", "rejected")
    banner = page.get_by_test_id("run-rejected")
    expect(banner).to_contain_text("The run ended at a rejection")
    expect(banner).to_contain_text("Sign-off was rejected")
    expect(page.get_by_test_id("run-final-output")).to_have_count(0)

    # the gate shows ✗ Rejected; Publish never ran and shows no ✓
    gate = page.get_by_test_id("node-status-gate")
    expect(gate).to_have_attribute("data-shown", "rejected")
    expect(gate).to_have_text("✗")
    expect(gate).to_have_attribute("title", "Rejected")
    expect(card(page, "draft")).to_have_attribute("data-status", "succeeded")
    publish = page.get_by_test_id("node-status-publish")
    expect(publish).not_to_have_text("✓")
    expect(card(page, "publish")).not_to_have_attribute("data-status", "succeeded")

    # -- the run list says Rejected too
    page.get_by_test_id("runs").click()
    expect(page.get_by_test_id(f"run-item-status-{run_id}")).to_have_text("Rejected")

    # -- and so does the API, while the status stays what the machinery recorded
    detail = page.request.get(f"/api/runs/{run_id}/").json()
    assert (detail["status"], detail["outcome"]) == ("succeeded", "rejected")
    listed = page.request.get(f"/api/runs/?workflow={workflow.id}").json()["results"]
    assert [(r["id"], r["outcome"]) for r in listed] == [(run_id, "rejected")]

    # -- reloaded, the run view reads the same from the recorded events
    page.reload()
    expect(page.get_by_test_id("run-status")).to_have_text("Rejected")
    expect(page.get_by_test_id("node-status-gate")).to_have_text("✗")


def test_an_approved_gate_still_reads_as_a_success(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Newsletter", GRAPH)
    run_id = start_from_the_editor(page, str(workflow.id))
    expect(card(page, "gate")).to_have_attribute("data-status", "waiting")
    step_id = str(Approval.objects.get(run_id=run_id).step.key)
    page.get_by_test_id(f"run-decide-{step_id}").click()
    page.get_by_test_id("approve").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("node-status-gate")).to_have_text("✓")
    expect(page.get_by_test_id("node-status-publish")).to_have_text("✓")
    expect(page.get_by_test_id("run-final-output")).to_contain_text("A note on owls")
    assert page.request.get(f"/api/runs/{run_id}/").json()["outcome"] == "succeeded"
