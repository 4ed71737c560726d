"""A new user's first hour, point 2: a flow that is cut off or fed the wrong input says so before
it runs. A worker dropped on the canvas and left unconnected is flagged on its card and in the
problems list (it would run on its own and spend tokens); a template reading an input field the
Input node does not declare is flagged on its node; a run input that is not an object, or misses
a required field, is refused (in the run dialog, and by the API with a 400 naming the field)
and starts nothing."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import Run
from tests.browser.canvas import card, drop_from_palette
from tests.browser.session import make_workflow

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


def node(
    node_id: str, type_: str, x: int, y: int, label: str = "", **config: Any
) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": type_,
        "label": label,
        "position": {"x": x, "y": y},
        "config": config,
    }


def csrf_post(page: Page, url: str, body: Any) -> Any:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(
        url,
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )


def open_flow(page: Page, alice: User, graph: dict[str, Any], count: int) -> str:
    workflow = make_workflow(alice, "Briefing", graph)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(count)
    return str(workflow.id)


def test_an_unconnected_worker_and_an_undeclared_input_field_are_flagged_and_bad_input_refused(
    app: Page, alice: User
) -> None:
    page = app
    # an Input node that declares no fields, and a step reading input.topic (as the walk had it)
    graph = {
        "nodes": [
            node("brief", "input", 0, 0, "Brief"),
            node("plan", "transform", 280, 0, "Plan", template="Plan for {{ input.topic }}"),
            node("done", "output", 560, 0, "Result"),
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "plan"},
            {"id": "e2", "source": "plan", "target": "done"},
        ],
    }
    workflow_id = open_flow(page, alice, graph, 3)

    # the template reads a field nobody declared: a warning on its node, in plain words
    warning = page.get_by_test_id("node-warning-plan")
    expect(warning).to_contain_text("reads input.topic")
    expect(warning).to_contain_text("Brief does not declare")
    expect(page.get_by_test_id("issues-button")).to_have_text(re.compile(r"1 warning$"))
    # a warning does not stop a run
    expect(page.get_by_test_id("run")).to_be_enabled()

    # -- a worker dropped on the canvas and left unconnected: flagged once the live check ran
    lonely = drop_from_palette(page, "worker", 300, 420)
    lonely_warning = page.get_by_test_id(f"node-warning-{lonely}")
    expect(lonely_warning).to_contain_text("is not connected to Brief")
    expect(lonely_warning).to_contain_text("runs on its own")
    expect(card(page, lonely)).to_have_class(re.compile(r"\bhas-warning\b"))
    expect(page.get_by_test_id("issues-button")).to_have_text(re.compile(r"2 warnings"))

    # the problems list names nodes by their labels; picking one selects that node
    card(page, "plan").locator(".node-label").click()
    expect(page.get_by_test_id("settings-panel")).to_contain_text("Plan")
    page.get_by_test_id("issues-button").click()
    rows = page.get_by_role("dialog", name="Problems").locator(".issue-row")
    expect(rows).to_have_count(2)
    lonely_row = rows.filter(has_text="is not connected")
    expect(lonely_row.locator("strong")).to_have_text("Worker agent")
    lonely_row.click()
    panel = page.get_by_test_id("settings-panel")
    expect(panel.get_by_test_id("node-warnings")).to_contain_text("is not connected to Brief")
    expect(panel.get_by_test_id("settings-status")).to_have_text("1 warning")

    # connected and saved, the unconnected warning goes; the field warning stays
    page.get_by_test_id("delete-node").click()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id(f"node-warning-{lonely}")).to_have_count(0)
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    expect(page.get_by_test_id("issues-button")).to_have_text(re.compile(r"^\W*1 warning$"))

    # -- a list as the run input: refused in the dialog, and nothing starts
    page.get_by_test_id("run").click()
    box = page.get_by_test_id("run-input-json")
    box.fill("[1, 2, 3]")
    page.get_by_test_id("run-submit").click()
    expect(page.get_by_test_id("run-input-json-error")).to_contain_text(
        "must be a JSON object of fields"
    )
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow_id}$"))
    # …and by the API too (a script or a webhook has no dialog)
    answer = csrf_post(page, f"/api/workflows/{workflow_id}/runs/", {"input": [1, 2, 3]})
    assert answer.status == 400, answer.text()
    assert answer.json()["error"]["code"] == "invalid_input"
    assert not Run.objects.filter(workflow_id=workflow_id).exists()


def test_a_run_input_missing_a_required_field_is_refused_by_name(app: Page, alice: User) -> None:
    page = app
    fields = {
        "type": "object",
        "properties": {"topic": {"type": "string"}, "words": {"type": "integer", "default": 50}},
        "required": ["topic"],
    }
    graph = {
        "nodes": [
            node("brief", "input", 0, 0, "Brief", fields=fields),
            node("plan", "transform", 280, 0, "Plan", template="{{ input.topic }}"),
            node("done", "output", 560, 0, "Result"),
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "plan"},
            {"id": "e2", "source": "plan", "target": "done"},
        ],
    }
    workflow_id = open_flow(page, alice, graph, 3)
    # every field it reads is declared: nothing to warn about
    expect(page.get_by_test_id("issues-button")).to_have_count(0)

    # the API refuses a run without the required field, naming it, and one of the wrong type
    answer = csrf_post(page, f"/api/workflows/{workflow_id}/runs/", {"input": {"words": 3}})
    assert answer.status == 400, answer.text()
    error = answer.json()["error"]
    assert error["code"] == "invalid_input"
    assert error["fields"]["input.topic"] == ["required: the run needs this field"], error
    answer = csrf_post(
        page, f"/api/workflows/{workflow_id}/runs/", {"input": {"topic": "owls", "words": "many"}}
    )
    assert answer.status == 400, answer.text()
    assert "input.words" in answer.json()["error"]["fields"]
    assert not Run.objects.filter(workflow_id=workflow_id).exists()

    # the dialog's JSON tab refuses it too, before asking the server
    page.get_by_test_id("run").click()
    page.get_by_test_id("run-dialog").get_by_role("button", name="JSON", exact=True).click()
    page.get_by_test_id("run-input-json").fill('{"words": 3}')
    page.get_by_test_id("run-submit").click()
    expect(page.get_by_test_id("run-input-json-error")).to_contain_text("topic")
    # with the field given, it runs (the default for words filled in)
    page.get_by_test_id("run-input-json").fill('{"topic": "owls"}')
    page.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/"))
    expect(card(page, "done")).to_have_attribute("data-status", "succeeded")
