"""The header a workspace credential adds to a tool's requests, and its value kept out of what
comes back (a server that echoes the token gets ``[redacted]`` in the result the model reads)."""

from __future__ import annotations

from runtime.secrets import REDACTED, Secret

CREDENTIAL_KINDS = ("http_bearer", "http_header")


class CredentialKindError(ValueError):
    pass


def auth_headers(secret: Secret | None) -> dict[str, str]:
    if secret is None:
        return {}
    if secret.kind == "http_bearer":
        return {"Authorization": f"Bearer {secret.value}"}
    header = secret.config.get("header")
    if secret.kind != "http_header" or not isinstance(header, str) or not header:
        raise CredentialKindError(
            f"credential {secret.name!r} is a {secret.kind} credential; a tool needs "
            f"{' or '.join(CREDENTIAL_KINDS)}"
        )
    return {header: secret.value}


def scrub(text: str, secret: Secret | None) -> str:
    if secret is None or not secret.value:
        return text
    return text.replace(secret.value, REDACTED)
