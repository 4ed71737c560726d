"""Named secrets of a workspace: LLM keys and HTTP tool tokens, encrypted at rest."""

from __future__ import annotations

import uuid

from django.conf import settings
from django.db import models

from editor.models.workspaces import Workspace


class CredentialKind(models.TextChoices):
    OPENAI = "openai", "OpenAI-compatible API key"
    ANTHROPIC = "anthropic", "Anthropic API key"
    HTTP_BEARER = "http_bearer", "HTTP bearer token"
    HTTP_HEADER = "http_header", "HTTP header"


class Credential(models.Model):
    """A secret referenced by name from node settings.

    The value is stored only as `ciphertext` (Fernet, key from settings) and never leaves the
    server once written: the API takes it and answers with the name, kind, `hint` and `config`.
    `config` holds what is not secret (a base URL, a header name).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="credentials")
    name = models.SlugField(max_length=64)
    kind = models.CharField(max_length=16, choices=CredentialKind.choices)
    ciphertext = models.TextField()
    # The value's last characters ("…a1b2") so people can tell two keys apart without seeing them.
    hint = models.CharField(max_length=16, blank=True, default="")
    config = models.JSONField(default=dict, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="one_credential_per_name")
        ]

    def __str__(self) -> str:
        return f"{self.name} ({self.kind}) in {self.workspace}"
