"""How every process of the app logs: text for people (``./dev start``), JSON lines for log
pipelines (``LOG_FORMAT=json``); either way each line carries the run, step, workspace and trace
ids it has, and no secret (:mod:`runtime.log_context`).

Django's settings apply :func:`config` to the web process and to one-off commands; Celery
configures its own handlers in workers and beat, which :func:`adopt` gives the same filter and
format (orchestrator/celery.py).
"""

from __future__ import annotations

import logging
import os
from typing import Any

from runtime.log_context import ContextFilter, JsonFormatter, TextFormatter, remember_secret

FORMATS = {"text": TextFormatter, "json": JsonFormatter}
# Environment variables whose values are secrets wherever they appear (a key echoed by a vendor).
SECRET_VARIABLES = ("SECRET_KEY", "CREDENTIALS_KEY", "METRICS_TOKEN")


def log_format() -> str:
    """``text`` or ``json`` from LOG_FORMAT; anything else is refused at start, by name."""
    value = os.environ.get("LOG_FORMAT", "").strip().lower() or "text"
    if value not in FORMATS:
        raise ValueError(f"LOG_FORMAT must be 'text' or 'json', not {value!r}")
    return value


def remember_environment_secrets() -> None:
    for name, value in os.environ.items():
        if name in SECRET_VARIABLES or name.endswith(("_API_KEY", "_TOKEN", "_PASSWORD")):
            for part in value.split(","):
                remember_secret(part.strip())


def config(level: str) -> dict[str, Any]:
    """Django's LOGGING: one stderr handler on the root logger, filtered and formatted."""
    remember_environment_secrets()
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "filters": {"context": {"()": ContextFilter}},
        "formatters": {"app": {"()": FORMATS[log_format()]}},
        "handlers": {
            "stderr": {
                "class": "logging.StreamHandler",
                "filters": ["context"],
                "formatter": "app",
            }
        },
        "root": {"handlers": ["stderr"], "level": level},
    }


def adopt(logger: logging.Logger) -> None:
    """Give the handlers Celery set up on ``logger`` the app's filter and format."""
    remember_environment_secrets()
    formatter = FORMATS[log_format()]()
    for handler in logger.handlers:
        handler.setFormatter(formatter)
        if not any(isinstance(found, ContextFilter) for found in handler.filters):
            handler.addFilter(ContextFilter())
