"""System checks for settings that work but should not reach production."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core import checks

DEV_KEY_PREFIX = "django-insecure-dev-only"  # orchestrator.settings.DEV_SECRET_KEY starts so


@checks.register(checks.Tags.security)
def secret_key_is_set(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    if settings.SECRET_KEY.startswith(DEV_KEY_PREFIX):
        return [
            checks.Warning(
                "SECRET_KEY is not set: using the insecure development key.",
                hint="Set the SECRET_KEY environment variable before exposing this server.",
                id="orchestrator.W001",
            )
        ]
    return []


def _credentials_key_messages(deploy: bool) -> list[checks.CheckMessage]:
    from editor import secret_box

    bad = secret_box.bad_keys()
    if bad:
        # Never echo the key: only its position in the list.
        positions = ", ".join(str(p) for p in bad)
        return [
            checks.Error(
                f"CREDENTIALS_KEY entry {positions} is not a Fernet key.",
                hint="Each comma-separated entry must be 32 url-safe base64-encoded bytes, "
                "e.g. from cryptography.fernet.Fernet.generate_key().",
                id="orchestrator.E003",
            )
        ]
    if not secret_box.uses_dev_key():
        return []
    message = "CREDENTIALS_KEY is not set: credentials are encrypted with a key derived from "
    hint = (
        "Set CREDENTIALS_KEY to a Fernet key (keep it apart from the database backups), then run "
        "`manage.py rotate_credentials` to re-encrypt what was saved before."
    )
    if deploy and not settings.DEBUG:
        # Production: a key derived from SECRET_KEY ties every stored credential to it and
        # makes a leaked SECRET_KEY a leak of every credential.
        return [checks.Error(message + "SECRET_KEY.", hint=hint, id="orchestrator.E002")]
    return [checks.Warning(message + "SECRET_KEY.", hint=hint, id="orchestrator.W002")]


@checks.register(checks.Tags.security)
def credentials_key_is_set(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    # An Error here would stop `migrate` (and so `./dev start`) on a first local try; the warning
    # says what to do, and `check --deploy` (below) refuses a production configuration.
    return _credentials_key_messages(deploy=False)


@checks.register(checks.Tags.security, deploy=True)
def credentials_key_is_set_for_deploy(app_configs: Any, **kwargs: Any) -> list[checks.CheckMessage]:
    messages = _credentials_key_messages(deploy=True)
    # The plain check has already reported a warning or a bad key; add only the deploy error.
    return [m for m in messages if m.id == "orchestrator.E002"]
