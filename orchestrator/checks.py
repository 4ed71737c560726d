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
