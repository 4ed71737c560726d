"""A credential's Test: one model asked through the credential's key, and what its server can do.

The only place outside a run that opens a credential's value: for the length of the test, to
hand it to the provider, which sends it to the credential's server through the outbound guard
and keeps it out of every message (runtime.providers.endpoint_check). The audit log records who
tested which credential with which model, and the outcome; never the value.
"""

from __future__ import annotations

from typing import Any

from asgiref.sync import async_to_sync

from editor import secret_box
from editor.audit import record
from editor.catalogue import prices_for
from editor.errors import Conflict
from editor.models import Credential
from runtime.providers.capabilities import CatalogueEntry
from runtime.providers.endpoint_check import EndpointCheck, check_endpoint
from runtime.secrets import Secret


def check_credential(
    credential: Credential, model: str, *, user: Any, via: str = "session"
) -> EndpointCheck:
    """Ask ``model`` (``<kind>/<name>``) through ``credential``, with the workspace catalogue's
    capability settings for it; a failure is an answer (``ok`` false), not an exception."""
    try:
        value = secret_box.decrypt(credential.ciphertext)
    except secret_box.SecretBoxError as exc:
        raise Conflict(f"credential {credential.name!r} cannot be used: {exc}") from None
    secret = Secret(
        name=credential.name, kind=credential.kind, value=value, config=credential.config or {}
    )
    entry = prices_for(credential.workspace_id).get(model)
    result = async_to_sync(check_endpoint)(
        secret, model, entry if isinstance(entry, CatalogueEntry) else None
    )
    record(
        "credential.tested",
        actor=user,
        workspace=credential.workspace,
        target=credential,
        target_label=credential.name,
        via=via,
        detail={"model": model, "ok": result.ok, "problem": result.problem},
    )
    return result
