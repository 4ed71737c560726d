"""Django's 500 handler answers a database refusal like every view does (503, Retry-After): the
error may have been raised where DatabaseUnavailableMiddleware never sees it, in another
middleware (saving the session after the view)."""

from __future__ import annotations

from django.db import OperationalError
from django.test import RequestFactory

from orchestrator.views import server_error


def handled(path: str, error: Exception, **headers: str) -> tuple[int, str, str | None]:
    request = RequestFactory().get(path, **headers)
    try:
        raise error
    except Exception:  # Django calls the handler inside its own except block, as here
        response = server_error(request)
    return response.status_code, response["Content-Type"], response.get("Retry-After")


def test_a_database_refusal_is_503_with_retry_after_for_the_api_and_for_pages() -> None:
    refused = OperationalError("sorry, too many clients already")
    status, kind, retry = handled("/api/workflows/", refused)
    assert (status, kind, retry) == (503, "application/json", "2")
    status, kind, retry = handled("/", refused, HTTP_ACCEPT="text/html")
    assert (status, retry) == (503, "2") and kind.startswith("text/html")


def test_any_other_error_is_still_a_500() -> None:
    status, kind, retry = handled("/api/workflows/", KeyError("bug"))
    assert (status, kind, retry) == (500, "application/json", None)
