"""On real processes: Daphne takes the upload, a Celery worker ingests it with the embedded
model, and a flow run on the workers retrieves from the base and answers citing the chunks.

The workers and Daphne share one knowledge store with this process (an SQLite file here; the
API tests run the same operations on pgvector too). The model is the stack's scripted vendor.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from django.contrib.auth.models import User

from editor.models import Workspace
from knowledge import stores
from orchestrator.models import Step
from tests.orchestrator.conftest import (
    chain,
    client_of,
    finished,
    make_workflow,
    node,
    start_run,
)
from tests.support.stack import (  # noqa: F401  (fixtures, registered by being imported here)
    CeleryWorker,
    Daphne,
    Stack,
    stack,
    stack_database_url,
    stack_vendor,
    vendor,
    wait_until,
)
from tests.support.vendor_server import Completion, VendorServer

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]

HANDBOOK = (
    "# Leave\nEvery employee gets 28 days of paid leave a year; unused days carry over.\n\n"
    "# Expenses\nMeals are refunded up to 40 euros a day with receipts.\n\n"
    "# Security\nReport a lost badge to the front desk at once.\n"
)

# The worker of these tests runs two pool processes (tests/knowledge/conftest.py, kb_processes).
KB_WORKER_CONCURRENCY = 2


@pytest.fixture
def api(
    alice: User, kb_processes: tuple[Daphne, CeleryWorker], shared_store: str, settings: Any
) -> Iterator[httpx.Client]:
    settings.KNOWLEDGE_STORE_URL = shared_store
    with client_of(alice, kb_processes[0]) as client:
        yield client
    stores.close_all()


def test_a_flow_on_the_workers_retrieves_and_cites(
    api: httpx.Client,
    alice: User,
    alice_workspace: Workspace,
    vendor: VendorServer,  # noqa: F811
    tmp_path: Path,
) -> None:
    made = api.post(
        "/api/knowledge/",
        json={
            "workspace": alice_workspace.pk,
            "name": "Handbook",
            "chunk_size": 100,
            "chunk_overlap": 0,
        },
    )
    assert made.status_code == 201, made.text
    base = made.json()
    uploaded = api.post(
        f"/api/knowledge/{base['id']}/documents/",
        files=[("files", ("handbook.md", HANDBOOK.encode(), "text/markdown"))],
    )
    assert uploaded.status_code == 201, uploaded.text
    document_id = uploaded.json()[0]["id"]

    def ready() -> dict[str, Any] | None:
        found = api.get(f"/api/knowledge/{base['id']}/documents/{document_id}/").json()
        assert found["status"] != "failed", found
        return found if found["status"] == "ready" else None

    document = wait_until(ready, 60, "the worker to ingest the document")
    assert document["chunks_total"] >= 3

    vendor.push(Completion("Meals are refunded up to 40 euros a day [1]."))
    graph = chain(
        node("in", "input"),
        node("find", "retrieve", base="Handbook", query="{{ input.question }}", top_k=2),
        node(
            "answer",
            "worker",
            model="openai/gpt-4o-mini",
            stream=False,
            instructions="Answer {{ input.question }} from these passages, citing their "
            "numbers:\n{{ nodes.find.output.context }}",
        ),
        node("out", "output"),
    )
    flow = make_workflow(alice, alice_workspace, graph)
    run = finished(start_run(api, flow, {"question": "How much can I spend on meals?"}), 60)
    assert run.status == "succeeded", run.error

    found = Step.objects.get(run=run, node_id="find").output
    top = found["chunks"][0]
    assert "40 euros" in top["text"]
    assert top["source"]["document_id"] == document_id
    assert top["source"]["base_id"] == base["id"]
    # The chunk the answer cites is the one the source names, in the store.
    chunk = stores.store().fetch(base["id"], [top["source"]["chunk_id"]])[top["source"]["chunk_id"]]
    assert chunk.text == top["text"]
    prompt = vendor.requests[-1].body["messages"][-1]["content"]
    assert "[1] (handbook.md)" in prompt and "40 euros" in prompt
    assert Step.objects.get(run=run, node_id="answer").output.endswith("[1].")
