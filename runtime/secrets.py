"""Credentials a step may use, looked up by name; the engine never stores or prints them.

The app keeps credentials encrypted per workspace and hands a run's steps a SecretStore over
them; the command line and tests use StaticSecrets. Node settings name a credential
(`"credential": "openai-prod"`), never hold its value, so graphs, exports and events stay clean.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

from runtime.errors import NodeConfigError
from runtime.log_context import remember_secret

REDACTED = "[redacted]"


@dataclass(frozen=True)
class Secret:
    name: str
    kind: str  # openai, anthropic, http_bearer, http_header
    value: str = field(repr=False)
    # What is not secret: e.g. {"base_url": …} for a provider key, {"header": …} for a header.
    config: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        remember_secret(self.value)  # this process's log lines and spans never show it


class SecretNotFound(NodeConfigError):
    """A node names a credential the workspace does not have (or of the wrong kind)."""


class SecretStore(Protocol):
    def get(self, name: str) -> Secret:
        """The credential called `name`; SecretNotFound if there is none."""
        ...

    def of_kind(self, kind: str) -> list[Secret]:
        """Every credential of a kind, by name."""
        ...

    def names_of_kind(self, kind: str) -> list[str]:
        """The names of the credentials of a kind, sorted: a store may answer this without
        decrypting anything, so a step that needs none of them opens none."""
        ...


class StaticSecrets:
    """A SecretStore over secrets given up front (command line, tests)."""

    def __init__(self, secrets: Iterable[Secret] = ()) -> None:
        self._by_name = {secret.name: secret for secret in secrets}

    def get(self, name: str) -> Secret:
        try:
            return self._by_name[name]
        except KeyError:
            known = ", ".join(sorted(self._by_name)) or "none"
            raise SecretNotFound(f"no credential named {name!r} (known: {known})") from None

    def of_kind(self, kind: str) -> list[Secret]:
        return sorted((s for s in self._by_name.values() if s.kind == kind), key=lambda s: s.name)

    def names_of_kind(self, kind: str) -> list[str]:
        return [secret.name for secret in self.of_kind(kind)]


def redact(text: str, secrets: Iterable[Secret]) -> str:
    """`text` with every secret's value replaced, for error messages that echo a request."""
    for secret in secrets:
        if secret.value:
            text = text.replace(secret.value, REDACTED)
    return text
