"""The editor's routes under ``/api/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from editor.views import NodeTypeListView, WorkflowViewSet, WorkspaceViewSet

# SimpleRouter, not DefaultRouter: /api/ is shared with the run side's routes, so no root view.
router = SimpleRouter()
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("workspaces", WorkspaceViewSet, basename="workspace")

urlpatterns = [
    path("node-types/", NodeTypeListView.as_view(), name="node-types"),
    *router.urls,
]
