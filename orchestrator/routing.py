"""WebSocket routes."""

from __future__ import annotations

from django.urls import path

from orchestrator.consumers import NotificationConsumer, RunConsumer
from orchestrator.knowledge_socket import KnowledgeBaseConsumer

websocket_urlpatterns = [
    path("ws/runs/<str:run_id>/", RunConsumer.as_asgi()),
    path("ws/notifications/", NotificationConsumer.as_asgi()),
    path("ws/knowledge/<str:base_id>/", KnowledgeBaseConsumer.as_asgi()),
]
