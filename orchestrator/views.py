"""Project-level pages: home, health, and error pages that speak JSON under /api/."""

from __future__ import annotations

import sys
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views import defaults
from django.views.decorators.csrf import ensure_csrf_cookie

from editor.errors import error_body
from orchestrator.middleware import database_unavailable, is_database_unavailable

APP_INDEX = settings.ASSETS_DIR / "static" / "app" / "index.html"


@login_required
@ensure_csrf_cookie  # the canvas reads the csrftoken cookie for its unsafe API calls
def app(request: HttpRequest, **route: Any) -> HttpResponse:
    """The canvas app (built by Vite into static/app/) for every in-app URL."""
    try:
        page = APP_INDEX.read_text(encoding="utf-8")
    except FileNotFoundError:
        # A checkout where the canvas was never built: say how, instead of a blank page.
        return render(request, "home.html", {"canvas_missing": True}, status=503)
    return HttpResponse(page)


def _is_api(request: HttpRequest) -> bool:
    return request.path.startswith("/api/")


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("bad_request", "Bad request."), status=400)
    return defaults.bad_request(request, exception, **kwargs)


def permission_denied(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _is_api(request):
        message = "You do not have permission to perform this action."
        return JsonResponse(error_body("permission_denied", message), status=403)
    return defaults.permission_denied(request, exception, **kwargs)


def page_not_found(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if _is_api(request):
        return JsonResponse(error_body("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception, **kwargs)


def server_error(request: HttpRequest, **kwargs: Any) -> HttpResponse:
    # Django calls this while handling the exception: one a middleware raised (saving the
    # session after the view) never reached DatabaseUnavailableMiddleware.
    if is_database_unavailable(sys.exc_info()[1]):
        return database_unavailable(request)
    if _is_api(request):
        body = error_body("server_error", "Something went wrong on our side; it has been logged.")
        return JsonResponse(body, status=500)
    return defaults.server_error(request, **kwargs)
