"""/knowledge in Chromium: create a base, upload two files at once and watch them ingest on the
worker (one fails, saying why), read the chunks, try a query and see why each chunk ranked; then
a flow (its retrieve node's base picked from a list of the workspace's bases) run on the
workers retrieves from the base, and the citation in the run view's output
is a link that opens the cited chunk.

The browser tests' Daphne and workers (tests/browser/conftest.py) share the stack's SQLite
knowledge store with this process. A second worker of this module's own, with a store of its own,
raced the package's workers for the ingestion tasks: whichever took the document indexed it where
the page could not find it.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, Request, WebSocket, expect

from editor.models import Workspace
from knowledge.models import KnowledgeBase
from orchestrator.models import Run, Step
from tests.browser.session import fresh_page, log_in, make_workflow
from tests.orchestrator.conftest import client_of
from tests.support.stack import CeleryWorker, Daphne, Stack, wait_until
from tests.support.vendor_server import Completion, VendorServer

pytestmark = [pytest.mark.browser, pytest.mark.stack, pytest.mark.django_db(transaction=True)]

HANDBOOK = (
    "# Leave\nEvery employee gets 28 days of paid leave a year; unused days carry over.\n\n"
    "# Expenses\nMeals are refunded up to 40 euros a day with receipts.\n\n"
    "# Security\nReport a lost badge to the front desk at once.\n"
)


@pytest.fixture
def kb_stack(stack: Stack, stack_daphne: Daphne, workers: CeleryWorker) -> tuple[Daphne, str]:
    return stack_daphne, stack.env["KNOWLEDGE_STORE_URL"]


@pytest.fixture
def kb_page(
    browser: Browser, kb_stack: tuple[Daphne, str], alice: User, settings: Any
) -> Iterator[Page]:
    daphne, url = kb_stack
    settings.KNOWLEDGE_STORE_URL = url
    context, page, errors = fresh_page(browser, daphne)
    try:
        log_in(page)
        yield page
        assert not errors, f"uncaught errors in the page: {errors}"
    finally:
        context.close()


def test_upload_watch_search_and_follow_a_citation(
    kb_page: Page,
    kb_stack: tuple[Daphne, str],
    alice: User,
    vendor: VendorServer,
    tmp_path: Path,
) -> None:
    page = kb_page
    page.get_by_test_id("knowledge-link").click()
    expect(page.get_by_role("heading", name="Knowledge", exact=True)).to_be_visible()
    page.get_by_test_id("knowledge-name").fill("Handbook")
    page.get_by_test_id("knowledge-create").click()
    expect(page.get_by_role("heading", name="Handbook")).to_be_visible()

    handbook = tmp_path / "handbook.md"
    handbook.write_text(HANDBOOK)
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    page.get_by_test_id("knowledge-files").set_input_files([str(handbook), str(empty)])

    rows = page.get_by_test_id("knowledge-document")
    expect(rows).to_have_count(2)
    ready = rows.filter(has_text="handbook.md")
    expect(ready).to_have_attribute("data-status", "ready", timeout=60_000)
    expect(ready.get_by_test_id("knowledge-progress")).to_contain_text("chunks")
    failed = rows.filter(has_text="empty.txt")
    expect(failed).to_have_attribute("data-status", "failed")
    expect(failed.get_by_test_id("knowledge-document-error")).to_have_text("empty.txt is empty")

    page.get_by_test_id("knowledge-query").fill("How much is refunded for meals?")
    page.get_by_test_id("knowledge-search").click()
    first = page.get_by_test_id("knowledge-hit").first
    expect(first).to_contain_text("40 euros")
    expect(first.get_by_test_id("knowledge-why")).to_contain_text("similarity")

    # A flow asks the question on the workers; its retrieve step cites the chunk.
    vendor.push(Completion("Up to 40 euros a day [1]."))
    graph = {
        "nodes": [
            {"id": "in", "type": "input", "position": {"x": 0, "y": 0}},
            {
                "id": "find",
                "type": "retrieve",
                "position": {"x": 280, "y": 0},
                "config": {"base": "Handbook", "query": "{{ input.question }}", "top_k": 2},
            },
            {
                "id": "answer",
                "type": "worker",
                "position": {"x": 560, "y": 0},
                "config": {
                    "model": "openai/gpt-4o-mini",
                    "stream": False,
                    "instructions": "Cite the numbers.\n{{ nodes.find.output.context }}",
                },
            },
            {"id": "out", "type": "output", "position": {"x": 840, "y": 0}},
        ],
        "edges": [
            {"id": "e1", "source": "in", "target": "find"},
            {"id": "e2", "source": "find", "target": "answer"},
            {"id": "e3", "source": "answer", "target": "out"},
        ],
    }
    flow = make_workflow(alice, "Ask the handbook", graph)

    # The retrieve node's base is picked from the workspace's bases, the saved name chosen.
    page.goto(f"/workflows/{flow.id}")
    page.get_by_test_id("node-find").locator(".node-label").click()
    picker = page.get_by_test_id("settings-panel").get_by_test_id("field-base")
    expect(picker).to_have_value("Handbook")
    expect(picker.locator("option")).to_have_text(["Choose a knowledge base…", "Handbook"])
    with client_of(alice, kb_stack[0]) as api:
        started = api.post(
            f"/api/workflows/{flow.id}/runs/",
            json={"input": {"question": "How much can I spend on meals?"}},
        )
    assert started.status_code == 201, started.text
    run_id = started.json()["id"]
    wait_until(
        lambda: Run.objects.filter(pk=run_id, status="succeeded").exists(), 60, "the run to finish"
    )
    source = Step.objects.get(run_id=run_id, node_id="find").output["chunks"][0]["source"]
    base = KnowledgeBase.objects.get(name="Handbook")
    assert source["base_id"] == str(base.pk)

    # The run view's output links the citation "[1]" to the chunk it cites: the base's page
    # with the document's chunks open at that one.
    page.goto(f"/workflows/{flow.id}/runs/{run_id}")
    final = page.get_by_test_id("run-final-output")
    expect(final).to_contain_text("Up to 40 euros a day [1].")
    link = final.get_by_test_id("citation-link")
    expect(link).to_have_text("1")
    expect(link).to_have_attribute(
        "href",
        f"/knowledge/{source['base_id']}?document={source['document_id']}"
        f"&chunk={source['chunk_id']}",
    )
    link.click()
    expect(page).to_have_url(re.compile(rf"/knowledge/{source['base_id']}\?document="))
    cited = page.locator(f"#chunk-{source['chunk_id']}")
    expect(cited).to_have_class("knowledge-chunk focused")
    expect(cited).to_contain_text("40 euros")


def test_progress_is_pushed_to_the_page_while_a_document_ingests(
    kb_page: Page,
    kb_stack: tuple[Daphne, str],
    alice: User,
    tmp_path: Path,
) -> None:
    """The worker pushes each document's progress over the base's socket; the page shows it as
    it comes and reads the document list no more while the socket is live (no polling)."""
    page = kb_page
    frames: list[dict[str, Any]] = []

    def watch(socket: WebSocket) -> None:
        if "/ws/knowledge/" in socket.url:
            socket.on("framereceived", lambda payload: frames.append(json.loads(payload)))

    page.on("websocket", watch)
    lists: list[str] = []

    def count(request: Request) -> None:
        if request.method == "GET" and request.url.endswith("/documents/"):
            lists.append(request.url)

    page.on("request", count)
    workspace = Workspace.objects.get(memberships__user=alice)
    # Small chunks: the embedded model takes seconds for a batch of long ones on a loaded machine.
    with client_of(alice, kb_stack[0]) as api:
        made = api.post(
            "/api/knowledge/",
            json={
                "workspace": workspace.pk,
                "name": "Harbour logs",
                "chunk_size": 200,
                "chunk_overlap": 0,
            },
        )
    assert made.status_code == 201, made.text
    page.goto(f"/knowledge/{made.json()['id']}")
    expect(page.get_by_role("heading", name="Harbour logs")).to_be_visible()
    expect(page.get_by_test_id("knowledge-documents")).to_have_attribute("data-live", "pushed")

    log = tmp_path / "harbour.txt"
    log.write_text("\n\n".join(f"Entry {i}: ship {i} docked at pier {i % 7}." for i in range(400)))
    page.get_by_test_id("knowledge-files").set_input_files([str(log)])
    row = page.get_by_test_id("knowledge-document").filter(has_text="harbour.txt")
    # Part of the chunks embedded, as the worker reported it.
    expect(row.get_by_test_id("knowledge-progress")).to_have_text(
        re.compile(r"^[1-9]\d* / \d+ chunks$"), timeout=60_000
    )
    lists_seen = len(lists)
    expect(row).to_have_attribute("data-status", "ready", timeout=120_000)
    expect(row.get_by_test_id("knowledge-progress")).to_have_text(re.compile(r"^\d+ chunks$"))
    assert len(lists) == lists_seen, "the page polled while its socket was live"

    progress = [f["document"] for f in frames if f.get("type") == "document.progress"]
    stages = [p["status"] for p in progress]
    assert stages[0] == "parsing" and stages[-1] == "ready"
    total = progress[-1]["chunks_total"]
    assert any(p["status"] == "embedding" and 0 < p["chunks_done"] < total for p in progress)
    expect(page.get_by_test_id("knowledge-summary")).to_contain_text(f"{total} chunks in")
