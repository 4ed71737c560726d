"""The run side's REST routes under ``/api/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from orchestrator.api import RunViewSet, StartRunView

router = SimpleRouter()
router.register("runs", RunViewSet, basename="run")

urlpatterns = [
    path("workflows/<uuid:workflow_id>/runs/", StartRunView.as_view(), name="workflow-runs"),
    *router.urls,
]
