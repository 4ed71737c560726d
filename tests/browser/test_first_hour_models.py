"""A new user's first hour, point 1: real models are easy to reach and the default looks
deliberate. A worker set to a model nothing here can call (no provider on the server, no
credential in the workspace) is flagged before the run, with a link to add a key, and Run is off;
the model picker lists what is ready first, marks the local model as a stand-in and says what the
others need; once the workspace has a key of that vendor the flag goes. A run on the local model
answers with a short, labelled placeholder saying what a real model would be asked, not an echo
of the prompt."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Page, expect

from editor import operations
from orchestrator.models import Step
from tests.browser.canvas import card
from tests.browser.session import make_workflow, node

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

# The test stack's server has an OpenAI-compatible provider (the scripted vendor) and no
# Anthropic one: an Anthropic model is what a new user without a key would pick.
CLAUDE = "anthropic/claude-haiku-4-5"
INSTRUCTIONS = (
    "Write three sentences about {{ input.topic }} for a newsletter. " + "Be concise. " * 30
)
FIELDS = {"type": "object", "properties": {"topic": {"type": "string"}}, "required": ["topic"]}


def csrf_post(page: Page, url: str, body: Any) -> Any:
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.post(
        url,
        data=json.dumps(body),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )


def test_a_model_nothing_can_call_is_flagged_and_the_local_one_is_a_clear_stand_in(
    app: Page, alice: User
) -> None:
    page = app
    graph = {
        "nodes": [
            node("brief", "input", 0, "Brief", fields=FIELDS),
            node("writer", "worker", 280, "Writer", model=CLAUDE, instructions=INSTRUCTIONS),
            node("done", "output", 560, "Result"),
        ],
        "edges": [
            {"id": "e1", "source": "brief", "target": "writer"},
            {"id": "e2", "source": "writer", "target": "done"},
        ],
    }
    workflow = make_workflow(alice, "Newsletter", graph)
    page.goto(f"/workflows/{workflow.id}")
    expect(page.locator(".react-flow__node")).to_have_count(3)

    # -- flagged before any run: on the card, and Run is off, saying why
    error = page.get_by_test_id("node-error-writer")
    expect(error).to_contain_text(f"Writer uses {CLAUDE}, but nothing here can call anthropic")
    expect(page.get_by_test_id("run")).to_be_disabled()
    expect(page.get_by_test_id("run-blocked")).to_be_visible()

    # the node's settings say what to do, with a link to add a key
    card(page, "writer").locator(".node-label").click()
    panel = page.get_by_test_id("settings-panel")
    link = panel.get_by_test_id("add-credential-link")
    expect(link).to_have_attribute("href", "/settings/credentials")
    expect(panel.get_by_test_id("field-model-note")).to_contain_text("Not set up here")

    # -- the picker: what is ready first, the local model labelled a stand-in, the rest say why
    options: list[dict[str, str]] = page.evaluate(
        """() => {
            const input = document.querySelector('[data-testid="field-model"]');
            return [...input.list.options].map((o) => ({ value: o.value, label: o.label }));
        }"""
    )
    labels = {o["value"]: o["label"] for o in options}
    assert "Offline stand-in" in labels["local/echo"], labels["local/echo"]
    assert labels["openai/gpt-4o-mini"].startswith("ready"), labels["openai/gpt-4o-mini"]
    assert labels[CLAUDE].startswith("not set up: nothing here can call anthropic"), labels[CLAUDE]
    values = [o["value"] for o in options]
    assert values.index("openai/gpt-4o-mini") < values.index(CLAUDE)

    # -- with an Anthropic key in the workspace, the same model is fine
    workspace = operations.ensure_personal_workspace(alice)
    added = csrf_post(
        page,
        f"/api/workspaces/{workspace.id}/credentials/",
        {"name": "claude", "kind": "anthropic", "value": "sk-ant-not-real-0000"},
    )
    assert added.status == 201, added.text()
    page.reload()
    expect(page.locator(".react-flow__node")).to_have_count(3)
    expect(page.get_by_test_id("node-error-writer")).to_have_count(0)
    expect(page.get_by_test_id("run")).to_be_enabled()

    # -- on the local model a run answers with a deliberate placeholder, not an echo
    card(page, "writer").locator(".node-label").click()
    page.get_by_test_id("settings-panel").get_by_test_id("field-model").fill("local/echo")
    expect(
        page.get_by_test_id("settings-panel").get_by_test_id("field-model-note")
    ).to_contain_text("Offline stand-in")
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_role("button", name="JSON", exact=True).click()
    dialog.get_by_test_id("run-input-json").fill('{"topic": "owls"}')
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(r"/runs/[^/]+$"))
    expect(card(page, "done")).to_have_attribute("data-status", "succeeded")
    final = page.get_by_test_id("run-final-output")
    expect(final).to_contain_text("Placeholder answer")
    expect(final).to_contain_text("Asked: Write three sentences about owls")
    expect(final).to_contain_text("A real model answers here")
    answer = Step.objects.get(run__workflow=workflow, key="writer").output
    assert isinstance(answer, str) and len(answer) < 450, answer
    assert "Be concise. " * 20 not in answer  # the prompt is not echoed back
