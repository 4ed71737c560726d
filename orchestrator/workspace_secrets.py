"""The SecretStore a run's I/O steps get: its workspace's credentials, decrypted on demand.

The rows (name, kind, config, ciphertext) are read once, when the step's Services are built on the
worker's thread: the node itself runs on the process's event loop, where the ORM may not be used.
A value is decrypted only when the step asks for that credential, and kept for the step only.
"""

from __future__ import annotations

from typing import Any

from editor import secret_box
from editor.models import Credential
from runtime.secrets import Secret, SecretNotFound


class WorkspaceSecrets:
    """runtime.secrets.SecretStore over one workspace's Credential rows."""

    def __init__(self, workspace_id: Any) -> None:
        self.workspace_id = workspace_id
        rows = Credential.objects.filter(workspace_id=workspace_id).values_list(
            "name", "kind", "config", "ciphertext"
        )
        self._sealed: dict[str, tuple[str, dict[str, Any], str]] = {
            name: (kind, dict(config or {}), ciphertext) for name, kind, config, ciphertext in rows
        }
        self._opened: dict[str, Secret] = {}

    def __repr__(self) -> str:
        return f"WorkspaceSecrets(workspace={self.workspace_id}, names={sorted(self._sealed)})"

    def get(self, name: str) -> Secret:
        opened = self._opened.get(name)
        if opened is not None:
            return opened
        sealed = self._sealed.get(name)
        if sealed is None:
            known = ", ".join(sorted(self._sealed)) or "none"
            raise SecretNotFound(
                f"this workspace has no credential named {name!r} (it has: {known})"
            )
        kind, config, ciphertext = sealed
        try:
            value = secret_box.decrypt(ciphertext)
        except secret_box.SecretBoxError as exc:
            raise SecretNotFound(f"credential {name!r} cannot be used: {exc}") from None
        secret = Secret(name=name, kind=kind, value=value, config=config)
        self._opened[name] = secret
        return secret

    def of_kind(self, kind: str) -> list[Secret]:
        return [self.get(name) for name in self.names_of_kind(kind)]

    def names_of_kind(self, kind: str) -> list[str]:
        return sorted(name for name, (found, _, _) in self._sealed.items() if found == kind)
