"""Published versions, as a user of Dify or n8n expects them: the toolbar says what is published;
Publish (with an optional name) makes the saved version the one API calls, webhooks and MCP run,
while the editor's Run keeps running the latest saved version; Versions names them and says which
is published, which are drafts, which are invalid and which is empty; publishing an older version
rolls callers back and Unpublish lets them run the latest again. A viewer sees all of it and
cannot publish."""

from __future__ import annotations

import copy
import json
import re
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect

from editor import operations, publishing
from editor.models import Membership, Role, Workflow
from orchestrator import runs
from orchestrator.models import Run
from tests.browser.canvas import card
from tests.browser.session import PASSWORD, log_in_at, make_workflow, node, other_person
from tests.support.stack import Daphne

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]


GRAPH = {
    "nodes": [
        node("in", "input", 0, "Brief"),
        node("say", "transform", 260, "Say", template="Hello {{ input.topic }}"),
        node("out", "output", 520, "Result"),
    ],
    "edges": [
        {"id": "e1", "source": "in", "target": "say"},
        {"id": "e2", "source": "say", "target": "out"},
    ],
}


def state_of(page: Page, number: int) -> Any:
    return page.get_by_test_id(f"version-state-{number}")


def publish_from_dialog(page: Page, name: str) -> None:
    dialog = page.get_by_test_id("publish-dialog")
    expect(dialog).to_be_visible()
    field = dialog.get_by_test_id("publish-name")
    expect(field).to_be_focused()
    field.fill(name)
    dialog.get_by_test_id("publish-submit").click()
    expect(dialog).to_have_count(0)


def what_callers_run(workflow: Workflow, alice: User) -> int:
    """The version a start that names none pins (as the API, a webhook or MCP start one)."""
    fresh = Workflow.objects.get(pk=workflow.pk)
    run = runs.start_run(fresh, {"topic": "owls"}, actor=alice, via="token")
    return int(run.version.number)


def test_publish_name_roll_back_and_unpublish_while_run_runs_the_latest(
    app: Page, alice: User
) -> None:
    page = app
    workflow = make_workflow(alice, "Greeter", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    state = page.get_by_test_id("publish-state")
    expect(state).to_have_text("Not published")

    # -- publish the saved version with a name
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("publish-dialog")).to_contain_text("Publish version 1")
    publish_from_dialog(page, "v1 – hello")
    expect(state).to_have_text("v1 published")
    expect(state).to_have_attribute("title", re.compile("^Published: version 1 “v1 – hello”"))
    expect(page.get_by_test_id("publish")).to_be_disabled()  # nothing newer to publish
    assert what_callers_run(workflow, alice) == 1

    # -- an edit, saved: callers keep v1, the editor's Run runs v2
    card(page, "say").locator(".node-label").click()
    panel = page.get_by_test_id("settings-panel")
    panel.get_by_test_id("field-template").fill("Warm hello to {{ input.topic }}")
    page.get_by_test_id("save").click()
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    expect(state).to_have_text("v1 published")
    expect(page.get_by_test_id("publish")).to_be_enabled()
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    expect(dialog).to_be_visible()
    expect(dialog.get_by_test_id("run-version-note")).to_have_text(
        "Runs the latest saved version (v2). API calls, webhooks and MCP run the published v1."
    )
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow.id}/runs/[^/]+$"))
    run_id = page.url.rstrip("/").split("/")[-1]
    assert Run.objects.get(pk=run_id).version.number == 2
    assert what_callers_run(workflow, alice) == 1
    page.get_by_test_id("back-to-editor").click()

    # -- Versions: names, which is published, which is a draft
    page.get_by_test_id("versions").click()
    expect(state_of(page, 1)).to_have_text("published")
    expect(state_of(page, 2)).to_have_text("draft")
    expect(page.get_by_test_id("version-name-1")).to_have_text("v1 – hello")
    expect(page.get_by_test_id("unpublish-1")).to_be_visible()
    expect(page.get_by_test_id("publish-1")).to_have_count(0)

    # publish v2 from the list, named
    page.get_by_test_id("publish-2").click()
    expect(page.get_by_test_id("publish-dialog")).to_contain_text("Publish version 2")
    publish_from_dialog(page, "v2 – warmer")
    expect(state_of(page, 2)).to_have_text("published")
    expect(state_of(page, 1)).to_have_text("draft")
    expect(state).to_have_text("v2 published")
    expect(state).to_have_attribute("title", re.compile("“v2 – warmer”"))
    assert what_callers_run(workflow, alice) == 2

    # roll back: v1 again, its name kept
    page.get_by_test_id("publish-1").click()
    publish_from_dialog(page, "")
    expect(state_of(page, 1)).to_have_text("published")
    expect(state).to_have_text("v1 published")
    expect(state).to_have_attribute("title", re.compile("“v1 – hello”"))
    expect(page.get_by_test_id("version-name-2")).to_have_text("v2 – warmer")
    assert what_callers_run(workflow, alice) == 1

    # "Run again" on the runs page is a person in the app: the latest, as the editor's Run
    page.goto("/runs")
    page.get_by_test_id(f"runs-again-{run_id}").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow.id}/runs/[^/]+$"))
    again = page.url.rsplit("/", 1)[1]
    assert again != run_id and Run.objects.get(pk=again).version.number == 2
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    page.get_by_test_id("versions").click()

    # unpublish: callers run the latest saved version again
    page.get_by_test_id("unpublish-1").click()
    expect(state).to_have_text("Not published")
    expect(state_of(page, 1)).to_have_text("draft")
    expect(state_of(page, 2)).to_have_text("draft")
    assert what_callers_run(workflow, alice) == 2

    # a reload shows the same
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id("publish-state")).to_have_text("Not published")

    # the workflow list says which version is published, when one is
    page.get_by_test_id("versions").click()
    page.get_by_test_id("publish-2").click()
    publish_from_dialog(page, "")
    expect(state).to_have_text("v2 published")
    page.get_by_role("link", name="All workflows").click()
    expect(page.get_by_test_id(f"workflow-published-{workflow.id}")).to_have_text("v2 published")


def test_unsaved_changes_are_saved_then_published(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Greeter", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    card(page, "say").locator(".node-label").click()
    page.get_by_test_id("settings-panel").get_by_test_id("node-label-input").fill("Greet")
    expect(page.get_by_test_id("unsaved")).to_be_visible()
    page.get_by_test_id("publish").click()
    expect(page.get_by_test_id("publish-dialog")).to_contain_text("unsaved changes are saved first")
    publish_from_dialog(page, "Greet")
    expect(page.get_by_test_id("publish-state")).to_have_text("v2 published")
    expect(page.get_by_test_id("publish-state")).to_have_attribute("title", re.compile("“Greet”"))
    expect(page.get_by_test_id("saved-state")).to_have_text("Saved · v2")
    published = Workflow.objects.get(pk=workflow.pk).published_version
    assert published is not None and published.number == 2
    assert [n["label"] for n in published.graph["nodes"]] == ["Brief", "Greet", "Result"]


def test_the_empty_first_version_and_an_invalid_one_say_what_they_are(
    app: Page, alice: User
) -> None:
    page = app
    workflow = make_workflow(alice, "Blank", {"nodes": [], "edges": []})
    broken = copy.deepcopy(GRAPH)
    broken["nodes"][1]["config"]["template"] = "{{ nodes.ghost.output }}"
    operations.save_workflow(workflow, user=alice, graph=broken)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id("publish")).to_be_disabled()  # problems to fix first
    page.get_by_test_id("versions").click()
    expect(state_of(page, 1)).to_have_text("empty")
    expect(state_of(page, 2)).to_contain_text("invalid")
    expect(page.get_by_test_id("version-problems-2")).to_have_text("1 problem")
    for number in (1, 2):
        expect(page.get_by_test_id(f"publish-{number}")).to_have_count(0)


def test_a_viewer_sees_what_is_published_and_cannot_publish(
    app: Page, alice: User, browser: Browser, stack_daphne: Daphne, tmp_path: Path
) -> None:
    workflow = make_workflow(alice, "Greeter", GRAPH)
    publishing.publish_version(workflow, user=alice, number=1, name="Live")
    viewer = User.objects.create_user("vera", "vera@example.org", PASSWORD)
    Membership.objects.create(user=viewer, workspace=workflow.workspace, role=Role.VIEWER)
    with other_person(browser, stack_daphne, tmp_path / "vera.png") as page:
        log_in_at(page, "vera", f"/workflows/{workflow.id}")
        expect(page.locator(".react-flow__node")).to_have_count(3)
        expect(page.get_by_test_id("publish-state")).to_have_text("v1 published")
        expect(page.get_by_test_id("publish")).to_have_count(0)
        page.get_by_test_id("versions").click()
        expect(state_of(page, 1)).to_have_text("published")
        expect(page.get_by_test_id("version-name-1")).to_have_text("Live")
        expect(page.get_by_test_id("unpublish-1")).to_have_count(0)
