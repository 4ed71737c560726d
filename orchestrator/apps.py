from __future__ import annotations

from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "Runs"

    def ready(self) -> None:
        from orchestrator import checks  # noqa: F401  (registers the system checks)
