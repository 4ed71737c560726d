"""The credential a knowledge base embeds with: the one it names, or the workspace's only
``openai`` credential, decrypted only when an embedding is about to be made."""

from __future__ import annotations

from typing import Any

from editor import secret_box
from editor.models import Credential
from runtime.errors import NodeConfigError
from runtime.secrets import Secret, StaticSecrets


def embedding_secrets(workspace_id: Any, name: str | None) -> StaticSecrets:
    """A SecretStore holding just that credential (or nothing, for the embedded model or the
    environment's endpoint)."""
    rows = Credential.objects.filter(workspace_id=workspace_id, kind="openai")
    if name:
        rows = rows.filter(name=name)
        if not rows.exists():
            raise NodeConfigError(
                f"this workspace has no openai credential named {name!r} for embeddings"
            )
    found = list(rows.values_list("name", "kind", "config", "ciphertext")[:2])
    if len(found) != 1:
        return StaticSecrets()
    ((cred_name, kind, config, ciphertext),) = found
    try:
        value = secret_box.decrypt(ciphertext)
    except secret_box.SecretBoxError as exc:
        raise NodeConfigError(f"credential {cred_name!r} cannot be used: {exc}") from None
    return StaticSecrets([Secret(cred_name, kind, value, dict(config or {}))])
