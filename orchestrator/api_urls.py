"""The run side's REST routes under ``/api/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from orchestrator.api import ApprovalViewSet, RunViewSet, StartRunView

router = SimpleRouter()
router.register("runs", RunViewSet, basename="run")
router.register("approvals", ApprovalViewSet, basename="approval")

urlpatterns = [
    path("workflows/<uuid:workflow_id>/runs/", StartRunView.as_view(), name="workflow-runs"),
    *router.urls,
]
