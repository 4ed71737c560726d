"""Refuse oversized request bodies before anything reads them.

Django enforces DATA_UPLOAD_MAX_MEMORY_SIZE only when ``request.body`` or ``request.POST`` is read;
DRF's parsers read the stream directly and would parse any size. Checking Content-Length up front
covers both, and answers 413 in the API's error shape. (Daphne has already buffered the body by
then: a proxy in front, e.g. nginx's client_max_body_size, is what protects memory in production.)
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse

from editor.errors import error_body


def _too_large(request: HttpRequest) -> HttpResponse | None:
    limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
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
