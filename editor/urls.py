"""The editor's routes under ``/api/``."""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from editor.credentials_api import CredentialDetailView, CredentialListView
from editor.views import (
    ExampleImportView,
    ExampleListView,
    ModelCatalogueView,
    ModelResetView,
    NodeTypeListView,
    WorkflowViewSet,
    WorkspaceViewSet,
)

# SimpleRouter, not DefaultRouter: /api/ is shared with the run side's routes, so no root view.
router = SimpleRouter()
router.register("workflows", WorkflowViewSet, basename="workflow")
router.register("workspaces", WorkspaceViewSet, basename="workspace")

urlpatterns = [
    path("node-types/", NodeTypeListView.as_view(), name="node-types"),
    path("examples/", ExampleListView.as_view(), name="examples"),
    path("models/", ModelCatalogueView.as_view(), name="models"),
    path("models/reset/", ModelResetView.as_view(), name="models-reset"),
    # Any segment reaches the view, which answers 404 for names that are not a safe slug.
    path("examples/<str:name>/import/", ExampleImportView.as_view(), name="example-import"),
    path(
        "workspaces/<int:workspace_id>/credentials/",
        CredentialListView.as_view(),
        name="credentials",
    ),
    path(
        "workspaces/<int:workspace_id>/credentials/<str:name>/",
        CredentialDetailView.as_view(),
        name="credential",
    ),
    *router.urls,
]
