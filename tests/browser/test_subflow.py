"""Sub-flows in a real browser on the real stack: a subflow step runs its workflow as steps of the
run, and the run view shows them nested under it.

A flow whose `check` step runs "Fact check" (a model call, then an approval gate): its steps
appear live under the sub-flow's card ("runs Fact check v1", "2 / 4 steps · waiting for
approval") and in its list, never on the outer card that shares a node id with one of them; the
inbox says the gate came from the sub-flow; the gate is decided from the run view and the run
finishes, the card's cost being the sub-flow's steps' (the API's `subtree`).

Then "Re-run from here" on a step inside a finished run's sub-flow: the new run reuses the
sub-flow's earlier steps (shown as reused, no model call made for them) and runs again from that
step, with the step's key ("check/polish") in the re-run's address.
"""

from __future__ import annotations

import itertools
import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from orchestrator.models import Run, Step
from tests.browser.canvas import card
from tests.browser.session import make_workflow
from tests.support.vendor_server import Completion, Delay, RecordedRequest, Scripted, VendorServer

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"  # priced in the catalogue: $0.15 in, $0.60 out per million tokens


def node(node_id: str, node_type: str, label: str, x: int, **config: Any) -> dict[str, Any]:
    return {
        "id": node_id,
        "type": node_type,
        "label": label,
        "position": {"x": x, "y": 0},
        "config": config,
    }


def chain(*ids: str, gate: str | None = None) -> list[dict[str, Any]]:
    """Edges along ``ids``; out of ``gate`` by its approved branch."""
    return [
        {
            "id": f"e{n}",
            "source": a,
            "target": b,
            **({"source_handle": "approved"} if a == gate else {}),
        }
        for n, (a, b) in enumerate(itertools.pairwise(ids), start=1)
    ]


# Fact check: its `verify` shares its id with the outer flow's `verify` (a transform).
FACT_CHECK = {
    "nodes": [
        node("start", "input", "Claims", 0),
        node(
            "verify",
            "worker",
            "Verify claims",
            260,
            model=MODEL,
            instructions="Verify: {{ upstream }}",
        ),
        node("gate", "approval", "Sign off", 520, prompt="Publish the verdict: {{ upstream }}?"),
        node("out", "output", "Verdict", 780),
    ],
    "edges": chain("start", "verify", "gate", "out", gate="gate"),
}


def article(sub_id: str) -> dict[str, Any]:
    return {
        "nodes": [
            node("brief", "input", "Brief", 0),
            node("verify", "transform", "Outline", 260, template="Claims about {{ input.topic }}"),
            node("check", "subflow", "Check facts", 520, workflow=sub_id, input=""),
            node("done", "output", "Done", 780),
        ],
        "edges": chain("brief", "verify", "check", "done"),
    }


VERDICT = "All three claims hold."


def run_from_editor(page: Page, topic: str) -> str:
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": topic}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/?]+$"))
    return page.url.rsplit("/", 1)[1]


def test_a_sub_flows_steps_show_nested_live_and_its_gate_is_decided_in_the_run_view(
    app: Page, alice: User, vendor: VendorServer
) -> None:
    page = app
    sub = make_workflow(alice, "Fact check", FACT_CHECK)
    main = make_workflow(alice, "Article", article(str(sub.id)))
    # the verification takes a moment, so its step is seen running under the sub-flow's card;
    # 20,000 tokens in and 5,000 out cost $0.006
    vendor.push(Delay(2.0, Completion(VERDICT, prompt_tokens=20_000, completion_tokens=5_000)))
    page.goto(f"/workflows/{main.id}")
    expect(page.locator(".react-flow__node")).to_have_count(4)
    run_id = run_from_editor(page, "owls")

    # -- live: the sub-flow's card says what it runs; its steps appear under it as they start
    check = card(page, "check")
    expect(page.get_by_test_id("node-flow-name-check")).to_have_text("runs Fact check v1")
    expect(page.get_by_test_id("child-check/verify")).to_have_attribute("data-status", "running")
    expect(page.get_by_test_id("child-check/verify")).to_have_text("Verify claims")
    expect(page.get_by_test_id("node-flow-progress-check")).to_have_text(
        re.compile(r"^1 / 4 steps")
    )
    # the outer `verify` (a transform) is not the sub-flow's verify: done, its own, never running
    expect(card(page, "verify")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("node-cost-verify")).to_have_count(0)
    # nothing but the flow's four nodes on the canvas: no card for the sub-flow's nodes
    expect(page.locator(".react-flow__node")).to_have_count(4)

    # -- the gate inside waits: the card says so and offers its Decide
    expect(page.get_by_test_id("node-flow-progress-check")).to_have_text(
        "2 / 4 steps · waiting for approval"
    )
    expect(check).to_have_attribute("data-status", "waiting")
    expect(page.get_by_test_id("child-check/gate")).to_have_attribute("data-status", "waiting")
    expect(page.get_by_test_id("node-approval-check")).to_contain_text("Waiting for approval")
    expect(page.get_by_test_id("decide-check")).to_be_visible()
    expect(card(page, "verify")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("run-decide-check/gate")).to_have_text(
        "Decide: Sign off · in sub-flow Check facts"
    )
    # the card counts what the sub-flow's steps cost
    expect(page.get_by_test_id("node-cost-check")).to_have_text("$0.006")

    # -- the inbox (another tab) says where the gate came from
    inbox = page.context.new_page()
    inbox.goto("/approvals")
    row = inbox.get_by_test_id("approval-list").locator(".approval-row")
    expect(row).to_have_count(1)
    expect(row).to_contain_text("Article")
    expect(row).to_contain_text("in sub-flow Check facts")
    inbox.close()

    # -- the sub-flow's steps, listed under its step; each opens like any step
    page.get_by_test_id("node-flow-steps-check").click()
    expect(page.get_by_test_id("step-flow")).to_have_text(
        "Fact check v1 · 2 / 4 steps · waiting for approval"
    )
    expect(page.get_by_test_id("step-flow-subtree")).to_have_text("$0.006 · 25k tok")
    rows = page.get_by_test_id("step-children-list")
    expect(rows.locator(".item-row")).to_have_count(3)  # start, verify, gate so far
    verify = page.get_by_test_id("item-check/verify")
    expect(verify).to_contain_text("Verify claims")
    expect(verify).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("item-output-check/verify")).to_contain_text(VERDICT)
    verify.click()
    detail = page.get_by_test_id("step-detail")
    expect(detail.locator("h3")).to_have_text("Verify claims")
    expect(page.get_by_test_id("step-in-flow")).to_have_text(
        "in sub-flow Check facts (Fact check v1)"
    )
    expect(page.get_by_test_id("step-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("step-output")).to_have_text(VERDICT)
    expect(page.get_by_test_id("step-input")).to_contain_text("Claims about owls")
    expect(detail).to_contain_text("$0.006")
    # back to the sub-flow step, then to its gate: decided from its panel like any gate
    page.get_by_test_id("step-flow-parent").click()
    page.get_by_test_id("item-check/gate").click()
    expect(page.get_by_test_id("step-in-flow")).to_contain_text("in sub-flow Check facts")
    page.get_by_test_id("step-decide").click()
    decision = page.get_by_test_id("decision-dialog")
    # the approval names its node by id (the API sends no label) and where it came from
    expect(decision.locator("h2")).to_have_text("Article — Sign off (in sub-flow Check facts)")
    expect(decision).to_contain_text(f"Publish the verdict: {VERDICT}?")
    decision.get_by_test_id("approve").click()
    expect(decision).to_be_hidden()

    # -- the run finishes: the gate's branch taken, the sub-flow's last step, then the outer one
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(check).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("node-flow-progress-check")).to_have_text("4 / 4 steps")
    expect(card(page, "done")).to_have_attribute("data-status", "succeeded")
    expect(page.get_by_test_id("step-status")).to_contain_text(re.compile("succeeded", re.I))
    page.get_by_test_id("run-tab-output").click()
    expect(page.get_by_test_id("run-final-output")).to_contain_text(VERDICT)
    expect(page.locator(".react-flow__node")).to_have_count(4)

    # the card's figures are the API's subtree of the subflow step; the run's cost is the same
    api = page.request.get(f"/api/runs/{run_id}/").json()
    steps = {s["id"]: s for s in api["steps"]}
    assert steps["check"]["subtree"]["cost"] == pytest.approx(0.006)
    assert steps["check/verify"]["in_flow"] == "check"
    assert steps["check"]["flow"]["name"] == "Fact check"
    expect(page.get_by_test_id("node-cost-check")).to_have_text("$0.006")
    expect(page.get_by_test_id("run-cost")).to_have_text("$0.006")
    # the timeline: the sub-flow's steps under it, by their labels in the sub-flow
    page.get_by_test_id("run-tab-timeline").click()
    expect(page.get_by_test_id("timeline-check")).to_contain_text("Fact check v1")
    expect(page.get_by_test_id("timeline-check/verify")).to_contain_text("↳ Verify claims")
    expect(page.get_by_test_id("timeline-verify")).to_contain_text("Outline")
    assert len(vendor.requests) == 1
    # reloaded, the snapshot says the same
    page.reload()
    expect(page.get_by_test_id("node-flow-progress-check")).to_have_text("4 / 4 steps")
    expect(page.get_by_test_id("node-cost-check")).to_have_text("$0.006")
    expect(page.get_by_test_id("child-check/gate")).to_have_text("Sign off")


# For the re-run: Fact check drafts a verdict and polishes it.
DRAFT_AND_POLISH = {
    "nodes": [
        node("start", "input", "Claims", 0),
        node(
            "draft",
            "worker",
            "Draft verdict",
            260,
            model=MODEL,
            instructions="Draft: {{ upstream }}",
        ),
        node("polish", "worker", "Polish", 520, model=MODEL, instructions="Polish: {{ upstream }}"),
        node("out", "output", "Verdict", 780),
    ],
    "edges": chain("start", "draft", "polish", "out"),
}


def polished(versions: list[str]) -> Any:
    """The draft gets its text; each polish request the next of ``versions``."""

    def respond(request: RecordedRequest) -> Scripted:
        prompt = json.dumps(request.body.get("messages"))
        text = versions.pop(0) if "Polish:" in prompt else "Draft: owls hold."
        return Completion(text, prompt_tokens=20_000, completion_tokens=5_000)

    return respond


def test_rerun_from_a_step_inside_a_sub_flow_reuses_the_steps_before_it(
    app: Page, alice: User, vendor: VendorServer
) -> None:
    page = app
    sub = make_workflow(alice, "Fact check", DRAFT_AND_POLISH)
    main = make_workflow(
        alice,
        "Article",
        {
            "nodes": [
                node("brief", "input", "Brief", 0),
                node("check", "subflow", "Check facts", 260, workflow=str(sub.id), input=""),
                node("done", "output", "Done", 520),
            ],
            "edges": chain("brief", "check", "done"),
        },
    )
    vendor.respond_with(polished(["First polish.", "Second polish."]))
    page.goto(f"/workflows/{main.id}")
    first = run_from_editor(page, "owls")
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("node-flow-progress-check")).to_have_text("4 / 4 steps")
    expect(page.get_by_test_id("run-final-output")).to_contain_text("First polish.")
    assert len(vendor.requests) == 2

    # -- the sub-flow's polish step: Re-run from here
    page.get_by_test_id("node-flow-steps-check").click()
    page.get_by_test_id("item-check/polish").click()
    expect(page.get_by_test_id("step-in-flow")).to_have_text(
        "in sub-flow Check facts (Fact check v1)"
    )
    page.get_by_test_id("step-rerun-from").click()
    dialog = page.get_by_test_id("rerun-dialog")
    expect(dialog).to_contain_text("Re-run from here: Polish")
    # the preview speaks of the run's own flow: the brief reused, the sub-flow step runs again
    expect(dialog.get_by_test_id("rerun-plan-brief")).to_have_attribute("data-verdict", "reuse")
    expect(dialog.get_by_test_id("rerun-plan-check")).to_have_attribute("data-verdict", "execute")
    # the polish answers a moment later, so the new run is seen under way
    vendor.push(
        Delay(1.5, Completion("Second polish.", prompt_tokens=20_000, completion_tokens=5_000))
    )
    with page.expect_request(re.compile(r"/api/runs/[^/]+/steps/check%2Fpolish/rerun/$")) as sent:
        dialog.get_by_test_id("rerun-confirm").click()
    assert sent.value.method == "POST"
    expect(dialog).to_be_hidden()
    expect(page).not_to_have_url(re.compile(rf"/runs/{first}$"))
    second = page.url.rsplit("/", 1)[1]

    # -- the new run: the sub-flow's start and draft reused, its polish running, then done
    expect(page.get_by_test_id("child-check/polish")).to_have_attribute("data-status", "running")
    expect(page.get_by_test_id("child-check/draft")).to_have_attribute("data-status", "reused")
    expect(page.get_by_test_id("child-check/start")).to_have_attribute("data-status", "reused")
    expect(card(page, "brief")).to_have_attribute("data-status", "reused")
    expect(page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
    expect(page.get_by_test_id("run-final-output")).to_contain_text("Second polish.")
    expect(page.get_by_test_id("node-flow-progress-check")).to_have_text("4 / 4 steps")
    # in the sub-flow's list: reused rows, and the reused draft's panel links to where it came from
    page.get_by_test_id("node-flow-steps-check").click()
    expect(page.get_by_test_id("item-check/draft")).to_have_attribute("data-status", "reused")
    expect(page.get_by_test_id("item-check/polish")).to_have_attribute("data-status", "succeeded")
    page.get_by_test_id("item-check/draft").click()
    expect(page.get_by_test_id("step-reused-from")).to_contain_text(
        f"run {first[:8]} · step check/draft"
    )
    expect(page.get_by_test_id("run-source")).to_contain_text(
        f"Re-run of run {first[:8]} from step Polish"
    )
    # only the polish asked the model again; the new run costs only it
    assert len(vendor.requests) == 3
    assert "Polish:" in json.dumps(vendor.requests[-1].body["messages"])
    expect(page.get_by_test_id("run-cost")).to_have_text("$0.006")
    statuses = {s.key: s.status for s in Step.objects.filter(run=Run.objects.get(pk=second))}
    assert statuses == {
        "brief": "reused",
        "check": "succeeded",
        "check/start": "reused",
        "check/draft": "reused",
        "check/polish": "succeeded",
        "check/out": "succeeded",
        "done": "succeeded",
    }
