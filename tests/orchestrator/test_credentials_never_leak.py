"""A workspace credential is used by a run on the real stack, and its value is found nowhere else.

Real processes: Daphne serves the API and WebSocket, a Celery worker runs the steps, and the
scripted vendor plays OpenAI. A worker node names the credential: the vendor must receive the key
(proof it was used), and a second worker's vendor answer echoes the key back in an error. Then
every answer the API gives, every WebSocket message, the Event/Step/Run/AuditEntry rows and the
processes' logs are searched for the value.
"""

from __future__ import annotations

import json
import uuid
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User
from django.test import Client

from editor.models import AuditEntry, Credential, Workspace
from orchestrator.models import Event, Run, Step
from tests.orchestrator.conftest import edge, finished, make_workflow, node
from tests.support.stack import CeleryWorker, Daphne, RunSocket
from tests.support.vendor_server import Completion, HTTPError, RecordedRequest, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def api(api: httpx.Client, stack_worker: CeleryWorker) -> httpx.Client:
    """Alice's client (conftest), once the workers are up."""
    return api


def graph() -> dict[str, Any]:
    """input → ok → bad, whose failure goes on by its error edge to out (so the error, too, is
    handed on as data); both workers name the credential."""
    common = {"credential": "vendor-key", "stream": False, "retry": {"max_attempts": 1}}
    return {
        "nodes": [
            node("in", "input"),
            node("ok", "worker", model="openai/leak-ok", instructions="Say hi", **common),
            node("bad", "worker", model="openai/leak-bad", instructions="Say hi", **common),
            node("out", "output"),
        ],
        "edges": [edge("in", "ok"), edge("ok", "bad"), edge("bad", "out", "error")],
    }


def test_a_credential_is_used_by_the_run_and_appears_nowhere_else(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,
    stack_daphne: Daphne,
    stack_worker: CeleryWorker,
) -> None:
    value = f"sk-leakcheck-{uuid.uuid4().hex}"

    def answer(request: RecordedRequest) -> Any:
        if request.model == "leak-bad":
            # A gateway that echoes the rejected key, as some self-hosted ones do.
            return HTTPError(401, message=f"Incorrect API key provided: {value}")
        return Completion("Hi there.")

    vendor.respond_with(answer)
    responses: list[str] = []

    def keep(response: httpx.Response, expected: int = 200) -> Any:
        assert response.status_code == expected, response.text
        responses.append(response.text)
        return response.json() if response.content else None

    credentials = f"/api/workspaces/{alice_workspace.pk}/credentials/"
    keep(
        api.post(
            credentials,
            json={
                "name": "vendor-key",
                "kind": "openai",
                "value": value,
                "config": {"base_url": vendor.url},
            },
        ),
        201,
    )
    workflow = make_workflow(alice, alice_workspace, graph(), name="Leak check")
    run_id = keep(api.post(f"/api/workflows/{workflow.id}/runs/", json={"input": {}}), 201)["id"]
    run = finished(run_id, what="the run to finish")

    # Used: the vendor got the key from the credential (the stack's environment key is "test").
    sent = {r.model: r.headers.get("authorization") for r in vendor.requests}
    assert sent == {"leak-ok": f"Bearer {value}", "leak-bad": f"Bearer {value}"}
    assert run.status == "succeeded", run.error
    steps = {s.node_id: s for s in Step.objects.filter(run_id=run_id)}
    assert steps["ok"].status == "succeeded" and steps["ok"].output == "Hi there."
    assert steps["bad"].status == "failed"
    assert "[redacted]" in steps["bad"].error["message"]  # the echo was there, and was removed
    assert "[redacted]" in json.dumps(run.output)  # handed on along the error edge

    # Every answer the API gives about it.
    keep(api.get(credentials))
    keep(api.get(f"{credentials}vendor-key/"))
    keep(api.get(f"/api/workflows/{workflow.id}/"))
    keep(api.get(f"/api/workflows/{workflow.id}/export/"))
    keep(api.get("/api/runs/"))
    keep(api.get(f"/api/runs/{run_id}/"))
    keep(api.get(f"/api/runs/{run_id}/events/"))
    keep(api.patch(f"{credentials}vendor-key/", json={"name": "vendor-key-2"}))
    keep(api.put(f"{credentials}vendor-key-2/", json={"value": value + "-new"}))
    keep(api.delete(f"{credentials}vendor-key-2/"), 204)
    audit = keep(api.get(f"/api/workspaces/{alice_workspace.pk}/audit/"))
    assert "credential.deleted" in json.dumps(audit)  # the log saw every change, without values

    # The live channel, replayed from the start.
    client = Client()
    client.force_login(alice)
    with RunSocket(stack_daphne, run_id, after=0, session=client.cookies["sessionid"].value) as ws:
        ws.read_until_type("run.succeeded", timeout=10)
        ws.read_quiet(0.3, timeout=3)
        responses.append(json.dumps(ws.messages))

    rows = {
        "events": list(Event.objects.filter(run_id=run_id).values()),
        "steps": list(Step.objects.filter(run_id=run_id).values()),
        "runs": list(Run.objects.filter(pk=run_id).values()),
        "audit": list(AuditEntry.objects.values()),
    }
    assert any(e["action"] == "credential.created" for e in rows["audit"])
    logs = stack_worker.log_path.read_text(errors="replace") + stack_daphne.log_path.read_text(
        errors="replace"
    )
    places = {
        "api": "\n".join(responses),
        "db": json.dumps(rows, default=str),
        "logs": logs,
    }
    leaked = [where for where, text in places.items() if value in text]
    assert leaked == [], f"the credential's value appears in: {leaked}"


def test_the_database_holds_no_plaintext(alice_client: Any, alice_workspace: Workspace) -> None:
    value = f"sk-atrest-{uuid.uuid4().hex}"
    response = alice_client.post(
        f"/api/workspaces/{alice_workspace.pk}/credentials/",
        {"name": "at-rest", "kind": "openai", "value": value},
        format="json",
    )
    assert response.status_code == 201
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT * FROM editor_credential")
        # ensure_ascii=False: escaped, the hint's "…" reads "\u2026", and a value whose tail
        # was "2026" + its last four characters was found "in" it (CI met one).
        stored = json.dumps(cursor.fetchall(), default=str, ensure_ascii=False)
    assert "at-rest" in stored  # the row is there
    assert value not in stored
    assert value[-8:] not in stored  # not even a long tail of it (the hint has four characters)
    assert Credential.objects.get(name="at-rest").hint == "…" + value[-4:]
