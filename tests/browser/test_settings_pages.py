"""The settings pages in the browser, on the real stack: credentials, members and invitations, API
tokens, webhooks and the audit log that records them.

Each test is one person's (or two people's) errand from start to end, through the pages a person
would use, and checks the outcome where it really lands: the scripted vendor for a credential's
key, plain HTTP (httpx, no browser) for tokens and webhook URLs, the database for roles. Each ends
on the owner's audit log, which must list what was just done under the action names the server
records (``credential.created``, ``invitation.created``/``invitation.accepted``,
``member.role_changed``/``member.removed``, ``webhook.created``/``webhook.rotated`` and
``run.started`` via ``webhook``). API tokens are the person's, not a workspace's: their entries
have no workspace and appear on no workspace's audit page.
"""

from __future__ import annotations

import contextlib
import json
import re
import uuid
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Error, Page, Response, WebSocket, expect

from editor import operations
from editor.models import AuditEntry, Membership, Role, Workflow
from orchestrator.models import Run
from tests.browser.session import PASSWORD, log_in_at, make_workflow, other_person
from tests.support.stack import Daphne, wait_until
from tests.support.vendor_server import Completion, VendorServer

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

MODEL = "openai/gpt-4o-mini"


def node(node_id: str, type_: str, x: int, y: int, **config: Any) -> dict[str, Any]:
    return {"id": node_id, "type": type_, "position": {"x": x, "y": y}, "config": config}


def edge(source: str, target: str) -> dict[str, Any]:
    return {"id": f"{source}-{target}", "source": source, "target": target}


# No model call: for the tests about who may do what, not about providers.
PLAIN = {
    "nodes": [
        node("brief", "input", 0, 100),
        node("shout", "transform", 300, 100, template="{{ input.topic }}!"),
        node("result", "output", 600, 100),
    ],
    "edges": [edge("brief", "shout"), edge("shout", "result")],
}

# Stops at a gate nobody decides in the test: a run that stays live for as long as it is watched.
GATED = {
    "nodes": [
        node("brief", "input", 0, 100),
        node("gate", "approval", 300, 100, prompt="Publish {{ input.topic }}?"),
        node("result", "output", 600, 100),
    ],
    "edges": [
        edge("brief", "gate"),
        {"id": "gate-result", "source": "gate", "target": "result", "source_handle": "approved"},
    ],
}

# One model call, with no credential named yet: the test picks it in the settings panel.
ASKING = {
    "nodes": [
        node("brief", "input", 0, 100),
        node(
            "ask",
            "worker",
            300,
            100,
            model=MODEL,
            instructions="One line about {{ input.topic }}.",
            stream=False,
            retry={"max_attempts": 1},
        ),
        node("result", "output", 600, 100),
    ],
    "edges": [edge("brief", "ask"), edge("ask", "result")],
}


# -- helpers -------------------------------------------------------------------------------------


def open_settings(page: Page, section: str) -> None:
    """From the workflow list, as a person would: Models, then the section's tab."""
    page.goto("/")
    page.get_by_test_id("models-link").first.click()
    page.get_by_test_id(f"settings-tab-{section}").click()
    expect(page).to_have_url(re.compile(rf"/settings/{section}(\?|$)"))


def audit_actions(page: Page) -> list[tuple[str, str]]:
    """(action, via) of every row the audit log shows, newest first."""
    open_settings(page, "audit")
    expect(page.get_by_test_id("audit-table")).to_be_visible()
    rows: list[tuple[str, str]] = (
        page.get_by_test_id("audit-table")
        .locator("tbody tr")
        .evaluate_all("(rows) => rows.map((r) => [r.dataset.action, r.dataset.via])")
    )
    return [tuple(row) for row in rows]  # type: ignore[misc]


def csrf_request(page: Page, method: str, url: str, body: dict[str, Any] | None = None) -> Any:
    """A request as the page's signed-in user, with the CSRF token from its cookie (as the app)."""
    token = next(c["value"] for c in page.context.cookies() if c["name"] == "csrftoken")
    return page.request.fetch(
        url,
        method=method,
        data=json.dumps(body or {}),
        headers={"Content-Type": "application/json", "X-CSRFToken": token},
    )


def accept_next_dialog(page: Page) -> None:
    """Say OK to the next window.confirm (delete, remove, rotate ask first)."""
    page.once("dialog", lambda dialog: dialog.accept())


def start_run_in_editor(page: Page, workflow: Workflow) -> str:
    """Run, with an input, from the editor's Run dialog; the run view's id."""
    page.get_by_test_id("run").click()
    dialog = page.get_by_test_id("run-dialog")
    dialog.get_by_test_id("run-input-json").fill(json.dumps({"topic": "owls"}))
    dialog.get_by_test_id("run-submit").click()
    expect(page).to_have_url(re.compile(rf"/workflows/{workflow.pk}/runs/[^/]+$"))
    return page.url.rsplit("/", 1)[1]


def http() -> httpx.Client:
    return httpx.Client(timeout=15, trust_env=False)


# -- (a) credentials -------------------------------------------------------------------------------


def test_a_credential_is_added_shown_by_its_hint_only_and_its_key_is_what_the_run_sends(
    app: Page, alice: User, vendor: VendorServer
) -> None:
    value = f"sk-settings-{uuid.uuid4().hex}"
    workflow = make_workflow(alice, "Keyed flow", ASKING)
    seen: list[str] = []  # every response body and socket frame the page received

    def keep_body(response: Response) -> None:
        with contextlib.suppress(Error):  # a redirect or a dropped response has no body
            seen.append(response.body().decode("utf-8", errors="replace"))

    def keep_frames(socket: WebSocket) -> None:
        socket.on("framereceived", lambda frame: seen.append(str(frame)))

    app.on("response", keep_body)
    app.on("websocket", keep_frames)

    # The credential's own vendor: a second server, so that a call reaching it proves the
    # credential's base URL was used (the stack's default vendor must get nothing).
    with VendorServer() as keyed:
        keyed.push(Completion("Owls hear mice under snow."))

        open_settings(app, "credentials")
        expect(app.get_by_test_id("credentials-empty")).to_be_visible()
        form = app.get_by_test_id("credential-form")
        form.get_by_label("Kind").select_option("openai")
        form.get_by_label("Name").fill("vendor-key")
        form.get_by_label("Value").fill(value)
        form.get_by_label("Base URL").fill(keyed.url)
        form.get_by_test_id("credential-submit").click()

        row = app.get_by_test_id("credential-vendor-key")
        expect(row).to_be_visible()
        expect(app.get_by_test_id("credential-hint-vendor-key")).to_have_text("…" + value[-4:])
        expect(row).to_contain_text(keyed.url)
        expect(form.get_by_label("Value")).to_have_value("")  # not kept in the form either
        assert value not in app.content()

        app.reload()
        expect(app.get_by_test_id("credential-hint-vendor-key")).to_have_text("…" + value[-4:])
        assert value not in app.content()

        # -- the editor: the worker's settings offer it; pick it, save, run
        app.goto(f"/workflows/{workflow.pk}")
        app.get_by_test_id("node-ask").locator(".node-label").click()
        panel = app.get_by_test_id("settings-panel")
        picker = panel.get_by_test_id("field-credential")
        expect(picker.locator("option[value='vendor-key']")).to_have_text(
            f"vendor-key (openai …{value[-4:]})"
        )
        picker.select_option("vendor-key")
        app.get_by_test_id("save").click()
        expect(app.get_by_test_id("unsaved")).to_be_hidden()
        workflow.refresh_from_db()
        saved = workflow.current_version.graph  # type: ignore[union-attr]
        assert next(n for n in saved["nodes"] if n["id"] == "ask")["config"]["credential"] == (
            "vendor-key"
        )

        run_id = start_run_in_editor(app, workflow)
        expect(app.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
        expect(app.get_by_test_id("run-final-output")).to_have_text("Owls hear mice under snow.")

        [call] = keyed.requests
        assert call.path == "/v1/chat/completions"
        assert call.headers["authorization"] == f"Bearer {value}"
        assert vendor.requests == []  # the environment's key and vendor were not used
    assert Run.objects.get(pk=run_id).status == "succeeded"

    # -- the owner's audit log names the credential's creation (never its value)
    assert ("credential.created", "session") in audit_actions(app)
    assert value not in app.content()

    assert seen, "the page received nothing? the recording is broken"
    leaks = [body[:200] for body in seen if value in body]
    assert leaks == [], f"the value came back to the page: {leaks}"


# -- (b) members and invitations -------------------------------------------------------------------


def test_an_invited_runner_joins_runs_cannot_edit_and_loses_access_when_removed(
    app: Page, alice: User, browser: Browser, stack_daphne: Daphne, tmp_path: Path
) -> None:
    workflow = make_workflow(alice, "Shared flow", PLAIN)
    workspace = operations.ensure_personal_workspace(alice)
    bob = User.objects.create_user("bob", "bob@example.org", PASSWORD)
    versions_before = workflow.versions.count()

    # -- Alice invites bob's address as a runner and copies the link, shown once
    app.context.grant_permissions(["clipboard-read", "clipboard-write"])
    open_settings(app, "members")
    expect(app.get_by_test_id("members-my-role")).to_have_text("owner")
    invite = app.get_by_test_id("invite-form")
    invite.get_by_label("Email").fill("bob@example.org")
    invite.get_by_label("Role").select_option("runner")
    invite.get_by_test_id("invite-submit").click()
    made = app.get_by_test_id("invitation-made")
    expect(made).to_contain_text("bob@example.org")
    link = app.get_by_test_id("invitation-link-value").input_value()
    assert re.fullmatch(rf"{re.escape(stack_daphne.url)}/invitations/fbi_\S+", link), link
    app.get_by_test_id("invitation-link-copy").click()
    expect(app.get_by_test_id("invitation-link-copy")).to_have_text("Copied")
    assert app.evaluate("() => navigator.clipboard.readText()") == link
    expect(app.get_by_test_id("invitation-bob@example.org")).to_contain_text("runner")
    # shown once: after a reload the pending invitation is listed, its link is not
    app.reload()
    expect(app.get_by_test_id("invitation-bob@example.org")).to_be_visible()
    expect(app.get_by_test_id("invitation-made")).to_have_count(0)
    assert link.rsplit("/", 1)[1] not in app.content()

    with other_person(browser, stack_daphne, tmp_path / "bob.png") as bob_page:
        # -- Bob opens the link, signs in, joins
        log_in_at(bob_page, "bob", urlsplit(link).path)
        expect(bob_page.get_by_test_id("invitation-accept")).to_be_visible()
        bob_page.get_by_role("button", name=re.compile(r"^Join ")).click()
        expect(bob_page).to_have_url(re.compile(rf"/settings/members\?workspace={workspace.pk}$"))
        expect(bob_page.get_by_test_id("members-my-role")).to_have_text("runner")
        assert Membership.objects.get(user=bob, workspace=workspace).role == Role.RUNNER
        # a runner's settings: people and credentials to look at, nothing to change
        expect(bob_page.get_by_test_id("member-alice")).to_contain_text("owner")
        expect(bob_page.get_by_test_id("member-role-alice")).to_have_count(0)
        expect(bob_page.get_by_test_id("invite-form")).to_have_count(0)
        bob_page.get_by_test_id("settings-tab-credentials").click()
        expect(bob_page.get_by_test_id("credentials-read-only")).to_contain_text("runner")
        expect(bob_page.get_by_test_id("credential-form")).to_have_count(0)
        bob_page.get_by_test_id("settings-tab-audit").click()
        expect(bob_page.get_by_test_id("audit-forbidden")).to_be_visible()
        # the link was for one use
        bob_page.goto(urlsplit(link).path)
        expect(bob_page.get_by_test_id("invitation-problem")).to_contain_text("already been used")

        # -- he sees Alice's workflow, may run it...
        bob_page.goto("/")
        row = bob_page.get_by_test_id(f"workflow-{workflow.pk}")
        expect(row).to_contain_text("Shared flow")
        bob_page.goto(f"/workflows/{workflow.pk}")
        expect(bob_page.get_by_test_id("node-shout")).to_be_visible()
        run_id = start_run_in_editor(bob_page, workflow)
        expect(bob_page.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
        assert Run.objects.get(pk=run_id).created_by == bob

        # ...but not save it: the editor says so and greys Save out, and the server refuses a
        # save all the same (403 naming his role).
        bob_page.get_by_test_id("back-to-editor").click()
        expect(bob_page.get_by_test_id("read-only-banner")).to_contain_text("look and run")
        expect(bob_page.get_by_test_id("save")).to_be_disabled()
        expect(bob_page.get_by_test_id("run")).to_be_enabled()
        graph = {"graph": workflow.current_version.graph}  # type: ignore[union-attr]
        refused = csrf_request(bob_page, "PUT", f"/api/workflows/{workflow.pk}/", graph)
        assert refused.status == 403
        assert "(runner)" in refused.json()["error"]["message"]
        assert workflow.versions.count() == versions_before

        # -- Alice makes him a viewer on the Members page: he may no longer start runs
        app.reload()
        role = app.get_by_test_id("member-role-bob")
        expect(role).to_have_value("runner")
        role.select_option("viewer")
        expect(app.get_by_test_id("toast-success")).to_contain_text("bob is now viewer.")
        assert Membership.objects.get(user=bob, workspace=workspace).role == Role.VIEWER
        as_viewer = csrf_request(
            bob_page, "POST", f"/api/workflows/{workflow.pk}/runs/", {"input": {"topic": "x"}}
        )
        assert as_viewer.status == 403, as_viewer.text()
        assert bob_page.request.get(f"/api/workflows/{workflow.pk}/").status == 200

        # -- a viewer may still watch: he has a run of hers open, live, waiting at its gate
        gated = make_workflow(alice, "Gated flow", GATED)
        waiting = csrf_request(
            app, "POST", f"/api/workflows/{gated.pk}/runs/", {"input": {"topic": "owls"}}
        )
        assert waiting.status == 201, waiting.text()
        bob_page.goto(f"/workflows/{gated.pk}/runs/{waiting.json()['id']}")
        expect(bob_page.get_by_test_id("run-status")).to_have_attribute("data-status", "waiting")
        expect(bob_page.get_by_test_id("run-connection")).to_have_text("Live")

        # -- then she removes him: his open run view is cut off at once (the socket is closed
        # with 4403, which the page takes as final), not left receiving her workspace's events
        accept_next_dialog(app)
        app.get_by_test_id("member-remove-bob").click()
        expect(app.get_by_test_id("member-bob")).to_have_count(0)
        assert not Membership.objects.filter(user=bob, workspace=workspace).exists()
        expect(bob_page.get_by_test_id("run-connection")).to_have_text("Disconnected")

        # -- her workflow is no longer his to see: 404, and the editor says so
        assert bob_page.request.get(f"/api/workflows/{workflow.pk}/").status == 404
        bob_page.goto(f"/workflows/{workflow.pk}")
        expect(bob_page.get_by_text("No such workflow")).to_be_visible()
        bob_page.goto("/")
        expect(bob_page.get_by_test_id(f"workflow-{workflow.pk}")).to_have_count(0)

    actions = audit_actions(app)
    for action in ("invitation.created", "invitation.accepted", "member.role_changed"):
        assert (action, "session") in actions, actions
    assert ("member.removed", "session") in actions, actions
    # newest first: the removal after the role change after the join after the invitation
    order = [a for a, _ in actions]
    assert order.index("member.removed") < order.index("member.role_changed")
    assert order.index("member.role_changed") < order.index("invitation.accepted")
    assert order.index("invitation.accepted") < order.index("invitation.created")


# -- (c) API tokens --------------------------------------------------------------------------------


def test_an_api_token_is_shown_once_works_with_httpx_and_stops_when_deleted(
    app: Page, alice: User, stack_daphne: Daphne
) -> None:
    workflow = make_workflow(alice, "Scripted flow", PLAIN)
    open_settings(app, "tokens")
    expect(app.get_by_test_id("tokens-empty")).to_be_visible()
    form = app.get_by_test_id("token-form")
    form.get_by_label("Name").fill("nightly report")
    form.get_by_label("Expires after").select_option("never")
    form.get_by_test_id("token-submit").click()
    expect(app.get_by_test_id("token-made")).to_be_visible()
    secret = app.get_by_test_id("token-secret-value").input_value()
    assert secret.startswith("fbt_"), secret
    expect(app.get_by_test_id("token-curl")).to_contain_text(f"Authorization: Token {secret}")

    with http() as client:
        listed = client.get(
            f"{stack_daphne.url}/api/workflows/", headers={"Authorization": f"Token {secret}"}
        )
        assert listed.status_code == 200, listed.text
        assert str(workflow.pk) in [w["id"] for w in listed.json()["results"]]

        # shown once: after a reload the token is listed by name and prefix, the secret is gone
        app.reload()
        row = app.get_by_test_id("token-nightly report")
        expect(row).to_be_visible()
        expect(row).to_contain_text(secret[:8])
        assert secret not in app.content()

        accept_next_dialog(app)
        row.get_by_role("button", name="Delete nightly report").click()
        expect(app.get_by_test_id("tokens-empty")).to_be_visible()

        refused = client.get(
            f"{stack_daphne.url}/api/workflows/", headers={"Authorization": f"Token {secret}"}
        )
        assert refused.status_code == 401, refused.text

    # A token is the person's, not a workspace's: its entries are recorded without a workspace,
    # so no workspace's audit page lists them (they are in the table, for the operator).
    recorded = AuditEntry.objects.filter(actor=alice, action__startswith="token.")
    assert sorted(recorded.values_list("action", "workspace")) == [
        ("token.created", None),
        ("token.deleted", None),
    ]


# -- (d) webhooks ----------------------------------------------------------------------------------


def test_a_webhook_url_starts_a_run_seen_in_the_history_and_stops_when_rotated(
    app: Page, alice: User, stack_daphne: Daphne
) -> None:
    workflow = make_workflow(alice, "Hooked flow", PLAIN)
    app.goto("/")
    app.get_by_test_id(f"webhook-{workflow.pk}").click()
    dialog = app.get_by_test_id("webhook-dialog")
    expect(dialog.get_by_test_id("webhook-none")).to_be_visible()
    dialog.get_by_test_id("webhook-create").click()
    expect(dialog.get_by_test_id("webhook-made")).to_be_visible()
    url = dialog.get_by_test_id("webhook-url-value").input_value()
    assert re.fullmatch(rf"{re.escape(stack_daphne.url)}/hooks/whk_\S+/", url), url
    expect(dialog.get_by_test_id("webhook-details")).to_be_visible()

    with http() as client:
        started = client.post(url, json={"topic": "tides"})
        assert started.status_code == 202, started.text
        run_id = started.json()["run"]
        assert started.json()["url"].endswith(f"/api/runs/{run_id}/")

        # -- the run is in the workflow's history, and finishes
        app.keyboard.press("Escape")
        expect(dialog).to_be_hidden()
        app.goto(f"/workflows/{workflow.pk}")
        app.get_by_test_id("runs").click()
        item = app.get_by_test_id(f"run-item-{run_id}")
        expect(item).to_be_visible()
        item.click()
        expect(app).to_have_url(re.compile(rf"/workflows/{workflow.pk}/runs/{run_id}$"))
        expect(app.get_by_test_id("run-status")).to_contain_text(re.compile("succeeded", re.I))
        expect(app.get_by_test_id("run-final-output")).to_have_text("tides!")

        # -- rotate: a new URL, shown once; the old one stops at once
        app.goto("/")
        app.get_by_test_id(f"webhook-{workflow.pk}").click()
        dialog = app.get_by_test_id("webhook-dialog")
        expect(dialog.get_by_test_id("webhook-prefix")).to_be_visible()
        expect(dialog.get_by_test_id("webhook-made")).to_have_count(0)  # not shown again
        accept_next_dialog(app)
        dialog.get_by_test_id("webhook-rotate").click()
        expect(dialog.get_by_test_id("webhook-made")).to_be_visible()
        rotated = dialog.get_by_test_id("webhook-url-value").input_value()
        assert rotated != url
        gone = client.post(url, json={"topic": "again"})
        assert gone.status_code == 404, gone.text
        again = client.post(rotated, json={"topic": "again"})
        assert again.status_code == 202, again.text
        wait_until(
            lambda: Run.objects.filter(pk=again.json()["run"], status="succeeded").exists(),
            30,
            "the rotated URL's run to finish",
        )

    actions = audit_actions(app)
    assert ("webhook.created", "session") in actions, actions
    assert ("webhook.rotated", "session") in actions, actions
    assert [a for a in actions if a == ("run.started", "webhook")] == [
        ("run.started", "webhook")
    ] * 2
