"""The OpenAPI schema's error answers: every operation lists the 4xx and 5xx it can give.

Every error has the one body shape of ``editor.api_errors`` (``ErrorSerializer``). Which codes an
operation can answer follows from what it is, so they are added here, once, from the generated
operation itself; a view names only the codes of its own rules (409 on a conflict, 410, 429):

    every operation                      503 database unavailable
    needs a signed-in user or a token    401 not authenticated; on writes also 403 (role, CSRF)
    takes a request body                 400 invalid, 413 too large, 415 not JSON
    takes query parameters               400 invalid (``page`` alone: 404, past the last page)
    has path parameters                  404 not found, or not yours

Every 429 and 503 carries ``Retry-After`` (seconds), and the schema declares it on them.
"""

from __future__ import annotations

import copy
from typing import Any

from drf_spectacular.extensions import OpenApiSerializerExtension
from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiResponse

WHY = {
    400: "The request is invalid; `fields` says which inputs and why.",
    401: "No valid session or API token (`Authorization: Token <secret>`).",
    403: "Your role in the workspace may not do this (or a session request lacks its CSRF token).",
    404: "No such object, or not in one of your workspaces.",
    409: "The request conflicts with the object's current state.",
    410: "The link was real but can no longer be used.",
    413: "The request body is over the size limit (MAX_REQUEST_BYTES).",
    415: "The request body is not JSON (`Content-Type: application/json`).",
    429: "Too many calls; `Retry-After` says when to try again.",
    503: "The database (or the rate limiter) is busy or unreachable; retry after `Retry-After`.",
}

# The answers that say when to try again, and the header that says it.
RETRY_AFTER_CODES = ("429", "503")
RETRY_AFTER_HEADER = {
    "schema": {"type": "integer", "minimum": 1},
    "required": True,
    "description": "Seconds to wait before trying again.",
}

# Query parameters that cannot be invalid: DRF's page number answers 404 past the last page.
PAGE_PARAMETERS = {"page"}
WRITES = {"POST", "PUT", "PATCH", "DELETE"}


# An object id in a query string (``?workspace=``): up to 18 digits, so it never overflows the
# id column. ``query_id`` reads one by this rule; the schema says the same.
MAX_QUERY_ID_DIGITS = 18
QUERY_ID_SCHEMA = {"type": "integer", "minimum": 0, "maximum": 10**MAX_QUERY_ID_DIGITS - 1}


def query_id(raw: str) -> int | None:
    """The id in a query parameter, or None if it is not one (``-1``, ``1.5``, ``²``, ``abc``)."""
    if raw.isascii() and raw.isdigit() and len(raw) <= MAX_QUERY_ID_DIGITS:
        return int(raw)
    return None


def error(code: int) -> OpenApiResponse:
    """An error answer for ``extend_schema(responses=...)``: the shared body and its meaning."""
    from editor.serializers import ErrorSerializer  # editor.serializers uses this module

    return OpenApiResponse(response=ErrorSerializer, description=WHY[code])


def errors(*codes: int) -> dict[int, OpenApiResponse]:
    """``{code: error(code)}`` for the codes a view adds to the ones derived here."""
    return {code: error(code) for code in codes}


def _derived_codes(operation: dict[str, Any], method: str) -> set[int]:
    codes = {503}
    security = operation.get("security") or []
    if security and {} not in security:
        codes.add(401)
        if method in WRITES:
            codes.add(403)
    if "requestBody" in operation:
        codes |= {400, 413, 415}
    parameters = operation.get("parameters") or []
    query = {p["name"] for p in parameters if p.get("in") == "query"}
    if query - PAGE_PARAMETERS:
        codes.add(400)
    if query & PAGE_PARAMETERS or any(p.get("in") == "path" for p in parameters):
        codes.add(404)
    return codes


def patch_requires_one_of(serializer_class: type, *names: str) -> None:
    """A PATCH body of ``serializer_class`` must hold at least one of ``names`` (the API refuses
    one without): drf-spectacular makes every field of a PATCH body optional, so say it."""

    def map_serializer(self: OpenApiSerializerExtension, auto_schema: Any, direction: Any) -> Any:
        schema = auto_schema._map_serializer(self.target_class, direction, bypass_extensions=True)
        if auto_schema.method == "PATCH" and direction == "request":
            schema["anyOf"] = [{"required": [name]} for name in names]
        return schema

    # Defining the subclass registers it with drf-spectacular.
    type(
        f"{serializer_class.__name__}PatchSchema",
        (OpenApiSerializerExtension,),
        {"target_class": serializer_class, "map_serializer": map_serializer},
    )


class ApiSchema(AutoSchema):
    """drf-spectacular's AutoSchema, with each operation's error answers listed (see above)."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        responses = operation["responses"]
        for code in sorted(_derived_codes(operation, self.method)):
            if str(code) not in responses:
                responses[str(code)] = self._get_response_for_code(error(code), str(code))
        for status in RETRY_AFTER_CODES:
            if status in responses:
                headers = responses[status].setdefault("headers", {})
                headers["Retry-After"] = copy.deepcopy(RETRY_AFTER_HEADER)
        return operation
