"""Workspace credentials: creating, changing and deleting them, each with its audit entry.

The value goes in once (encrypted by :mod:`editor.secret_box`) and never comes back out through
here: callers get the Credential row, whose ``ciphertext`` no serializer shows. Only the run side
decrypts (``orchestrator.workspace_secrets``), and only the credential a step names.
"""

from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlsplit

from django.db import IntegrityError, transaction

from editor import secret_box
from editor.audit import record
from editor.errors import Conflict, OperationError
from editor.models import Credential, CredentialKind, Workspace

MAX_VALUE_CHARS = 8192
# Below this length even four characters are too large a share of the secret to show.
HINT_MIN_LENGTH = 12
HINT_CHARS = 4
LLM_KINDS = frozenset({CredentialKind.OPENAI, CredentialKind.ANTHROPIC})
LLM_KIND_VALUES = sorted(str(kind) for kind in LLM_KINDS)
# RFC 9110 field names ("token" characters); a header name is also never one we set ourselves.
_HEADER_NAME = re.compile(r"^[!#$%&'*+\-.^_`|~0-9A-Za-z]{1,100}$")
_RESERVED_HEADERS = frozenset({"host", "content-length", "transfer-encoding", "connection"})
MAX_BASE_URL_CHARS = 2000


# -- the rules below, as JSON Schema (the API schema publishes them) ------------------------------


def _any_case(word: str) -> str:
    return "".join(f"[{c.upper()}{c.lower()}]" if c.isalpha() else c for c in word)


_RESERVED = "|".join(_any_case(name) for name in sorted(_RESERVED_HEADERS))
HEADER_SCHEMA: dict[str, Any] = {
    "type": "string",
    "pattern": rf"^(?!(?:{_RESERVED})$){_HEADER_NAME.pattern[1:]}",
    "description": "An HTTP header name, not one the HTTP client sets "
    f"({', '.join(sorted(_RESERVED_HEADERS))})",
}
# http(s), a host, no user or password; empty means none. A subset of what _base_url takes.
BASE_URL_SCHEMA: dict[str, Any] = {
    "type": "string",
    "maxLength": MAX_BASE_URL_CHARS,
    "pattern": r"^(?:https?://[A-Za-z0-9][A-Za-z0-9.-]*(?::[0-9]{1,5})?(?:[/?#][!-~]*)?)?$",
}


def config_schema(kind: str | None) -> dict[str, Any]:
    """The JSON Schema of a kind's config; with None, of any kind's (its settings together)."""
    properties: dict[str, Any] = {}
    if kind is None or kind in LLM_KINDS:
        properties["base_url"] = {**BASE_URL_SCHEMA, "nullable": True}
    if kind is None or kind == CredentialKind.HTTP_HEADER:
        properties["header"] = HEADER_SCHEMA
    schema: dict[str, Any] = {
        "type": "object",
        "properties": properties,
        "additionalProperties": False,
    }
    if kind == CredentialKind.HTTP_HEADER:
        schema["required"] = ["header"]
    return schema


def hint_of(value: str) -> str:
    """ "…a1b2" for a long value, "" for a short one (four of eight characters is no secret)."""
    if len(value) < HINT_MIN_LENGTH:
        return ""
    return "…" + value[-HINT_CHARS:]


def check_config(kind: str, config: Any, *, existing: bool = False) -> dict[str, Any]:
    """The config for a kind, or OperationError naming the field (``config.base_url``).

    ``existing``: the config is for a credential that already has this kind, so a setting of
    another kind (or a missing one this kind needs) conflicts with it: Conflict (409)."""
    mismatch = Conflict if existing else OperationError
    if config is None:
        config = {}
    if not isinstance(config, dict):
        raise _invalid("config", "must be an object")
    allowed = {"base_url"} if kind in LLM_KINDS else {"header"} if kind == "http_header" else set()
    unknown = sorted(set(config) - allowed)
    if unknown:
        takes = ", ".join(sorted(allowed)) or "nothing"
        raise _invalid(
            f"config.{unknown[0]}",
            f"not a setting of a {kind} credential (takes {takes})",
            mismatch,
        )
    clean: dict[str, Any] = {}
    if "base_url" in config and config["base_url"] not in (None, ""):
        clean["base_url"] = _base_url(config["base_url"])
    if kind == "http_header":
        if config.get("header") is None:
            message = "an HTTP header name is required, e.g. X-Api-Key"
            raise _invalid("config.header", message, mismatch)
        clean["header"] = _header_name(config["header"])
    return clean


def _base_url(value: Any) -> str:
    if not isinstance(value, str) or len(value) > MAX_BASE_URL_CHARS:
        raise _invalid("config.base_url", "must be an http(s) URL of at most 2000 characters")
    value = value.strip()
    try:
        parts = urlsplit(value)
    except ValueError:
        parts = None
    if parts is None or parts.scheme not in ("http", "https") or not parts.hostname:
        raise _invalid("config.base_url", "must be an http(s) URL, e.g. https://api.openai.com/v1")
    if parts.username or parts.password:
        # A key in the URL would be shown to every member: it belongs in the value.
        raise _invalid("config.base_url", "must not carry a user or password; put the key in value")
    return value.rstrip("/")


def _header_name(value: Any) -> str:
    if not isinstance(value, str) or not _HEADER_NAME.match(value.strip()):
        raise _invalid("config.header", "an HTTP header name is required, e.g. X-Api-Key")
    value = value.strip()
    if value.lower() in _RESERVED_HEADERS:
        raise _invalid("config.header", f"{value} is set by the HTTP client, not by a credential")
    return value


def _invalid(
    field: str, message: str, error: type[OperationError] = OperationError
) -> OperationError:
    return error(f"{field}: {message}", fields={field: [message]})


def _taken(name: str) -> Conflict:
    message = f"this workspace already has a credential named {name!r}"
    return Conflict(message, fields={"name": [message]})


def _record(
    action: str, credential: Credential, user: Any, via: str, detail: dict[str, Any]
) -> None:
    """An audit entry about a credential, labelled by its name (never its value)."""
    record(
        action,
        actor=user,
        workspace=credential.workspace,
        target=credential,
        target_label=credential.name,
        via=via,
        detail=detail,
    )


def create_credential(
    *,
    workspace: Workspace,
    user: Any,
    name: str,
    kind: str,
    value: str,
    config: Any = None,
    via: str = "session",
) -> Credential:
    clean = check_config(kind, config)
    credential = Credential(
        workspace=workspace,
        name=name,
        kind=kind,
        ciphertext=secret_box.encrypt(value),
        hint=hint_of(value),
        config=clean,
        created_by=user if getattr(user, "is_authenticated", False) else None,
    )
    try:
        with transaction.atomic():
            credential.save()
            _record("credential.created", credential, user, via, {"kind": kind, "config": clean})
    except IntegrityError:
        raise _taken(name) from None
    return credential


def update_credential(
    credential: Credential,
    *,
    user: Any,
    name: str | None = None,
    value: str | None = None,
    config: Any = None,
    via: str = "session",
) -> Credential:
    """Rename, replace the value, or change the config; the audit entry says which, not how."""
    changed: list[str] = []
    old_name = credential.name
    if name is not None and name != credential.name:
        credential.name = name
        changed.append("name")
    if value is not None:
        credential.ciphertext = secret_box.encrypt(value)
        credential.hint = hint_of(value)
        changed.append("value")
    if config is not None:
        clean = check_config(credential.kind, config, existing=True)
        if clean != credential.config:
            credential.config = clean
            changed.append("config")
    if not changed:
        return credential
    detail: dict[str, Any] = {"changed": changed}
    if "name" in changed:
        detail["from"] = old_name
    if "config" in changed:
        detail["config"] = credential.config
    try:
        with transaction.atomic():
            credential.save()
            _record("credential.updated", credential, user, via, detail)
    except IntegrityError:
        credential.name = old_name
        raise _taken(name or "") from None
    return credential


def delete_credential(credential: Credential, *, user: Any, via: str = "session") -> None:
    with transaction.atomic():
        _record("credential.deleted", credential, user, via, {"kind": credential.kind})
        credential.delete()


def rotate_all(batch: int = 200) -> tuple[int, list[str]]:
    """Re-encrypt every credential with the first key. Returns (rotated, failures by id).

    Row by row, each in its own short update, so a failure (a value no configured key opens)
    leaves the others rotated and is reported instead of aborting the whole run.
    """
    rotated = 0
    failures: list[str] = []
    for pk, ciphertext in Credential.objects.values_list("pk", "ciphertext").iterator(batch):
        try:
            fresh = secret_box.rotate(ciphertext)
        except secret_box.SecretBoxError as exc:
            failures.append(f"{pk}: {exc}")
            continue
        # updated_at stays: the value did not change, only how it is sealed.
        Credential.objects.filter(pk=pk, ciphertext=ciphertext).update(ciphertext=fresh)
        rotated += 1
    return rotated, failures
