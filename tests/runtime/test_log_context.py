"""Log lines carry the ids bound where they were made and never a secret the process handled."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest

from runtime.log_context import ContextFilter, JsonFormatter, TextFormatter, bound
from runtime.secrets import Secret


@pytest.fixture
def capture() -> Iterator[tuple[logging.Logger, io.StringIO, logging.StreamHandler[io.StringIO]]]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(ContextFilter())
    logger = logging.getLogger("tests.log_context")
    logger.propagate = False
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    yield logger, stream, handler
    logger.removeHandler(handler)
    logger.propagate = True


def test_text_lines_name_the_run_step_and_workspace(capture) -> None:  # type: ignore[no-untyped-def]
    logger, stream, handler = capture
    handler.setFormatter(TextFormatter())
    with bound(run_id="r1", workspace_id=7), bound(step_id="plan#1"):
        logger.info("step %s ended", "plan")
    logger.info("outside")
    first, second = stream.getvalue().splitlines()
    assert first.endswith(
        "INFO tests.log_context: step plan ended [run=r1 step=plan#1 workspace=7]"
    )
    assert second.endswith("INFO tests.log_context: outside")


def test_json_lines_carry_the_ids_and_leave_out_those_not_bound(capture) -> None:  # type: ignore[no-untyped-def]
    logger, stream, handler = capture
    handler.setFormatter(JsonFormatter())
    with bound(run_id="r1", step_id=None):
        logger.warning("careful")
    line = json.loads(stream.getvalue())
    assert line["run_id"] == "r1"
    assert line["level"] == "WARNING"
    assert line["logger"] == "tests.log_context"
    assert line["message"] == "careful"
    assert "step_id" not in line and "trace_id" not in line and "ids" not in line


def test_a_secret_the_process_handled_is_redacted_in_messages_and_tracebacks(capture) -> None:  # type: ignore[no-untyped-def]
    logger, stream, handler = capture
    handler.setFormatter(JsonFormatter())
    Secret("vendor", "openai", "sk-log-redaction-0123456789")
    try:
        raise RuntimeError("the server said: bad key sk-log-redaction-0123456789")
    except RuntimeError:
        logger.exception("call failed with %s", "sk-log-redaction-0123456789")
    text = stream.getvalue()
    assert "sk-log-redaction-0123456789" not in text
    line = json.loads(text)
    assert line["message"] == "call failed with [redacted]"
    assert "bad key [redacted]" in line["exc_info"]
