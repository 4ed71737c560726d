"""The editor's routes under ``/api/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from editor.audit_views import AuditLogView
from editor.credentials_api import (
    CredentialDetailView,
    CredentialListView,
    CredentialTestView,
)
from editor.invitations import AcceptView, InvitationDetailView, InvitationListView
from editor.mcp_api import McpEndpointView, McpExposureView
from editor.members import MemberDetailView, MemberListView, TeamWorkspaceViewSet
from editor.pins import PinsView
from editor.tokens import TokenDetailView, TokenListView
from editor.tools_api import (
    HttpToolDetailView,
    HttpToolListView,
    McpServerDetailView,
    McpServerListView,
    McpServerRefreshView,
    ToolCatalogueView,
)
from editor.views import (
    ExampleImportView,
    ExampleListView,
    ModelCatalogueView,
    ModelResetView,
    NodeTypeListView,
    WorkflowViewSet,
)
from editor.webhooks import WebhookView

# SimpleRouter, not DefaultRouter: /api/ is shared with the run side's routes, so no root view.
router = SimpleRouter()
router.register("workflows", WorkflowViewSet, basename="workflow")
# Lists, creates and renames (editor.members extends the read-only WorkspaceViewSet).
router.register("workspaces", TeamWorkspaceViewSet, basename="workspace")

urlpatterns = [
    path("workflows/<uuid:workflow_id>/pins/", PinsView.as_view(), name="workflow-pins"),
    path("node-types/", NodeTypeListView.as_view(), name="node-types"),
    path("examples/", ExampleListView.as_view(), name="examples"),
    path("models/", ModelCatalogueView.as_view(), name="models"),
    path("models/reset/", ModelResetView.as_view(), name="models-reset"),
    # Any segment reaches the view, which answers 404 for names that are not a safe slug.
    path("examples/<str:name>/import/", ExampleImportView.as_view(), name="example-import"),
    path(
        "workspaces/<int:workspace_id>/credentials/",
        CredentialListView.as_view(),
        name="credentials",
    ),
    path(
        "workspaces/<int:workspace_id>/credentials/<str:name>/",
        CredentialDetailView.as_view(),
        name="credential",
    ),
    path(
        "workspaces/<int:workspace_id>/credentials/<str:name>/test/",
        CredentialTestView.as_view(),
        name="credential-test",
    ),
    # Members, invitations, personal API tokens, webhook triggers (issue 6).
    path("workspaces/<int:workspace_id>/members/", MemberListView.as_view(), name="members"),
    path(
        "workspaces/<int:workspace_id>/members/<int:user_id>/",
        MemberDetailView.as_view(),
        name="member",
    ),
    path(
        "workspaces/<int:workspace_id>/invitations/",
        InvitationListView.as_view(),
        name="invitations",
    ),
    path(
        "workspaces/<int:workspace_id>/invitations/<uuid:invitation_id>/",
        InvitationDetailView.as_view(),
        name="invitation",
    ),
    path("workspaces/<int:workspace_id>/audit/", AuditLogView.as_view(), name="audit-log"),
    # Agents' tools: MCP servers, HTTP tools, and the picker's catalogue of everything.
    path("workspaces/<int:workspace_id>/tools/", ToolCatalogueView.as_view(), name="tools"),
    path(
        "workspaces/<int:workspace_id>/mcp-servers/",
        McpServerListView.as_view(),
        name="mcp-servers",
    ),
    path(
        "workspaces/<int:workspace_id>/mcp-servers/<str:name>/",
        McpServerDetailView.as_view(),
        name="mcp-server",
    ),
    path(
        "workspaces/<int:workspace_id>/mcp-servers/<str:name>/refresh/",
        McpServerRefreshView.as_view(),
        name="mcp-server-refresh",
    ),
    path(
        "workspaces/<int:workspace_id>/http-tools/",
        HttpToolListView.as_view(),
        name="http-tools",
    ),
    path(
        "workspaces/<int:workspace_id>/http-tools/<str:name>/",
        HttpToolDetailView.as_view(),
        name="http-tool",
    ),
    # The workspace's own MCP endpoint: which workflows it serves as tools.
    path("workspaces/<int:workspace_id>/mcp/", McpEndpointView.as_view(), name="mcp-endpoint"),
    path(
        "workspaces/<int:workspace_id>/mcp/workflows/<uuid:workflow_id>/",
        McpExposureView.as_view(),
        name="mcp-exposure",
    ),
    path("invitations/accept/", AcceptView.as_view(), name="invitation-accept"),
    path("tokens/", TokenListView.as_view(), name="tokens"),
    path("tokens/<int:token_id>/", TokenDetailView.as_view(), name="token"),
    path("workflows/<uuid:workflow_id>/webhook/", WebhookView.as_view(), name="workflow-webhook"),
    *router.urls,
]
