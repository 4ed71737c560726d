"""Errors that business operations raise on purpose, each carrying the HTTP status it maps to,
and the one error body shape every 4xx answer has (``error_body``).

    OperationError                 400 invalid
    ├── GraphRefused               400 invalid_graph: not graph-shaped, or over the size limits
    ├── Forbidden                  403 forbidden: visible to the user, but not theirs to do
    ├── NotFound                   404 not_found
    └── Conflict                   409 conflict
        └── VersionConflict        409 version_conflict: saved on top of an older version

The run side's operations raise subclasses of these too; ``editor.api_errors`` turns any of them
into the one error body shape.
"""

from __future__ import annotations

from typing import Any


def error_body(
    code: str, message: str, fields: dict[str, list[str]] | None = None
) -> dict[str, Any]:
    error: dict[str, Any] = {"code": code, "message": message}
    if fields:
        error["fields"] = fields
    return {"error": error}


class OperationError(Exception):
    status: int = 400
    code: str = "invalid"

    def __init__(
        self, message: str, *, fields: dict[str, list[str]] | None = None, code: str | None = None
    ) -> None:
        super().__init__(message)
        self.message = message
        self.fields = fields
        if code is not None:
            self.code = code


class GraphRefused(OperationError):
    """A graph the canvas could never have produced; drafts with issues are saved, not refused."""

    code = "invalid_graph"

    def __init__(self, message: str, *, code: str | None = None) -> None:
        super().__init__(message, fields={"graph": [message]}, code=code)


class Forbidden(OperationError):
    """The user may see the object (so it is not a 404) but may not do this to it."""

    status = 403
    code = "forbidden"


class NotFound(OperationError):
    status = 404
    code = "not_found"


class Conflict(OperationError):
    status = 409
    code = "conflict"


class VersionConflict(Conflict):
    code = "version_conflict"
