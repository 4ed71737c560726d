"""Knowledge bases' routes under ``/api/``."""

from __future__ import annotations

from django.urls import path

from knowledge import api

urlpatterns = [
    path("knowledge/", api.BaseListView.as_view(), name="knowledge-bases"),
    path("knowledge/<uuid:base_id>/", api.BaseDetailView.as_view(), name="knowledge-base"),
    path(
        "knowledge/<uuid:base_id>/documents/",
        api.DocumentListView.as_view(),
        name="knowledge-documents",
    ),
    path(
        "knowledge/<uuid:base_id>/documents/<uuid:document_id>/",
        api.DocumentDetailView.as_view(),
        name="knowledge-document",
    ),
    path(
        "knowledge/<uuid:base_id>/documents/<uuid:document_id>/retry/",
        api.DocumentRetryView.as_view(),
        name="knowledge-document-retry",
    ),
    path(
        "knowledge/<uuid:base_id>/documents/<uuid:document_id>/chunks/",
        api.ChunkListView.as_view(),
        name="knowledge-chunks",
    ),
    path("knowledge/chunks/<int:chunk_id>/", api.CitedChunkView.as_view(), name="knowledge-chunk"),
    path("knowledge/<uuid:base_id>/search/", api.SearchView.as_view(), name="knowledge-search"),
    path("knowledge/<uuid:base_id>/reindex/", api.ReindexView.as_view(), name="knowledge-reindex"),
]
