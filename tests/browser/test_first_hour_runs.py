"""A new user's first hour, point 8: run history across workflows. The runs page lists every
run of every workflow with its outcome, who started it and a preview of its input; filters
(outcome, workflow, who, dates, trigger) and a search narrow it; "Run again" starts a new run
with the same input; an approval's dialog links to its run; and the run view's panels can be
widened by dragging their edge or folded away."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import Run
from tests.browser.canvas import canvas_box, card
from tests.browser.session import make_workflow, node

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def csrf_post(page: Page, url: str, body: Any) -> Any:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(
        url,
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )


def start(page: Page, workflow_id: str, run_input: dict[str, Any]) -> str:
    answer = csrf_post(page, f"/api/workflows/{workflow_id}/runs/", {"input": run_input})
    assert answer.status == 201, answer.text()
    return str(answer.json()["id"])


def test_the_runs_page_lists_filters_and_runs_again(app: Page, alice: User) -> None:
    page = app
    digest = make_workflow(
        alice,
        "Owl digest",
        {
            "nodes": [
                node("in", "input", 0, "Brief"),
                node("say", "transform", 260, "Say", template="Facts on {{ input.topic }}"),
                node("out", "output", 520, "Result"),
            ],
            "edges": [
                {"id": "e1", "source": "in", "target": "say"},
                {"id": "e2", "source": "say", "target": "out"},
            ],
        },
    )
    gated = make_workflow(
        alice,
        "Press release",
        {
            "nodes": [
                node("in", "input", 0, "Brief"),
                node("gate", "approval", 260, "Sign-off", prompt="Publish?"),
                node("out", "output", 520, "Result"),
            ],
            "edges": [
                {"id": "e1", "source": "in", "target": "gate"},
                {"id": "e2", "source": "gate", "target": "out", "source_handle": "approved"},
            ],
        },
    )
    owls = start(page, str(digest.id), {"topic": "owls"})
    start(page, str(digest.id), {"topic": "bats"})
    waiting = start(page, str(gated.id), {"topic": "launch"})
    for run_id in (owls, waiting):
        for _ in range(200):
            if Run.objects.get(pk=run_id).status in ("succeeded", "waiting"):
                break
            page.wait_for_timeout(50)

    # -- from the workflow list to every run of every workflow
    page.get_by_test_id("all-runs-link").click()
    expect(page).to_have_url(re.compile(r"/runs$"))
    rows = page.get_by_test_id("runs-table").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id(f"runs-input-{owls}")).to_have_text('{"topic": "owls"}')
    expect(page.get_by_test_id(f"runs-row-{owls}")).to_contain_text("alice")
    expect(page.get_by_test_id(f"runs-status-{waiting}")).to_have_text("Waiting")

    # -- filters and search narrow it (on the server)
    page.get_by_test_id("runs-outcome").select_option("waiting")
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Press release")
    page.get_by_test_id("runs-outcome").select_option("")
    page.get_by_test_id("runs-workflow").select_option(label="Owl digest")
    expect(rows).to_have_count(2)
    page.get_by_test_id("runs-workflow").select_option("")
    page.get_by_test_id("runs-search").fill("press")
    expect(rows).to_have_count(1)
    page.get_by_test_id("runs-search").fill(owls[:8])
    expect(rows).to_have_count(1)
    expect(rows.first).to_contain_text("Owl digest")
    page.get_by_test_id("runs-search").fill("")
    expect(rows).to_have_count(3)
    page.get_by_test_id("runs-started-by").fill("nobody")
    expect(page.get_by_text("No run matches")).to_be_visible()
    page.get_by_test_id("runs-clear").click()
    expect(rows).to_have_count(3)
    page.get_by_test_id("runs-since").fill("2999-01-01")
    expect(page.get_by_text("No run matches")).to_be_visible()
    page.get_by_test_id("runs-clear").click()
    page.get_by_test_id("runs-trigger").select_option("session")
    expect(rows).to_have_count(3)
    page.get_by_test_id("runs-trigger").select_option("webhook")
    expect(page.get_by_text("No run matches")).to_be_visible()
    page.get_by_test_id("runs-clear").click()
    expect(rows).to_have_count(3)

    # -- run again with the same input: a new run, opened live
    page.get_by_test_id(f"runs-again-{owls}").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{digest.id}/runs/[^/]+$"))
    again = page.url.rsplit("/", 1)[1]
    assert again != owls
    expect(card(page, "out")).to_have_attribute("data-status", "succeeded")
    assert Run.objects.get(pk=again).input == {"topic": "owls"}

    # -- the run view's panels: widen the run panel by its edge, fold it away, bring it back
    panel = page.get_by_test_id("run-panel")
    before = panel.bounding_box()
    assert before is not None
    grip = page.get_by_test_id("panel-grip-run").bounding_box()
    assert grip is not None
    page.mouse.move(grip["x"] + 4, grip["y"] + 300)
    page.mouse.down()
    page.mouse.move(grip["x"] - 120, grip["y"] + 300, steps=6)
    page.mouse.up()
    wider = panel.bounding_box()
    assert wider is not None and wider["width"] > before["width"] + 80, (before, wider)
    canvas_before = canvas_box(page)["width"]
    page.get_by_test_id("run-panel-fold").click()
    folded = panel.bounding_box()
    assert folded is not None and folded["width"] < 60, folded
    assert canvas_box(page)["width"] > canvas_before + 300
    page.get_by_test_id("run-panel-fold").click()
    expect(page.get_by_test_id("run-status")).to_be_visible()

    # -- an approval's dialog links to its run
    page.goto("/approvals")
    page.locator("[data-testid^=approval-]").filter(has_text="Sign-off").first.click()
    link = page.get_by_test_id("decision-run-link")
    expect(link).to_have_attribute("href", f"/workflows/{gated.id}/runs/{waiting}")
    link.click()
    expect(page).to_have_url(re.compile(rf"/runs/{waiting}$"))
    expect(card(page, "gate")).to_have_attribute("data-status", "waiting")
