"""``knowledge_search``: the tool through which a worker searches the workspace's knowledge
bases itself, and gets passages it can cite.

The built-in registry holds a stand-in that says no knowledge bases are available (the engine
alone has none); :func:`with_knowledge` gives a step's registry the real one, bound to the
step's ``Services.knowledge``, which the server fills with the run's workspace's bases.
"""

from __future__ import annotations

from typing import Any

from runtime.knowledge.errors import KnowledgeBaseNotFound
from runtime.knowledge.search import MAX_TOP_K, SearchRequest
from runtime.knowledge.service import KnowledgeService
from runtime.tools.base import Tool, ToolError, ToolRegistry

NAME = "knowledge_search"
DESCRIPTION = (
    "Search a knowledge base of the workspace for passages that answer a question. Answers the "
    "best passages, each with a cite marker such as [kb:12] and its source document; quote "
    "the markers of the passages you use. Without a base, or with an unknown one, it lists "
    "the bases there are."
)
PARAMETERS: dict[str, Any] = {
    "type": "object",
    "properties": {
        "query": {"type": "string", "minLength": 1, "maxLength": 2000},
        "base": {"type": "string", "description": "the knowledge base's name"},
        "top_k": {"type": "integer", "minimum": 1, "maximum": 20, "default": 5},
    },
    "required": ["query"],
    "additionalProperties": False,
}


def _unavailable(query: str, base: str = "", top_k: int = 5) -> Any:
    raise ToolError("no knowledge bases are available where this flow runs")


STAND_IN = Tool(NAME, DESCRIPTION, PARAMETERS, _unavailable)


def knowledge_tool(knowledge: KnowledgeService) -> Tool:
    async def knowledge_search(query: str, base: str = "", top_k: int = 5) -> dict[str, Any]:
        bases = await knowledge.bases()
        if not bases:
            raise ToolError("the workspace has no knowledge bases")
        if not base:
            if len(bases) > 1:
                names = ", ".join(sorted(info.name for info in bases))
                raise ToolError(f"name the base to search: one of {names}")
            base = bases[0].id
        try:
            request = SearchRequest(query=query, top_k=min(top_k, MAX_TOP_K))
            chunks = await knowledge.search(base, request)
        except KnowledgeBaseNotFound as exc:
            raise ToolError(str(exc)) from None
        except ValueError as exc:
            raise ToolError(str(exc)) from None
        return {
            "results": [
                {
                    "cite": f"[kb:{chunk['source']['chunk_id']}]",
                    "document": chunk["source"].get("document"),
                    **{k: chunk["source"][k] for k in ("page", "row") if k in chunk["source"]},
                    "text": chunk["text"],
                    "similarity": chunk["similarity"],
                }
                for chunk in chunks
            ],
            "sources": [chunk["source"] for chunk in chunks],
        }

    return Tool(NAME, DESCRIPTION, PARAMETERS, knowledge_search)


def with_knowledge(registry: ToolRegistry, knowledge: KnowledgeService | None) -> ToolRegistry:
    """``registry`` with ``knowledge_search`` bound to these knowledge bases (if it offers it)."""
    if knowledge is None or NAME not in registry:
        return registry
    return registry.replacing(knowledge_tool(knowledge))
