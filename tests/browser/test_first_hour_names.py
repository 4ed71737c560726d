"""A new user's first hour, points 6 and 7: the app speaks of nodes by the labels people typed,
and what it says stays true. A manager's task badges name its workers ("Researcher", not
worker_1); a failed run says "Fetch page failed: …", not "step 'fetch' failed"; the approvals
inbox and its toast name the gate ("Sign-off"). The "Approval needed" toast goes once the
approval is decided, and "Cancelling the run…" turns into "Run cancelled." when it is; a waiting
gate reads as waiting for a person, not "null"."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import Approval
from tests.browser.canvas import card
from tests.browser.session import make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def node(node_id: str, type_: str, x: int, y: int, label: str, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": type_,
        "label": label,
        "position": {"x": x, "y": y},
        "config": config,
    }


def edge(source: str, target: str, kind: str = "flow", handle: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {"id": f"{source}-{target}", "source": source, "target": target}
    if kind != "flow":
        found["kind"] = kind
    if handle:
        found["source_handle"] = handle
    return found


def run_from_the_editor(page: Page, workflow_id: str, count: int) -> str:
    page.goto(f"/workflows/{workflow_id}")
    expect(page.locator(".react-flow__node")).to_have_count(count)
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow_id}/runs/[^/]+$"))
    return page.url.rsplit("/", 1)[1]


def test_badges_and_failures_name_nodes_by_their_labels(app: Page, alice: User) -> None:
    page = app
    team = make_workflow(
        alice,
        "Team",
        {
            "nodes": [
                node("brief", "input", 0, 0, "Brief"),
                node("worker_1", "manager", 260, 0, "Editor-in-chief", model="local/echo"),
                node("worker_2", "worker", 260, 220, "Researcher", model="local/echo"),
                node("report", "output", 560, 0, "Report"),
            ],
            "edges": [
                edge("brief", "worker_1"),
                edge("worker_1", "report"),
                edge("worker_1", "worker_2", "delegate"),
            ],
        },
    )
    run_from_the_editor(page, str(team.id), 4)
    expect(card(page, "report")).to_have_attribute("data-status", "succeeded")
    badges = page.get_by_test_id("node-children-worker_1").locator("[data-testid^=child-]")
    expect(badges.first).to_have_text("Researcher")

    broken = make_workflow(
        alice,
        "Lookup",
        {
            "nodes": [
                node("brief", "input", 0, 0, "Brief"),
                # loopback is refused by the outbound guard: the step fails
                node("fetch", "http_request", 260, 0, "Fetch page", url="http://127.0.0.1:9/x"),
                node("done", "output", 520, 0, "Result"),
            ],
            "edges": [edge("brief", "fetch"), edge("fetch", "done")],
        },
    )
    run_from_the_editor(page, str(broken.id), 3)
    error = page.get_by_test_id("run-error")
    expect(error).to_contain_text("Fetch page failed:")
    expect(error).not_to_contain_text("step 'fetch'")


GATED = {
    "nodes": [
        node("brief", "input", 0, 0, "Brief"),
        node(
            "approval_1", "approval", 260, 0, "Sign-off", prompt="Go ahead with {{ input.topic }}?"
        ),
        node("done", "output", 520, 0, "Result"),
    ],
    "edges": [edge("brief", "approval_1"), edge("approval_1", "done", handle="approved")],
}


def test_the_approval_toast_names_the_gate_and_goes_once_it_is_decided(
    app: Page, alice: User
) -> None:
    page = app
    workflow = make_workflow(alice, "Gated", GATED)
    run_id = run_from_the_editor(page, str(workflow.id), 3)
    expect(card(page, "approval_1")).to_have_attribute("data-status", "waiting")
    # while it waits, the output says so instead of "null"
    expect(page.get_by_test_id("run-stream")).to_have_text("Waiting for a person to decide…")

    toast = page.get_by_test_id("toast-approval")
    expect(toast).to_contain_text("Approval needed: Gated — Sign-off")
    expect(toast).not_to_contain_text("approval_1")

    # the inbox names the gate too
    page.get_by_role("link", name=re.compile("Approvals")).first.click()
    expect(page.get_by_text("Sign-off").first).to_be_visible()
    page.go_back()
    expect(card(page, "approval_1")).to_have_attribute("data-status", "waiting")

    # decided: the toast goes at once (it stayed its full 12 s, saying something no longer true)
    key = str(Approval.objects.get(run_id=run_id).step.key)
    page.get_by_test_id(f"run-decide-{key}").click()
    page.get_by_test_id("approve").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Succeeded")
    expect(page.get_by_test_id("toast-approval")).to_have_count(0, timeout=3_000)


def test_cancelling_says_when_it_is_done_and_takes_the_approval_toast_away(
    app: Page, alice: User
) -> None:
    page = app
    workflow = make_workflow(alice, "Gated", GATED)
    run_from_the_editor(page, str(workflow.id), 3)
    expect(card(page, "approval_1")).to_have_attribute("data-status", "waiting")
    expect(page.get_by_test_id("toast-approval")).to_be_visible()

    page.get_by_test_id("cancel-run").click()
    expect(page.get_by_test_id("run-status")).to_have_text("Cancelled")
    expect(page.get_by_test_id("toast-success")).to_contain_text("Run cancelled.")
    expect(page.get_by_text("Cancelling the run…")).to_have_count(0, timeout=3_000)
    expect(page.get_by_test_id("toast-approval")).to_have_count(0, timeout=3_000)
