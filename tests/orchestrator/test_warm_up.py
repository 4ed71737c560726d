"""The web process's warm-up (orchestrator.warm_up): the socket path's queries run once before
Daphne listens, and a database that does not answer then does not stop the process."""

from __future__ import annotations

import logging
from typing import Any

import pytest
from django.db import OperationalError, connection
from django.test.utils import CaptureQueriesContext

from orchestrator.warm_up import warm_up

pytestmark = pytest.mark.django_db


def test_it_reads_a_session_a_user_and_events_for_nobody() -> None:
    with CaptureQueriesContext(connection) as queries:
        warm_up()
    tables = [query["sql"].split(" FROM ")[1].split()[0] for query in queries.captured_queries]
    assert tables == ['"django_session"', '"auth_user"', '"orchestrator_event"']


def test_a_database_that_does_not_answer_is_left_for_later(
    caplog: pytest.LogCaptureFixture,
) -> None:
    def refuse(*args: Any) -> Any:
        raise OperationalError("connection refused")

    with connection.execute_wrapper(refuse), caplog.at_level(logging.WARNING):
        warm_up()  # no exception: Daphne goes on starting
    assert "did not answer while the web process started: connection refused" in caplog.text
