"""What this server and a workspace can call now: the providers the server is configured with
(runtime.services.Services.from_env, as the workers build them) and the workspace's credentials,
for the model picker and for the editor's check of a graph's models (runtime.model_reach)."""

from __future__ import annotations

from typing import Any

from editor.models import Credential, Workspace
from runtime.model_reach import unreachable_models, why_unreachable
from runtime.model_tiers import RoutingPolicy
from runtime.services import Services, routing_policy


def _server() -> tuple[frozenset[str], RoutingPolicy]:
    try:
        services = Services.from_env()
    except ValueError:  # a bad MCP_STDIO_SERVERS stops the workers anyway; say what we know
        services = Services()
    return frozenset(services.providers), routing_policy(services)


def _credentials(workspace: Workspace) -> dict[str, str]:
    return dict(Credential.objects.filter(workspace=workspace).values_list("name", "kind"))


def model_issues(workspace: Workspace, graph: Any) -> list[dict[str, Any]]:
    """The graph's models nothing here can call (issues ``model_unavailable``, as JSON)."""
    providers, routing = _server()
    found = unreachable_models(
        graph, providers=providers, routing=routing, credentials=_credentials(workspace)
    )
    return [issue.to_dict() for issue in found]


def reach_of(workspace: Workspace) -> Any:
    """model id → why nothing here can call it ("" when something can), for catalogue rows."""
    providers, routing = _server()
    credentials = _credentials(workspace)

    def why(model: str) -> str:
        reason = why_unreachable(
            model, providers=providers, routing=routing, credentials=credentials
        )
        return (reason or "").removeprefix("but ").removeprefix("and ")

    return why
