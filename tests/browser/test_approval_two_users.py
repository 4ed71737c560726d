"""Humans in the loop, with three people in three browsers on the real stack.

Alice (the workspace's owner) builds input → worker → approval → output on the canvas and runs
it. Bob (an approver in her workspace) has the workflow list open: the "Approval needed" toast
arrives live, he opens the inbox, edits the draft, approves with a comment, and the run finishes
on Alice's run view with his text as its output. Carol (a viewer) may look but not decide: her
dialog has no usable Approve button and the API answers 403.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, WebSocket, expect

from editor import operations
from editor.models import Membership, Role
from orchestrator.models import Approval, Step
from tests.browser.canvas import connect, drop_from_palette, edges, handle, workflow_id_of
from tests.browser.session import PASSWORD, log_in, log_in_at, other_person
from tests.support.stack import Daphne

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

WORKFLOW = "Owl newsletter"
INSTRUCTIONS = "Draft a newsletter paragraph about {{ input.topic }}."
PROMPT = "Send this paragraph to the subscribers?"
EDITED = "Owls hunt at night and hear a mouse under the snow. (Edited by Bob.)"
COMMENT = "Shorter, and one fact we can check."


def member(username: str, role: str, owner: User) -> User:
    """A committed user with the browser tests' password, in the owner's workspace with ``role``
    (the ORM stands in for invitations, which have an API of their own)."""
    user = User.objects.create_user(username, f"{username}@example.org", PASSWORD)
    workspace = operations.ensure_personal_workspace(owner)
    Membership.objects.create(user=user, workspace=workspace, role=role)
    return user


def notifications_ready(page: Page) -> list[dict[str, Any]]:
    """Record the messages of the page's notification socket (call before the page loads).

    The server sends ``ready`` once the socket has joined the user's group; waiting for it means
    the test does not start a run the page could not yet hear about."""
    received: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        if "/ws/notifications/" in socket.url:
            socket.on("framereceived", lambda frame: received.append(json.loads(frame)))

    page.on("websocket", watch)
    return received


def wait_for_message(page: Page, received: list[dict[str, Any]], type_: str) -> dict[str, Any]:
    for _ in range(300):  # up to about 15 s; Playwright delivers frames while the page waits
        found = next((m for m in received if m.get("type") == type_), None)
        if found is not None:
            return found
        page.wait_for_timeout(50)
    raise AssertionError(f"no {type_} on the notification socket; saw {received}")


def csrf_post(page: Page, url: str, body: dict[str, Any]) -> Any:
    """POST as the page's signed-in user, with the CSRF token from its cookie, as the app does."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(
        url,
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )


def build_flow(page: Page) -> dict[str, str]:
    """Alice's flow, made by hand on a new workflow's canvas; returns the node ids by role."""
    page.get_by_test_id("new-workflow").click()
    page.get_by_test_id("name-input").fill(WORKFLOW)
    page.get_by_test_id("name-submit").click()
    expect(page).to_have_url(re.compile(r"/workflows/[^/]+$"))
    expect(page.get_by_test_id("canvas-empty")).to_be_visible()

    # down a diagonal so every card and handle stays clear of the others
    ids = {
        "input": drop_from_palette(page, "input", 110, 110),
        "worker": drop_from_palette(page, "worker", 290, 250),
        "approval": drop_from_palette(page, "approval", 470, 390),
        "output": drop_from_palette(page, "output", 650, 530),
    }
    connect(
        page,
        handle(page, ids["input"], "source", "out"),
        handle(page, ids["worker"], "target", "in"),
    )
    connect(
        page,
        handle(page, ids["worker"], "source", "out"),
        handle(page, ids["approval"], "target", "in"),
    )
    connect(
        page,
        handle(page, ids["approval"], "source", "approved"),
        handle(page, ids["output"], "target", "in"),
    )
    expect(page.locator(".react-flow__edge")).to_have_count(3)
    assert edges(page) == {
        (ids["input"], ids["worker"]),
        (ids["worker"], ids["approval"]),
        (ids["approval"], ids["output"]),
    }

    panel = page.get_by_test_id("settings-panel")
    page.get_by_test_id(f"node-{ids['worker']}").locator(".node-label").click()
    expect(panel).to_contain_text(ids["worker"])
    panel.get_by_test_id("field-instructions").fill(INSTRUCTIONS)

    page.get_by_test_id(f"node-{ids['approval']}").locator(".node-label").click()
    expect(panel).to_contain_text(ids["approval"])
    panel.get_by_test_id("field-prompt").fill(PROMPT)
    panel.get_by_test_id("field-editable").check()
    # who decides: the role the gate names by default, approver
    expect(panel.get_by_test_id("field-role")).to_have_value("approver")
    expect(panel.get_by_test_id("settings-status")).to_have_text("Settings look fine")

    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("unsaved")).to_be_hidden()
    return ids


def test_an_approver_edits_and_approves_live_while_a_viewer_cannot_decide(
    page: Page, alice: User, browser: Browser, stack_daphne: Daphne, tmp_path: Path
) -> None:
    bob = member("bob", Role.APPROVER, alice)
    member("carol", Role.VIEWER, alice)

    with (
        other_person(browser, stack_daphne, tmp_path / "bob.png") as bob_page,
        other_person(browser, stack_daphne, tmp_path / "carol.png") as carol_page,
    ):
        # -- Bob is on the workflow list, his notification socket listening
        bob_heard = notifications_ready(bob_page)
        log_in_at(bob_page, "bob", "/")
        wait_for_message(bob_page, bob_heard, "ready")
        expect(bob_page.get_by_test_id("toast-approval")).to_have_count(0)

        # -- Alice builds the flow on the canvas, saves it and runs it
        log_in(page)
        ids = build_flow(page)
        workflow_id = workflow_id_of(page)
        page.get_by_test_id("run").click()
        dialog = page.get_by_test_id("run-dialog")
        dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
        dialog.get_by_test_id("run-submit").click()
        expect(page).to_have_url(re.compile(rf"/workflows/{workflow_id}/runs/[^/]+$"))
        run_id = page.url.rsplit("/", 1)[1]
        # her run view shows the gate waiting, the draft done
        expect(page.get_by_test_id(f"node-{ids['worker']}")).to_have_attribute(
            "data-status", "succeeded"
        )
        expect(page.get_by_test_id(f"node-{ids['approval']}")).to_have_attribute(
            "data-status", "waiting"
        )
        expect(page.get_by_test_id("run-waiting")).to_be_visible()

        approval = Approval.objects.get(run_id=run_id)
        draft = Step.objects.get(run_id=run_id, key=ids["worker"]).output
        assert isinstance(draft, str) and "Draft a newsletter paragraph about owls." in draft

        # -- Bob: the toast arrives on the page he has open, without a reload
        toast = bob_page.get_by_test_id("toast-approval")
        expect(toast).to_be_visible()
        expect(toast).to_contain_text(f"Approval needed: {WORKFLOW}")
        expect(bob_page.get_by_test_id("approvals-badge")).to_have_text("1")

        # -- Carol, a viewer, is not asked and cannot decide
        log_in_at(carol_page, "carol", "/approvals")
        expect(carol_page.get_by_test_id("approvals-empty")).to_be_visible()
        carol_page.goto(f"/approvals/{approval.pk}")
        carol_dialog = carol_page.get_by_test_id("decision-dialog")
        expect(carol_dialog.get_by_test_id("decision-prompt")).to_have_text(PROMPT)
        expect(carol_dialog.get_by_test_id("decision-readonly")).to_be_visible()
        expect(carol_dialog.get_by_test_id("approve")).to_be_disabled()
        expect(carol_dialog.get_by_test_id("reject")).to_be_disabled()
        expect(carol_dialog.get_by_test_id("decision-output")).to_have_count(0)
        refused = csrf_post(
            carol_page,
            f"/api/approvals/{approval.pk}/decide/",
            {"decision": "approve", "output": "Carol's version"},
        )
        assert refused.status == 403, refused.text()
        approval.refresh_from_db()
        assert approval.status == "pending"

        # -- Bob opens the inbox, then the approval, edits the draft and approves
        bob_page.get_by_test_id("approvals-link").click()
        expect(bob_page).to_have_url(re.compile(r"/approvals$"))
        row = bob_page.get_by_test_id(f"approval-{approval.pk}")
        expect(row).to_contain_text(WORKFLOW)
        expect(row).to_contain_text(PROMPT)
        row.click()
        bob_dialog = bob_page.get_by_test_id("decision-dialog")
        expect(bob_dialog.get_by_test_id("decision-prompt")).to_have_text(PROMPT)
        editor = bob_dialog.get_by_test_id("decision-output")
        expect(editor).to_have_value(draft)
        editor.fill(EDITED)
        bob_dialog.get_by_test_id("decision-comment").fill(COMMENT)
        bob_dialog.get_by_test_id("approve").click()
        expect(bob_dialog).to_be_hidden()
        expect(bob_page.get_by_test_id("toast-success")).to_contain_text("Approved.")
        expect(bob_page.get_by_test_id("approvals-empty")).to_be_visible()

        # -- Alice's run view goes on live to the end, with Bob's text as the output
        expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
        expect(page.get_by_test_id(f"node-{ids['approval']}")).to_have_attribute(
            "data-status", "succeeded"
        )
        expect(page.get_by_test_id(f"node-{ids['output']}")).to_have_attribute(
            "data-status", "succeeded"
        )
        expect(page.get_by_test_id("run-final-output")).to_have_text(EDITED)

        answer = page.request.get(f"/api/runs/{run_id}/")
        assert answer.ok, answer.text()
        run = answer.json()
        assert run["status"] == "succeeded"
        assert run["output"] == EDITED
        approval.refresh_from_db()
        assert approval.status == "approved"
        [decision] = approval.decisions.all()
        assert (decision.user, decision.comment) == (bob, COMMENT)

        # Carol's dialog, still open, now says it is decided (the decision reached every page)
        carol_page.reload()
        expect(carol_page.get_by_test_id("decision-status")).to_contain_text("Approved")
        expect(carol_page.get_by_test_id("approve")).to_have_count(0)
