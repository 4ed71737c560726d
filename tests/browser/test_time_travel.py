"""Time travel in a real browser, on the real Celery worker and a scripted model vendor: run a flow,
click "Re-run from here" on a step's card, read the preview (what runs again, what is reused,
about what it costs) with the canvas marked, confirm, watch the new run finish live with the
upstream steps shown as reused (no model call made for them), and open the comparison with the
source run. Retry a failed run, and continue from an edited output (refused first where it does
not fit the node's output schema). Then pin a node's output in the editor and see a test run
reuse it; and re-run from a task a manager delegated."""

from __future__ import annotations

import copy
import json
import re

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from tests.browser.canvas import card, first_tick, record_statuses, recorded_statuses
from tests.browser.session import make_workflow
from tests.support.vendor_server import (
    Completion,
    Delay,
    HTTPError,
    RecordedRequest,
    Responder,
    Scripted,
    VendorServer,
)

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"  # priced in the catalogue: $0.15 in, $0.60 out per million tokens
GRAPH = {
    "nodes": [
        {"id": "brief", "type": "input", "label": "Brief", "position": {"x": 0, "y": 0}},
        {
            "id": "research",
            "type": "worker",
            "label": "Research",
            "position": {"x": 260, "y": 0},
            "config": {"model": MODEL, "instructions": "Three facts about {{ input.topic }}."},
        },
        {
            "id": "draft",
            "type": "worker",
            "label": "Draft",
            "position": {"x": 520, "y": 0},
            "config": {"model": MODEL, "instructions": "A paragraph from: {{ upstream }}"},
        },
        {"id": "result", "type": "output", "label": "Result", "position": {"x": 780, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "research"},
        {"id": "e2", "source": "research", "target": "draft"},
        {"id": "e3", "source": "draft", "target": "result"},
    ],
}
FACTS = "Owls fly silently. Owls see in the dark. Owls turn their heads."
FIRST_DRAFT = "Owls are quiet hunters of the night."
SECOND_DRAFT = "Silent, sharp-eyed and flexible: the owl."


def answers(drafts: list[str]) -> Responder:
    """Research gets the facts; each draft request takes the next draft. 20,000 tokens in and
    5,000 out make each call cost $0.006, so costs show."""

    def respond(request: RecordedRequest) -> Scripted | None:
        prompt = json.dumps(request.body.get("messages"))
        text = drafts.pop(0) if "A paragraph from" in prompt else FACTS
        return Completion(text, prompt_tokens=20_000, completion_tokens=5_000)

    return respond


def run_from_editor(page: Page, topic: str) -> str:
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": topic}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/?]+$"))
    return page.url.rsplit("/", 1)[1]


def test_it_reruns_from_a_step_card_reusing_upstream_and_compares_the_runs(
    app: Page, alice: User, vendor: VendorServer
) -> None:
    page = app
    workflow = make_workflow(alice, "Owl brief", GRAPH)
    vendor.respond_with(answers([FIRST_DRAFT, SECOND_DRAFT]))
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)

    # -- a first run, to its end
    first = run_from_editor(page, "owls")
    for node_id in ("brief", "research", "draft", "result"):
        expect(card(page, node_id)).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("run-final-output")).to_contain_text(FIRST_DRAFT)
    assert len(vendor.requests) == 2

    # -- "Re-run from here" on the draft's card: shown once the card is picked
    expect(page.get_by_test_id("rerun-from-draft")).to_have_count(0)
    card(page, "draft").locator(".node-label").click()
    page.get_by_test_id("rerun-from-draft").click()
    dialog = page.get_by_test_id("rerun-dialog")
    expect(dialog).to_contain_text("Re-run from here: Draft")
    # the preview: the draft and the output run again (the draft cost $0.006 last time), the
    # brief and the research are reused; the canvas beside the dialog says the same
    expect(dialog.get_by_test_id("rerun-preview-text")).to_have_text(
        "This re-executes 2 steps (about $0.006 at catalogue prices) and reuses 2. "
        "Reusing saves about $0.006."
    )
    expect(dialog.get_by_test_id("rerun-plan-research")).to_have_attribute("data-verdict", "reuse")
    expect(dialog.get_by_test_id("rerun-plan-draft")).to_have_attribute("data-verdict", "execute")
    expect(card(page, "research")).to_have_attribute("data-plan", "reuse")
    expect(card(page, "draft")).to_have_attribute("data-plan", "execute")
    expect(card(page, "result")).to_have_attribute("data-plan", "execute")

    # -- confirm: the new run opens and streams live; the draft's answer takes a moment
    vendor.push(Delay(1.5, Completion(SECOND_DRAFT, prompt_tokens=20_000, completion_tokens=5_000)))
    record_statuses(page)
    dialog.get_by_test_id("rerun-confirm").click()
    expect(dialog).to_be_hidden()
    expect(page).not_to_have_url(re.compile(rf"/runs/{first}$"))
    second = page.url.rsplit("/", 1)[1]
    expect(page.get_by_test_id("run-connection")).to_have_text("Live")
    expect(card(page, "draft")).to_have_attribute("data-status", "running")
    # the upstream steps are there at once, reused: teal, labelled, linked to the run they came from
    for node_id in ("brief", "research"):
        expect(card(page, node_id)).to_have_attribute("data-status", "reused")
    reused = page.get_by_test_id("node-reused-research")
    expect(reused).to_contain_text("reused")
    expect(reused.get_by_role("link")).to_have_text(f"from run {first[:8]} · step research")
    expect(card(page, "draft")).to_have_attribute("data-status", "succeeded")
    expect(card(page, "result")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("run-final-output")).to_contain_text(SECOND_DRAFT)
    # watched live: the reused steps first, then the draft running, then done (the log begins
    # with the first run's cards)
    log = recorded_statuses(page)
    reused_at = first_tick(log, "research", "reused")
    later = [entry for entry in log if entry["tick"] >= reused_at]
    assert (
        reused_at <= first_tick(later, "draft", "running") < first_tick(later, "draft", "succeeded")
    )
    # only the draft asked the model again: the research was not paid for twice
    assert len(vendor.requests) == 3
    assert "A paragraph from" in json.dumps(vendor.requests[-1].body["messages"])

    # the run's header: where it came from, what reusing saved, its cost only the draft's
    source = page.get_by_test_id("run-source")
    expect(source).to_contain_text(f"Re-run of run {first[:8]} from step Draft")
    expect(page.get_by_test_id("run-reused")).to_have_text("2 steps reused (saved $0.006)")
    expect(page.get_by_test_id("run-cost")).to_have_text("$0.006")
    # the reused step's panel links to the step it came from
    card(page, "research").locator(".node-label").click()
    expect(page.get_by_test_id("step-reused-from")).to_contain_text(
        f"run {first[:8]} · step research"
    )

    # -- the comparison with the source run, node by node
    source.get_by_test_id("compare-source").click()
    expect(page).to_have_url(
        re.compile(rf"/workflows/{workflow.id}/compare\?a={first}&b={second}$")
    )
    compare = page.get_by_test_id("run-compare")
    expect(compare.get_by_test_id("run-compare-differences")).to_have_text("2 of 4 nodes differ.")
    draft = compare.get_by_test_id("run-compare-node-draft")
    expect(draft).to_have_attribute("data-same", "false")
    expect(draft).to_contain_text("Draft")
    diff = draft.get_by_test_id("run-compare-output-diff")
    expect(diff.locator(".rc-line-removed")).to_have_text(f"− {FIRST_DRAFT}")
    expect(diff.locator(".rc-line-added")).to_have_text(f"+ {SECOND_DRAFT}")
    # the research is the same (reused): folded away until asked for
    research = compare.get_by_test_id("run-compare-node-research")
    expect(research).to_have_attribute("data-same", "true")
    expect(research.locator("details")).not_to_have_attribute("open", "")
    compare.get_by_test_id("run-compare-show-unchanged").check()
    expect(research.locator("details")).to_have_attribute("open", "")
    expect(research.locator(".reused-chip")).to_have_text("reused")
    expect(research.get_by_test_id("run-compare-output-same")).to_have_text(FACTS)

    # -- and back: the source run lists its re-run
    page.get_by_test_id("run-compare-run-a").get_by_role("link", name=f"Run {first[:8]}").click()
    expect(page.get_by_test_id("run-reruns")).to_contain_text(second[:8])

    # -- the run history compares any two runs: tick them, press Compare (the older one is A)
    page.get_by_test_id("runs").click()
    history = page.get_by_test_id("run-history")
    expect(history.get_by_test_id(f"run-item-{second}")).to_contain_text("re-run")
    history.get_by_test_id(f"pick-run-{second}").check()
    history.get_by_test_id(f"pick-run-{first}").check()
    history.get_by_test_id("compare-picked-runs").click()
    expect(page).to_have_url(re.compile(rf"/compare\?a={first}&b={second}$"))
    expect(page.get_by_test_id("run-compare-differences")).to_have_text("2 of 4 nodes differ.")


def test_a_pinned_node_is_reused_by_a_test_run(
    app: Page, alice: User, vendor: VendorServer
) -> None:
    page = app
    workflow = make_workflow(alice, "Pinned brief", GRAPH)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    expect(page.get_by_test_id("pins-note")).to_have_count(0)

    # -- pin the research's output, typed as JSON (a bad one is refused where it was typed)
    card(page, "research").locator(".node-label").click()
    section = page.get_by_test_id("settings-panel").get_by_test_id("pin-section")
    section.get_by_test_id("pin-type").click()
    section.get_by_test_id("pin-json").fill('"Pinned facts')
    section.get_by_test_id("pin-typed").click()
    expect(section.get_by_test_id("pin-json-error")).to_contain_text("Not valid JSON")
    section.get_by_test_id("pin-json").fill(json.dumps("Pinned facts about owls."))
    section.get_by_test_id("pin-typed").click()
    expect(section.get_by_test_id("pin-state")).to_have_text("pinned")
    expect(section.get_by_test_id("pin-value")).to_have_text("Pinned facts about owls.")
    expect(page.get_by_test_id("node-pin-research")).to_be_visible()
    expect(page.get_by_test_id("pins-note")).to_have_text("1 node pinned")

    # -- a test run from the editor: the research gives its pinned output, only the draft runs
    page.get_by_role("button", name="Close settings").click()
    page.get_by_test_id("run").click()
    expect(page.get_by_test_id("run-pins-note")).to_contain_text("1 node pinned")
    run_dialog = page.get_by_test_id("run-dialog")
    run_dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
    run_dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/?]+$"))
    expect(card(page, "research")).to_have_attribute("data-status", "reused")
    expect(page.get_by_test_id("node-reused-research")).to_have_text("pinned")
    expect(card(page, "result")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("run-source")).to_contain_text("Test run with pinned data")
    assert len(vendor.requests) == 1, [r.body for r in vendor.requests]
    assert "Pinned facts about owls." in json.dumps(vendor.requests[0].body["messages"])

    # -- back in the editor: unpin, and the mark and the note go
    page.get_by_test_id("back-to-editor").click()
    card(page, "research").locator(".node-label").click()
    page.get_by_test_id("pin-section").get_by_test_id("unpin").click()
    expect(page.get_by_test_id("node-pin-research")).to_have_count(0)
    expect(page.get_by_test_id("pins-note")).to_have_count(0)
    response = page.request.get(f"/api/workflows/{workflow.id}/pins/")
    assert response.json() == {"pins": {}}


SCHEMA = {
    "type": "object",
    "properties": {"facts": {"type": "array", "items": {"type": "string"}}},
    "required": ["facts"],
}
CHECKED = copy.deepcopy(GRAPH)
CHECKED["nodes"][1]["config"] |= {"output_format": "json", "output_schema": SCHEMA}


def test_it_retries_a_failed_run_then_continues_from_an_edited_output(
    app: Page, alice: User, vendor: VendorServer
) -> None:
    page = app
    workflow = make_workflow(alice, "Checked brief", CHECKED)
    # the research answers structured facts; the draft's first call is refused by the vendor
    vendor.push(
        Completion(json.dumps({"facts": ["Owls fly silently."]})),
        HTTPError(400, "the model is busy"),
    )
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    failed = run_from_editor(page, "owls")
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("failed", re.I))
    expect(card(page, "draft")).to_have_attribute("data-status", "failed")

    # -- Retry, from the failed run's header: the preview, then the run, reusing the research
    page.get_by_test_id("retry-run").click()
    dialog = page.get_by_test_id("rerun-dialog")
    expect(dialog).to_contain_text("Retry the run")
    expect(dialog.get_by_test_id("rerun-version")).to_contain_text("this run’s version (v1)")
    expect(dialog.get_by_test_id("rerun-plan-research")).to_have_attribute("data-verdict", "reuse")
    expect(dialog.get_by_test_id("rerun-plan-draft")).to_have_attribute("data-verdict", "execute")
    expect(dialog.get_by_test_id("rerun-preview-text")).to_contain_text("re-executes 2 steps")
    dialog.get_by_test_id("rerun-confirm").click()
    expect(page).not_to_have_url(re.compile(rf"/runs/{failed}$"))
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(card(page, "research")).to_have_attribute("data-status", "reused")
    expect(page.get_by_test_id("run-source")).to_contain_text(f"Retry of run {failed[:8]}")
    assert len(vendor.requests) == 3  # research once, the draft twice

    # -- Edit output on the research: an output against its schema is refused where it was typed
    card(page, "research").locator(".node-label").click()
    page.get_by_test_id("edit-output-research").click()
    dialog = page.get_by_test_id("rerun-dialog")
    output = dialog.get_by_test_id("rerun-output")
    expect(output).to_have_value('{\n  "facts": [\n    "Owls fly silently."\n  ]\n}')
    output.fill('{"facts": ["Owls hoot."')
    expect(dialog.get_by_test_id("rerun-output-error")).to_contain_text("Not valid JSON")
    output.fill('{"facts": "Owls hoot."}')
    expect(dialog.get_by_test_id("rerun-output-error")).to_contain_text("is not of type 'array'")
    expect(output).to_have_value('{"facts": "Owls hoot."}')
    expect(dialog.get_by_test_id("rerun-confirm")).to_be_disabled()
    output.fill('{"facts": ["Owls hoot."]}')
    expect(dialog.get_by_test_id("rerun-output-error")).to_have_count(0)
    expect(dialog.get_by_test_id("rerun-preview-text")).to_contain_text("re-executes 2 steps")
    dialog.get_by_test_id("rerun-confirm").click()
    expect(page.get_by_test_id("run-source")).to_contain_text("Continues from an edited output")
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("node-reused-research")).to_contain_text("edited")
    # the draft was written from the edited facts
    assert "Owls hoot." in json.dumps(vendor.requests[-1].body["messages"])
    assert len(vendor.requests) == 4


TEAM = {
    "nodes": [
        {"id": "brief", "type": "input", "label": "Brief", "position": {"x": 0, "y": 0}},
        {
            "id": "lead",
            "type": "manager",
            "label": "Lead",
            "position": {"x": 280, "y": 0},
            "config": {"model": "local/echo", "instructions": "A note on {{ input.topic }}."},
        },
        {
            "id": "scout",
            "type": "worker",
            "label": "Scout",
            "position": {"x": 280, "y": 220},
            "config": {"model": "local/echo", "role": "Scout", "instructions": "{{ upstream }}"},
        },
        {"id": "result", "type": "output", "label": "Result", "position": {"x": 560, "y": 0}},
    ],
    "edges": [
        {"id": "e1", "source": "brief", "target": "lead"},
        {"id": "e2", "source": "lead", "target": "scout", "kind": "delegate"},
        {"id": "e3", "source": "lead", "target": "result"},
    ],
}


def test_it_reruns_from_a_task_a_manager_delegated(app: Page, alice: User) -> None:
    page = app
    workflow = make_workflow(alice, "Team note", TEAM)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    first = run_from_editor(page, "owls")
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))

    # the manager's task, opened from its badge on the manager's card: re-run from it
    task = page.get_by_test_id("node-children-lead").locator("[data-testid^=child-]").first
    task.click()
    detail = page.get_by_test_id("step-detail")
    expect(detail).to_contain_text("Delegated by")
    detail.get_by_test_id("step-rerun-from").click()
    dialog = page.get_by_test_id("rerun-dialog")
    expect(dialog).to_contain_text("Re-run from here: Scout")
    expect(dialog.get_by_test_id("rerun-plan-brief")).to_have_attribute("data-verdict", "reuse")
    expect(dialog.get_by_test_id("rerun-plan-lead")).to_have_attribute("data-verdict", "execute")
    dialog.get_by_test_id("rerun-confirm").click()
    expect(page).not_to_have_url(re.compile(rf"/runs/{first}$"))
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(card(page, "brief")).to_have_attribute("data-status", "reused")
    expect(page.get_by_test_id("run-source")).to_contain_text(f"Re-run of run {first[:8]}")
