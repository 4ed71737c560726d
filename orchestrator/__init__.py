"""The Django project and the run side (runs, steps, events, approvals).

The Celery app is imported here so that ``@shared_task`` binds to it whenever Django starts.
"""

from __future__ import annotations

from orchestrator.celery import app as celery_app

__all__ = ["celery_app"]
