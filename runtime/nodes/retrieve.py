"""``retrieve``: search a knowledge base of the workspace and hand on the best chunks, cited.

The query is a template over earlier results (``{{ input.question }}``); the base is named by
name or id. The output is ``{"query", "base", "chunks": [...], "context"}``: each chunk with its
text, score, the reason it ranked and its source (base, document, chunk id, position, page or
row), and ``context``, the chunks numbered ``[1]``, ``[2]``… with their sources, ready to be put
into a worker's instructions with "cite the numbers you use" (``{{ nodes.<id>.output.context }}``).

The store is reached through ``Services.knowledge`` (the server: the run's workspace's bases),
so this module imports no store and no Django. A base that does not exist, or a step with no
knowledge bases at all, fails with a ``node_config_error``; an embedding endpoint that is down
fails as retryable, so the node's retry policy applies.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import Field, field_validator

from runtime.errors import NodeConfigError, TemplateError
from runtime.knowledge.errors import KnowledgeBaseNotFound
from runtime.knowledge.search import MAX_QUERY_CHARS, MAX_TOP_K, SearchRequest
from runtime.knowledge.store import check_filters
from runtime.nodes.base import Complete, NodeConfig, NodeResult, NodeType, StepContext
from runtime.retry import RetryPolicy
from runtime.sandbox import compile_template

FilterValue = str | int | float | bool


class RetrieveConfig(NodeConfig):
    base: str = Field(
        min_length=1,
        max_length=200,
        title="Knowledge base",
        description="The knowledge base to search, by name or id",
        json_schema_extra={"format": "knowledge_base"},
    )
    query: str = Field(
        default="{{ upstream }}",
        min_length=1,
        max_length=10_000,
        title="Query",
        description="What to look for; a template over input, nodes.<id>.output and upstream",
        json_schema_extra={"widget": "template"},
    )
    top_k: int = Field(default=5, ge=1, le=MAX_TOP_K, title="Results")
    mode: Literal["hybrid", "lexical", "vector"] = Field(
        default="hybrid",
        title="Search",
        description="hybrid: words and meaning fused (reciprocal rank); lexical: words only; "
        "vector: meaning only",
    )
    filters: dict[str, FilterValue | list[FilterValue]] = Field(
        default_factory=dict,
        title="Filters",
        description='Metadata a chunk must have, e.g. {"kind": "pdf", "document": '
        '["a.md", "b.md"]}; a list means any of',
    )
    score_threshold: float | None = Field(
        default=None,
        ge=0,
        le=1,
        title="Minimum similarity",
        description="Leave out chunks whose cosine similarity to the query is below this (0–1)",
    )
    retry: RetryPolicy = Field(default_factory=RetryPolicy, title="Retry")

    @field_validator("filters")
    @classmethod
    def _filters(cls, value: dict[str, Any]) -> dict[str, Any]:
        check_filters(value)
        return value


def context_text(chunks: list[dict[str, Any]]) -> str:
    """The chunks as numbered passages with their sources, for a model to read and cite."""
    blocks = []
    for number, chunk in enumerate(chunks, 1):
        source = chunk["source"]
        where = source.get("document") or source.get("document_id")
        if "page" in source:
            where += f", page {source['page']}"
        elif "row" in source:
            where += f", row {source['row']}"
        blocks.append(f"[{number}] ({where})\n{chunk['text']}")
    return "\n\n".join(blocks)


class RetrieveNode(NodeType[RetrieveConfig]):
    type = "retrieve"
    label = "Retrieve"
    category = "ai"
    description = "Searches a knowledge base (words and meaning) and hands on cited chunks."
    config_model = RetrieveConfig
    has_error_handle = True

    def templates(self, config: RetrieveConfig) -> dict[str, str]:
        return {"query": config.query}

    async def run(self, ctx: StepContext, config: RetrieveConfig) -> NodeResult:
        knowledge = ctx.services.knowledge
        if knowledge is None:
            raise NodeConfigError("no knowledge bases are available where this flow runs")
        try:
            query = compile_template(config.query).render(ctx.scope).strip()
        except TemplateError as exc:
            raise TemplateError(f"query: {exc}") from None
        if not query:
            raise NodeConfigError("query: the rendered query is empty")
        try:
            request = SearchRequest(
                query=query[:MAX_QUERY_CHARS],
                top_k=config.top_k,
                mode=config.mode,
                filters=config.filters,
                score_threshold=config.score_threshold,
            )
        except ValueError as exc:
            raise NodeConfigError(str(exc)) from None
        try:
            chunks = await knowledge.search(config.base, request)
        except KnowledgeBaseNotFound as exc:
            raise NodeConfigError(str(exc)) from None
        return Complete(
            {"query": query, "base": config.base, "chunks": chunks, "context": context_text(chunks)}
        )
