"""Published versions on the real stack: an MCP client (the official SDK, streamable HTTP to
Daphne) calling a served workflow gets the published version's run and output while a newer
version is saved, and the latest once the workflow is unpublished."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import pytest
from django.contrib.auth.models import User

from editor import operations, publishing
from editor.models import Workflow, Workspace
from orchestrator.models import Run
from tests.orchestrator.conftest import chain, node
from tests.support.stack import CeleryWorker, Daphne
from tests.tools.test_mcp_endpoint import (
    TOPIC_FIELDS,
    brief_writer,
    endpoint,
    mcp_client,
    secret_of,
)

pytestmark = [pytest.mark.stack, pytest.mark.django_db(transaction=True)]


@pytest.fixture(scope="module")
def workers(stack: Any) -> Iterator[CeleryWorker]:
    with stack.worker(concurrency=2) as worker:
        yield worker


def call(url: str, secret: str) -> Any:
    async def session() -> Any:
        async with mcp_client(url, secret) as client:
            listed = await client.list_tools()
            result = await client.call_tool("brief_writer", {"topic": "tides"})
            return listed.tools[0], result

    return asyncio.run(session())


def test_an_mcp_call_runs_the_published_version_and_the_latest_once_unpublished(
    alice: User, alice_workspace: Workspace, stack_daphne: Daphne, workers: CeleryWorker
) -> None:
    flow = brief_writer(alice, alice_workspace)
    publishing.publish_version(flow, user=alice, number=1, name="v1 – short brief")
    # v2 asks for another field and writes another text: callers must not see it yet
    fields = {
        **TOPIC_FIELDS,
        "properties": {**TOPIC_FIELDS["properties"], "tone": {"type": "string"}},
    }
    operations.save_workflow(
        Workflow.objects.get(pk=flow.pk),
        user=alice,
        graph=chain(
            node("in", "input", fields=fields),
            node("write", "transform", template="A {{ input.tone }} brief on {{ input.topic }}."),
            node("out", "output"),
        ),
    )
    url, secret = endpoint(stack_daphne, alice_workspace), secret_of(alice)

    tool, result = call(url, secret)
    assert "tone" not in tool.input_schema["properties"]
    assert result.is_error is False, result.content
    assert [c.text for c in result.content] == ["A brief on tides."]
    assert Run.objects.get(workflow=flow).version.number == 1

    publishing.unpublish(Workflow.objects.get(pk=flow.pk), user=alice)
    tool, result = call(url, secret)
    assert "tone" in tool.input_schema["properties"]
    assert result.is_error is False, result.content
    latest = Run.objects.filter(workflow=flow).order_by("-created_at").first()
    assert latest is not None and latest.version.number == 2
