"""/api/knowledge/: bases, uploads with limits, ingestion with per-document errors, chunks,
search with its explanation, deletion that leaves nothing, re-index; on both stores.

Ingestion runs here as a worker runs it (``knowledge.ingestion.ingest_document``); the stack
test runs it on real Celery workers.
"""

from __future__ import annotations

import io
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import connection
from rest_framework.test import APIClient

from editor.models import Workspace
from knowledge import stores
from knowledge.ingestion import ingest_document
from knowledge.models import Document, DocumentFile
from tests.knowledge.documents import pdf
from tests.knowledge.embedding_server import EmbeddingServer

pytestmark = pytest.mark.django_db(transaction=True)

HANDBOOK = (
    "# Leave\nEvery employee gets 28 days of paid leave a year.\n\n"
    "# Expenses\nMeals are refunded up to 40 euros a day with receipts.\n\n"
    "# Security\nReport a lost badge to the front desk at once.\n"
)


@pytest.fixture(autouse=True)
def knowledge_store(store_url: str, settings: Any) -> Iterator[str]:
    settings.KNOWLEDGE_STORE_URL = store_url
    yield store_url
    stores.close_all()


def files(*items: tuple[str, bytes]) -> dict[str, Any]:
    return {"files": [_named(name, data) for name, data in items]}


def _named(name: str, data: bytes) -> io.BytesIO:
    handle = io.BytesIO(data)
    handle.name = name
    return handle


def make_base(client: APIClient, workspace: Workspace, **extra: Any) -> dict[str, Any]:
    body = {"workspace": workspace.pk, "name": "Handbook", "chunk_size": 200, "chunk_overlap": 0}
    answer = client.post("/api/knowledge/", {**body, **extra}, format="json")
    assert answer.status_code == 201, answer.json()
    return dict(answer.json())


def upload(client: APIClient, base: dict[str, Any], *items: tuple[str, bytes], **extra: Any) -> Any:
    return client.post(
        f"/api/knowledge/{base['id']}/documents/", {**files(*items), **extra}, format="multipart"
    )


@pytest.fixture
def three_quick_tries(settings: Any) -> None:
    """A batch whose embedding fails is tried three times, 0.05 s apart at first."""
    settings.KNOWLEDGE_EMBED_ATTEMPTS, settings.KNOWLEDGE_EMBED_RETRY_SECONDS = 3, 0.05


# 300 short paragraphs: ten batches of 32 chunks at a chunk size of 100.
SHIPS = "\n\n".join(f"Paragraph {i}: ship {i} docked at pier {i % 5}." for i in range(300))
OPENAI = {"embedding_model": "openai/e5-small", "embedding_credential": "embeddings"}


def ships(
    client: APIClient, workspace: Workspace, server: EmbeddingServer
) -> tuple[dict[str, Any], dict[str, Any]]:
    """A base (chunk size 100) embedding with ``server`` through the workspace's "embeddings"
    credential, and SHIPS uploaded to it (not ingested yet)."""
    credential = {
        "name": "embeddings",
        "kind": "openai",
        "value": "sk-embed",
        "config": {"base_url": server.base_url},
    }
    made = client.post(f"/api/workspaces/{workspace.pk}/credentials/", credential, format="json")
    assert made.status_code == 201, made.json()
    base = make_base(client, workspace, chunk_size=100, **OPENAI)
    return base, upload(client, base, ("log.txt", SHIPS.encode())).json()[0]


@contextmanager
def held_ingestion(document_id: str, server: EmbeddingServer, held_at: int) -> Iterator[list[str]]:
    """The document ingested on a thread of its own (as a worker ingests it) while the block
    runs, from when ``server`` holds its request number ``held_at``; the list the block gets
    holds the ingestion's outcome once the block is over (the request let go)."""
    server.hold_at = held_at
    outcome: list[str] = []

    def ingestion() -> None:
        try:
            outcome.append(ingest_document(document_id))
        finally:
            connection.close()

    worker = threading.Thread(target=ingestion)
    worker.start()
    try:
        deadline = time.monotonic() + 60
        while len(server.requests) < held_at and time.monotonic() < deadline:
            time.sleep(0.05)
        yield outcome
    finally:
        server.release()
        worker.join(timeout=120)


def ingest_all(base: dict[str, Any]) -> dict[str, Document]:
    for document_id in Document.objects.filter(base_id=base["id"]).values_list("pk", flat=True):
        ingest_document(str(document_id))
    return {d.name: d for d in Document.objects.filter(base_id=base["id"])}


def test_it_ingests_several_documents_and_says_how_each_went(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    base = make_base(alice_client, alice_workspace)
    answer = upload(
        alice_client,
        base,
        ("handbook.md", HANDBOOK.encode()),
        ("tides.pdf", pdf(["Tidal turbines turn the sea into power."])),
        ("broken.pdf", b"%PDF-1.4 broken"),
        ("empty.txt", b""),
        ("photo.txt", b"\x89PNG\r\n\x1a\n" + bytes(200)),
    )
    assert answer.status_code == 201, answer.json()
    assert {d["status"] for d in answer.json()} == {"queued"}

    done = ingest_all(base)
    assert done["handbook.md"].status == "ready" and done["handbook.md"].chunks_total >= 1
    assert done["tides.pdf"].status == "ready" and done["tides.pdf"].kind == "pdf"
    assert (done["broken.pdf"].status, done["broken.pdf"].error_code) in {
        ("failed", "corrupt_pdf"),
        ("failed", "no_text"),
    }
    assert (done["empty.txt"].status, done["empty.txt"].error_code) == ("failed", "empty_document")
    assert done["photo.txt"].error_code == "binary_content"
    assert "PNG" in done["photo.txt"].error_message

    listed = alice_client.get(f"/api/knowledge/{base['id']}/documents/").json()
    by_name = {d["name"]: d for d in listed}
    assert by_name["empty.txt"]["error_message"] == "empty.txt is empty"
    assert by_name["handbook.md"]["chunks_done"] == by_name["handbook.md"]["chunks_total"]
    # The base stays usable: search answers from the documents that made it.
    hits = alice_client.post(
        f"/api/knowledge/{base['id']}/search/", {"query": "lost badge"}, format="json"
    ).json()
    assert "lost badge" in hits[0]["text"] and hits[0]["document"] == "handbook.md"
    assert hits[0]["why"] and hits[0]["lexical_rank"] is not None


def test_search_explains_each_rank_and_takes_filters(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    base = make_base(alice_client, alice_workspace)
    upload(alice_client, base, ("handbook.md", HANDBOOK.encode()), metadata='{"team": "hr"}')
    upload(alice_client, base, ("notes.txt", b"Badges are printed by the security team."))
    ingest_all(base)
    url = f"/api/knowledge/{base['id']}/search/"
    hits = alice_client.post(url, {"query": "badge", "top_k": 5}, format="json").json()
    assert len(hits) == 2
    for hit in hits:
        assert hit["similarity"] is not None and hit["vector_rank"] is not None
        assert hit["lexical_rank"] is not None
    only_hr = alice_client.post(
        url, {"query": "badge", "filters": {"team": "hr"}}, format="json"
    ).json()
    assert [h["document"] for h in only_hr] == ["handbook.md"]
    lexical = alice_client.post(url, {"query": "badge", "mode": "lexical"}, format="json").json()
    assert all(h["similarity"] is None for h in lexical)
    refused = alice_client.post(
        url, {"query": "badge", "mode": "lexical", "score_threshold": 0.5}, format="json"
    )
    assert refused.status_code == 400


def test_chunks_of_a_document_page_in_order(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    base = make_base(alice_client, alice_workspace, chunk_size=100)
    document = upload(alice_client, base, ("handbook.md", HANDBOOK.encode())).json()[0]
    ingest_all(base)
    url = f"/api/knowledge/{base['id']}/documents/{document['id']}/chunks/"
    chunks = alice_client.get(url + "?limit=2").json()
    assert [c["position"] for c in chunks] == [0, 1]
    assert chunks[0]["meta"]["heading"] == "Leave"
    assert alice_client.get(url + "?limit=0").status_code == 400


def test_a_cited_chunk_id_leads_to_its_base_and_document_for_members_only(
    alice_client: APIClient, alice_workspace: Workspace, charlie_client: APIClient
) -> None:
    base = make_base(alice_client, alice_workspace, chunk_size=100)
    document = upload(alice_client, base, ("handbook.md", HANDBOOK.encode())).json()[0]
    ingest_all(base)
    url = f"/api/knowledge/{base['id']}/documents/{document['id']}/chunks/"
    second = alice_client.get(url + "?limit=2").json()[1]
    lookup = f"/api/knowledge/chunks/{second['id']}/"
    cited = alice_client.get(lookup)
    assert cited.status_code == 200, cited.json()
    assert cited.json() == {
        "chunk_id": second["id"],
        "base_id": base["id"],
        "document_id": document["id"],
        "document": "handbook.md",
        "position": 1,
    }
    scoped = alice_client.get(f"{lookup}?workspace={alice_workspace.pk}")
    assert scoped.json()["document_id"] == document["id"]
    # another workspace's member, another workspace, or no such chunk: 404, nothing said
    assert charlie_client.get(lookup).status_code == 404
    other = alice_client.get(f"{lookup}?workspace={alice_workspace.pk + 999}")
    assert other.status_code == 404
    assert alice_client.get("/api/knowledge/chunks/987654321/").status_code == 404
    assert alice_client.get(f"{lookup}?workspace=x").status_code == 400


def test_deleting_a_document_or_a_base_leaves_nothing(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    base = make_base(alice_client, alice_workspace)
    first, second = upload(
        alice_client, base, ("a.md", HANDBOOK.encode()), ("b.txt", b"Second document text.")
    ).json()
    ingest_all(base)
    store = stores.store()
    assert store.leftovers(base["id"])["vectors"] > 0
    gone = alice_client.delete(f"/api/knowledge/{base['id']}/documents/{first['id']}/")
    assert gone.status_code == 204
    assert store.count(base["id"], first["id"]) == 0
    assert not DocumentFile.objects.filter(document_id=first["id"]).exists()
    assert store.count(base["id"]) == store.count(base["id"], second["id"]) > 0
    assert alice_client.delete(f"/api/knowledge/{base['id']}/").status_code == 204
    assert store.leftovers(base["id"]) == {"chunks": 0, "fulltext": 0, "vectors": 0, "claims": 0}
    assert not Document.objects.filter(base_id=base["id"]).exists()


def test_a_document_deleted_while_ingesting_leaves_nothing(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    base = make_base(alice_client, alice_workspace)
    text = "\n\n".join(f"Paragraph {i} about harbour logs." for i in range(60)).encode()
    document = upload(alice_client, base, ("long.txt", text)).json()[0]
    # The row goes between two progress reports of the worker (as a user's delete would).
    Document.objects.filter(pk=document["id"]).update(status="embedding")
    Document.objects.filter(pk=document["id"]).delete()
    assert ingest_document(document["id"]) == "skipped"
    assert stores.store().leftovers(base["id"]) == {
        "chunks": 0,
        "fulltext": 0,
        "vectors": 0,
        "claims": 0,
    }


def test_an_endpoint_failing_halfway_fails_the_document_and_a_retry_resumes(
    alice_client: APIClient,
    alice_workspace: Workspace,
    embedding_server: EmbeddingServer,
    three_quick_tries: None,
) -> None:
    base, document = ships(alice_client, alice_workspace, embedding_server)
    embedding_server.fail_from = 3  # two batches of 32 go through, then 503s
    ingest_all(base)
    failed = Document.objects.get(pk=document["id"])
    assert (failed.status, failed.error_retryable) == ("failed", True)
    assert "503" in failed.error_message
    assert len(embedding_server.requests) == 2 + 3  # the third batch tried three times
    stored = stores.store().count(base["id"], document["id"])
    assert stored == 64
    assert embedding_server.requests[0].headers["Authorization"] == "Bearer sk-embed"

    embedding_server.fail_from = None
    retry = alice_client.post(f"/api/knowledge/{base['id']}/documents/{document['id']}/retry/")
    assert retry.status_code == 202 and retry.json()["status"] == "queued"
    ingest_all(base)
    done = Document.objects.get(pk=document["id"])
    assert done.status == "ready" and done.attempts == 2
    assert stores.store().count(base["id"], document["id"]) == done.chunks_total
    assert stores.store().leftovers(base["id"])["vectors"] == done.chunks_total
    assert alice_client.get(f"/api/knowledge/{base['id']}/").json()["dimensions"] == 384


def test_a_document_waiting_to_try_a_batch_again_says_why_and_when(
    alice_client: APIClient,
    alice_workspace: Workspace,
    embedding_server: EmbeddingServer,
    three_quick_tries: None,
) -> None:
    base, document = ships(alice_client, alice_workspace, embedding_server)
    # The third batch's first try gets a 503; its second try is held until the test has looked.
    embedding_server.fail_from, embedding_server.fail_count = 3, 1
    with held_ingestion(document["id"], embedding_server, held_at=4) as outcome:
        shown = alice_client.get(f"/api/knowledge/{base['id']}/documents/").json()
        [waiting] = shown["results"] if isinstance(shown, dict) else shown
        assert (waiting["status"], waiting["chunks_done"]) == ("embedding", 64)
        assert "503" in waiting["error_message"]
        assert waiting["error_message"].endswith("trying again in 0.05 s (try 2 of 3)")
    assert outcome == ["ready"]
    done = Document.objects.get(pk=document["id"])
    assert (done.status, done.error_message) == ("ready", "")


def test_a_reindex_while_the_document_ingests_leaves_no_old_chunk(
    alice_client: APIClient,
    alice_workspace: Workspace,
    embedding_server: EmbeddingServer,
) -> None:
    """The first ingestion is held at its third batch by the endpoint; the base's chunking
    changes (a re-index) and the document is ingested again; then the first one goes on, on
    its worker thread, and must store nothing: the store holds what a clean ingestion with the
    new chunking holds, once."""
    base, document = ships(alice_client, alice_workspace, embedding_server)
    # two batches of 32 stored, the third waits
    with held_ingestion(document["id"], embedding_server, held_at=3) as outcome:
        assert stores.store().count(base["id"], document["id"]) == 64
        changed = alice_client.patch(
            f"/api/knowledge/{base['id']}/", {"chunk_size": 300}, format="json"
        )
        assert changed.status_code == 200, changed.json()
        assert ingest_document(document["id"]) == "ready"
    assert outcome == ["superseded"]

    reference = make_base(alice_client, alice_workspace, name="Reference", chunk_size=300, **OPENAI)
    upload(alice_client, reference, ("log.txt", SHIPS.encode()))
    clean = ingest_all(reference)["log.txt"]
    assert clean.status == "ready", clean.error_message
    done = Document.objects.get(pk=document["id"])
    assert (done.status, done.generation) == ("ready", 2)
    store = stores.store()
    hashes = store.chunk_hashes(base["id"], document["id"])
    [reference_id] = [str(d.pk) for d in Document.objects.filter(base_id=reference["id"])]
    assert hashes == store.chunk_hashes(reference["id"], reference_id)
    assert store.leftovers(base["id"]) == {
        "chunks": done.chunks_total,
        "fulltext": done.chunks_total,
        "vectors": done.chunks_total,
        "claims": 1,
    }


def test_reindex_with_new_chunking_replaces_every_chunk(
    alice_client: APIClient, alice_workspace: Workspace
) -> None:
    base = make_base(alice_client, alice_workspace)
    text = "\n\n".join(f"Paragraph {i} about harbour logs and ships." for i in range(30))
    upload(alice_client, base, ("log.txt", text.encode()))
    before = ingest_all(base)["log.txt"].chunks_total
    changed = alice_client.patch(
        f"/api/knowledge/{base['id']}/", {"chunk_size": 1000, "chunk_overlap": 100}, format="json"
    )
    assert changed.status_code == 200
    after = ingest_all(base)["log.txt"]
    assert after.status == "ready" and after.chunks_total < before
    assert stores.store().leftovers(base["id"])["vectors"] == after.chunks_total


def test_uploads_have_limits(
    alice_client: APIClient, alice_workspace: Workspace, settings: Any
) -> None:
    base = make_base(alice_client, alice_workspace)
    settings.KNOWLEDGE_MAX_DOCUMENT_BYTES = 1000
    too_big = upload(alice_client, base, ("big.txt", b"x" * 1001), ("ok.txt", b"fine"))
    assert too_big.status_code == 413
    assert too_big.json()["error"]["code"] == "document_too_large"
    assert not Document.objects.filter(base_id=base["id"]).exists()  # nothing of it is kept
    assert upload(alice_client, base).status_code == 400
    # A 500 MB upload is refused by its Content-Length before anything reads it.
    huge = alice_client.post(
        f"/api/knowledge/{base['id']}/documents/",
        data=b"",
        content_type="multipart/form-data; boundary=x",
        CONTENT_LENGTH=str(500 * 1024 * 1024),
    )
    assert huge.status_code == 413
    assert huge.json()["error"]["code"] == "request_too_large"


def test_roles_and_workspaces_are_checked(
    alice_client: APIClient,
    alice_workspace: Workspace,
    bob: User,
    bob_client: APIClient,
    charlie_client: APIClient,
) -> None:
    base = make_base(alice_client, alice_workspace)
    assert charlie_client.get(f"/api/knowledge/{base['id']}/").status_code == 404
    assert charlie_client.get("/api/knowledge/").json() == []
    assert upload(charlie_client, base, ("a.txt", b"hi")).status_code == 404
    # bob edits in alice's workspace; a viewer may look and search but not upload.
    assert upload(bob_client, base, ("a.txt", b"hi")).status_code == 201
    alice_workspace.memberships.filter(user=bob).update(role="viewer")
    assert upload(bob_client, base, ("b.txt", b"hi")).status_code == 403
    search = bob_client.post(f"/api/knowledge/{base['id']}/search/", {"query": "hi"}, format="json")
    assert search.status_code == 200
    dup = alice_client.post(
        "/api/knowledge/", {"workspace": alice_workspace.pk, "name": "Handbook"}, format="json"
    )
    assert dup.status_code == 409
