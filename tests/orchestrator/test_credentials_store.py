"""The run side's credential store: the workspace's rows, decrypted only when a step asks, used by
LLM steps executed the way a worker executes them (the real task body, in this process)."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from editor.credentials import create_credential
from editor.models import Credential, Workspace
from orchestrator import runs
from orchestrator.models import Step
from orchestrator.workspace_secrets import WorkspaceSecrets
from runtime.secrets import SecretNotFound
from tests.orchestrator.conftest import chain, drive, make_workflow, node
from tests.support.vendor_server import VendorServer

# The credential's base URL is the loopback vendor; an operator would admit it the same way.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("loopback_allowed")]

KEY = "sk-store-0123456789abcdef-k3y1"


def add(workspace: Workspace, name: str, value: str, kind: str = "openai", **config: Any) -> None:
    create_credential(
        workspace=workspace, user=None, name=name, kind=kind, value=value, config=config
    )


def test_only_what_is_asked_for_is_decrypted(alice_workspace: Workspace) -> None:
    add(alice_workspace, "good", KEY)
    add(alice_workspace, "broken", "sk-another-value-000000")
    # A value no key opens (say, sealed under a key since dropped) must not stop the others.
    Credential.objects.filter(name="broken").update(ciphertext="gAAAAA-not-a-token")
    store = WorkspaceSecrets(alice_workspace.pk)
    assert store.names_of_kind("openai") == ["broken", "good"]
    assert store.get("good").value == KEY
    with pytest.raises(SecretNotFound, match="'broken' cannot be used"):
        store.get("broken")
    with pytest.raises(SecretNotFound, match="no credential named 'nope'"):
        store.get("nope")
    assert KEY not in repr(store) and KEY not in repr(store.get("good"))


def test_another_workspace_s_credentials_are_not_in_the_store(
    alice_workspace: Workspace, charlie: User
) -> None:
    charlie_workspace = Workspace.objects.get(memberships__user=charlie)
    add(charlie_workspace, "charlies", KEY)
    with pytest.raises(SecretNotFound):
        WorkspaceSecrets(alice_workspace.pk).get("charlies")


def run_worker(user: User, workspace: Workspace, **config: Any) -> Step:
    settings = {"model": "openai/store-test", "stream": False, "retry": {"max_attempts": 1}}
    graph = chain(
        node("in", "input"), node("w", "worker", **settings, **config), node("out", "output")
    )
    workflow = make_workflow(user, workspace, graph)
    run = drive(runs.start_run(workflow, {}, actor=user, via="session"))
    return Step.objects.get(run=run, node_id="w")


def test_a_step_sends_the_named_credential(
    alice: User, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    add(alice_workspace, "main", KEY, base_url=vendor_server.url)
    add(alice_workspace, "other", "sk-other-00000000000", base_url=vendor_server.url)
    step = run_worker(alice, alice_workspace, credential="main")
    assert step.status == "succeeded", step.error
    assert [r.headers["authorization"] for r in vendor_server.requests] == [f"Bearer {KEY}"]


def test_the_workspace_s_only_key_is_used_without_a_setting(
    alice: User, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    add(alice_workspace, "only", KEY, base_url=vendor_server.url)
    add(alice_workspace, "a-token", "not-an-llm-key-000", kind="http_bearer")
    step = run_worker(alice, alice_workspace)
    assert step.status == "succeeded", step.error
    assert [r.headers["authorization"] for r in vendor_server.requests] == [f"Bearer {KEY}"]


def test_a_missing_credential_fails_the_step_clearly(
    alice: User, alice_workspace: Workspace, vendor_server: VendorServer
) -> None:
    add(alice_workspace, "main", KEY, base_url=vendor_server.url)
    step = run_worker(alice, alice_workspace, credential="typo")
    assert step.status == "failed"
    assert step.error["code"] == "node_config_error"
    assert "no credential named 'typo' (it has: main)" in step.error["message"]
    assert vendor_server.requests == []
