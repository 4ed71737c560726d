"""Answers that every HTTP view gives alike, whatever serves it (DRF or plain Django).

``RequestBodyLimitMiddleware`` refuses oversized request bodies before anything reads them.
Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when ``request.body`` or ``request.POST`` is read;
DRF's parsers read the stream directly and would parse any size. Checking Content-Length up front
covers both, and answers 413 in the API's error shape. (Daphne has already buffered the body by
then: a proxy in front, e.g. nginx's client_max_body_size, is what protects memory in production.)

``DatabaseUnavailableMiddleware`` answers 503 with ``Retry-After`` when the database cannot take a
request (see there).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.utils.deprecation import MiddlewareMixin

from editor.errors import error_body

logger = logging.getLogger(__name__)


def _limit_for(path: str) -> int | None:
    """The body limit of a route: LARGE_BODY_ROUTES' (document uploads), else MAX_REQUEST_BYTES."""
    for pattern, limit in getattr(settings, "LARGE_BODY_ROUTES", ()):
        if re.match(pattern, path):
            return int(limit)
    return settings.DATA_UPLOAD_MAX_MEMORY_SIZE  # type: ignore[no-any-return]


def _too_large(request: HttpRequest) -> HttpResponse | None:
    limit = _limit_for(request.path)
    if limit is None:
        return None
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        return JsonResponse(
            error_body("bad_request", "Content-Length is not a number."), status=400
        )
    if length <= limit:
        return None
    message = f"The request body is {length} bytes; the limit is {limit} bytes."
    return JsonResponse(error_body("request_too_large", message), status=413)


class RequestBodyLimitMiddleware:
    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.is_async = iscoroutinefunction(get_response)
        if self.is_async:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> HttpResponse | Awaitable[HttpResponse]:
        if self.is_async:
            return self._acall(request)
        return _too_large(request) or self.get_response(request)

    async def _acall(self, request: HttpRequest) -> HttpResponse:
        return _too_large(request) or await self.get_response(request)


# -- the database cannot take the request ----------------------------------------------------------

# What a client is told to wait before retrying when the database cannot take its request.
DATABASE_RETRY_AFTER_SECONDS = 2
# Paths whose every answer is JSON in the API's error shape (the OpenAPI schema says so).
API_PATHS = ("/api/", "/hooks/")

UNAVAILABLE_PAGE = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Busy: try again shortly</title></head>
<body>
<h1>Busy for a moment</h1>
<p>The database cannot take your request right now. Nothing was changed: try again shortly.</p>
</body>
</html>
"""


def is_database_unavailable(exception: BaseException | None) -> bool:
    return isinstance(exception, OperationalError | InterfaceError)


def database_unavailable(request: HttpRequest) -> HttpResponse:
    """503 with Retry-After: the API's error body, or a short page for a browser's page."""
    if not request.path_info.startswith(API_PATHS) and (
        request.get_preferred_type(["application/json", "text/html"]) == "text/html"
    ):
        response: HttpResponse = HttpResponse(UNAVAILABLE_PAGE, status=503)
    else:
        message = "The database is busy or unreachable; try again shortly."
        response = JsonResponse(error_body("database_unavailable", message), status=503)
    response["Retry-After"] = str(DATABASE_RETRY_AFTER_SECONDS)
    return response


class DatabaseUnavailableMiddleware(MiddlewareMixin):
    """The database refused or lost the connection (no pooled connection free within
    WEB_DB_POOL_TIMEOUT, "too many clients", a terminated backend, a server restarting): the
    request was fine, so 503 and when to try again, not a 500.

    One rule for every view: DRF's exception handler leaves these errors alone (so they reach
    here), and plain Django views (the pages, the login form, the admin) raise them here too.
    Errors raised while a response is rendered (DRF's browsable API reads the user) come here
    as well; ones raised inside another middleware (saving the session after the view) reach
    Django's 500 handler, which answers the same (orchestrator.views.server_error).
    """

    def process_exception(self, request: HttpRequest, exception: Exception) -> HttpResponse | None:
        if not is_database_unavailable(exception):
            return None
        logger.warning(
            "database unavailable for %s %s: %s: %s",
            request.method,
            request.path,
            type(exception).__name__,
            exception,
        )
        return database_unavailable(request)
