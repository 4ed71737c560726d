"""The URL map: pages, the REST API (editor's and the run side's), its schema and docs, health."""

from __future__ import annotations

from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView, SpectacularSwaggerView

from editor.invitations import invitation_page
from orchestrator import health, metrics, views
from orchestrator.hooks import HookView

urlpatterns = [
    path("", views.app, name="home"),
    path("workflows/<path:route>", views.app, name="app"),
    path("approvals", views.app, name="approvals-page"),
    path("runs", views.app, name="runs-page"),
    path("approvals/<path:route>", views.app),
    path("settings/<path:route>", views.app),
    path("knowledge", views.app, name="knowledge-page"),
    path("knowledge/<path:route>", views.app),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("metrics", metrics.metrics_view, name="metrics"),
    # An invitation link (server-rendered, behind login) and a webhook's secret URL.
    path("invitations/<str:secret>", invitation_page, name="invitation-page"),
    path("hooks/<str:secret>/", HookView.as_view(), name="hook"),
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="docs"),
    path("api/", include("editor.urls")),
    path("api/", include("orchestrator.api_urls")),
    path("api/", include("knowledge.urls")),
]

# API paths answer these in the API's error shape; pages keep Django's HTML pages.
handler400 = "orchestrator.views.bad_request"
handler403 = "orchestrator.views.permission_denied"
handler404 = "orchestrator.views.page_not_found"
handler500 = "orchestrator.views.server_error"
