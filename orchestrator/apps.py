from __future__ import annotations

from django.apps import AppConfig


class OrchestratorConfig(AppConfig):
    name = "orchestrator"
    verbose_name = "Runs"

    def ready(self) -> None:
        from django.core.signals import request_finished

        from orchestrator import (
            approvals,
            checks,  # noqa: F401  (registers the system checks)
            memory,
        )

        # Large freed blocks back to the system, and the heap trimmed after a request that grew
        # the process (orchestrator/memory.py; after a task: orchestrator/celery.py).
        memory.return_large_blocks()
        request_finished.connect(memory.trim_if_grown, dispatch_uid="trim_memory")
        from orchestrator.revocation import connect_signals

        # Steps that wait for a decision open an Approval (orchestrator.waits).
        approvals.register()

        # A removed member's open sockets must hear of it (orchestrator.revocation).
        connect_signals()

        # OpenTelemetry traces over OTLP/HTTP when OTEL_EXPORTER_OTLP_ENDPOINT is set.
        from orchestrator import tracing

        tracing.configure()
