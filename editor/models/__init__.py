"""The editor's models, one module per concern; imported here so `editor.models.X` works."""

from editor.models.access_tokens import ApiToken, Invitation, WebhookTrigger
from editor.models.audit import AuditEntry
from editor.models.catalogue import ModelPrice
from editor.models.credentials import Credential, CredentialKind
from editor.models.tools import HttpTool, McpServer
from editor.models.workflows import (
    ImmutableVersion,
    VersionName,
    Workflow,
    WorkflowVersion,
    WorkflowVersionQuerySet,
)
from editor.models.workspaces import Membership, Role, Workspace

__all__ = [
    "ApiToken",
    "AuditEntry",
    "Credential",
    "CredentialKind",
    "HttpTool",
    "ImmutableVersion",
    "Invitation",
    "McpServer",
    "Membership",
    "ModelPrice",
    "Role",
    "VersionName",
    "WebhookTrigger",
    "Workflow",
    "WorkflowVersion",
    "WorkflowVersionQuerySet",
    "Workspace",
]
