"""What every log line carries: the run, step and workspace it is about, the trace it is part of,
and never a secret.

Ids are bound with :func:`bound` (a context variable, so each asyncio task, thread and step of a
worker keeps its own); :class:`ContextFilter` copies them onto each record and replaces every
secret value this process has handled (see :func:`remember_secret`) with ``[redacted]``.
:class:`TextFormatter` prints them after the message for people (``./dev start``) and
:class:`JsonFormatter` writes one JSON object a line (``LOG_FORMAT=json``).
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
from collections import OrderedDict
from collections.abc import Iterator
from typing import Any

from opentelemetry import trace
from pythonjsonlogger.json import JsonFormatter as _LibraryJsonFormatter

REDACTED = "[redacted]"
# The ids a record may carry, in the order the text format prints them.
ID_FIELDS = ("run_id", "step_id", "workspace_id", "trace_id", "span_id")

_ids: contextvars.ContextVar[dict[str, str] | None] = contextvars.ContextVar(
    "log_ids", default=None
)


@contextlib.contextmanager
def bound(**ids: Any) -> Iterator[None]:
    """Log records made inside carry these ids (None values are left out) beside the outer ones."""
    outer = _ids.get() or {}
    token = _ids.set({**outer, **{k: str(v) for k, v in ids.items() if v is not None}})
    try:
        yield
    finally:
        _ids.reset(token)


def current() -> dict[str, str]:
    """The ids bound here, with the current span's trace and span id when one is recording."""
    found = dict(_ids.get() or {})
    context = trace.get_current_span().get_span_context()
    if context.is_valid:
        found["trace_id"] = format(context.trace_id, "032x")
        found["span_id"] = format(context.span_id, "016x")
    return found


# -- secrets ---------------------------------------------------------------------------------------

# Values shorter than this are not searched for: replacing "abc" everywhere would garble lines
# and protect nothing (no real key is that short).
MIN_SECRET_LENGTH = 8
# The most values remembered (the newest kept): a worker decrypts each step's credential anew.
MAX_SECRETS = 2048
_secrets: OrderedDict[str, None] = OrderedDict()
_secrets_lock = threading.Lock()


def remember_secret(value: str | None) -> None:
    """From now on, log lines and span texts of this process show ``value`` as [redacted]."""
    if not value or len(value) < MIN_SECRET_LENGTH:
        return
    with _secrets_lock:
        _secrets[value] = None
        _secrets.move_to_end(value)
        while len(_secrets) > MAX_SECRETS:
            _secrets.popitem(last=False)


def redact_known(text: str) -> str:
    """``text`` with every remembered secret value replaced."""
    with _secrets_lock:
        values = list(_secrets)
    for value in values:
        if value in text:
            text = text.replace(value, REDACTED)
    return text


# -- logging ---------------------------------------------------------------------------------------


class ContextFilter(logging.Filter):
    """Puts the bound ids on the record (``record.run_id`` …, and ``record.ids`` for text) and
    takes every known secret out of its message and traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        ids = current()
        for field in ID_FIELDS:
            setattr(record, field, ids.get(field))
        shown = [f"{name.removesuffix('_id')}={ids[name]}" for name in ID_FIELDS[:3] if name in ids]
        if "trace_id" in ids:
            shown.append(f"trace={ids['trace_id']}")
        record.ids = f" [{' '.join(shown)}]" if shown else ""
        message = record.getMessage()
        clean = redact_known(message)
        if clean != message or record.args:
            record.msg, record.args = clean, None
        if record.exc_info and not record.exc_text:
            record.exc_text = redact_known(logging.Formatter().formatException(record.exc_info))
        elif record.exc_text:
            record.exc_text = redact_known(record.exc_text)
        return True


class TextFormatter(logging.Formatter):
    """``time level logger: message [run=… step=… workspace=… trace=…]``."""

    def __init__(self) -> None:
        super().__init__("%(asctime)s %(levelname)s %(name)s: %(message)s%(ids)s")

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "ids"):
            record.ids = ""
        return super().format(record)

    def formatException(self, ei: Any) -> str:
        return redact_known(super().formatException(ei))


class JsonFormatter(_LibraryJsonFormatter):
    """One JSON object a line: time, level, logger, message, the ids the record has (absent
    ones left out) and the traceback, if any."""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
            timestamp=False,
        )

    def formatException(self, ei: Any) -> str:
        formatted = super().formatException(ei)
        return redact_known(formatted if isinstance(formatted, str) else "\n".join(formatted))

    def add_fields(
        self, log_data: dict[str, Any], record: logging.LogRecord, message_dict: dict[str, Any]
    ) -> None:
        super().add_fields(log_data, record, message_dict)
        log_data.pop("ids", None)
        for field in ID_FIELDS:
            if log_data.get(field) is None:
                log_data.pop(field, None)
