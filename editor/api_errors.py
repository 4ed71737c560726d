"""The one place that turns errors into HTTP answers, all with one body shape::

    {"error": {"code": "invalid", "message": "…", "fields": {"graph": ["…"], "nodes[0].id": ["…"]}}}

``fields`` is present only for field-level problems; nested serializer errors are flattened to
dotted paths so that a client can put each message next to its input.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.exceptions import RequestDataTooBig
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError as DatabaseInterfaceError
from django.db import OperationalError as DatabaseOperationalError
from django.db.models import ProtectedError, RestrictedError
from django.http import Http404
from rest_framework import exceptions
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from editor.errors import OperationError, error_body


def flatten_detail(detail: Any, prefix: str = "") -> dict[str, list[str]]:
    """DRF's nested error detail as ``{"a.b[0].c": ["message", …]}``."""
    fields: dict[str, list[str]] = {}

    def add(key: str, message: Any) -> None:
        fields.setdefault(key or "non_field_errors", []).append(str(message))

    def walk(value: Any, path: str) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                walk(item, f"{path}.{key}" if path else str(key))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                if isinstance(item, dict | list):
                    walk(item, f"{path}[{index}]")
                else:
                    add(path, item)
        else:
            add(path, value)

    walk(detail, prefix)
    return fields


def _validation_body(detail: Any) -> dict[str, Any]:
    fields = flatten_detail(detail)
    if list(fields) == ["non_field_errors"]:
        messages = fields.pop("non_field_errors")
        return error_body("invalid", " ".join(messages))
    if len(fields) == 1:
        (name, messages), *_ = fields.items()
        return error_body("invalid", f"{name}: {' '.join(messages)}", fields)
    return error_body("invalid", f"{len(fields)} fields are invalid.", fields)


def _code(exc: exceptions.APIException) -> str:
    code = exc.get_codes()
    return code if isinstance(code, str) else exc.default_code


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    """DRF's EXCEPTION_HANDLER: every 4xx in one shape; anything unexpected stays a 500."""
    if isinstance(exc, DatabaseOperationalError | DatabaseInterfaceError):
        # The database refused or lost the connection: left to go on up to
        # orchestrator.middleware.DatabaseUnavailableMiddleware, which answers it (503 with
        # Retry-After) for every view alike, DRF's or not.
        return None
    if isinstance(exc, OperationError):
        response = Response(error_body(exc.code, exc.message, exc.fields), status=exc.status)
        # An error that says when to try again (a rate limit, a limiter that is down).
        retry_after = getattr(exc, "retry_after", None)
        if retry_after:
            response["Retry-After"] = str(retry_after)
        return response
    if isinstance(exc, RequestDataTooBig):
        return Response(error_body("request_too_large", str(exc)), status=413)
    if isinstance(exc, ProtectedError | RestrictedError):
        message = "it is still used by other records (for example runs); remove those first"
        return Response(error_body("in_use", message), status=409)
    if isinstance(exc, DjangoValidationError):
        detail = exc.message_dict if hasattr(exc, "error_dict") else exc.messages
        exc = exceptions.ValidationError(detail)
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, DjangoPermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None or not isinstance(exc, exceptions.APIException):
        return response
    if isinstance(exc, exceptions.ValidationError):
        response.data = _validation_body(exc.detail)
    elif isinstance(exc.detail, dict | list):
        response.data = error_body(_code(exc), "Invalid request.", flatten_detail(exc.detail))
    else:
        response.data = error_body(_code(exc), str(exc.detail))
    return response
