"""The reads of many sockets, of several runs and people, made together (orchestrator/run_reads.py)
give each socket what its own reads would: may the person watch the run, which steps are running,
the events in its range; and a whole batch costs one query per person and two more."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import connection
from rest_framework.test import APIClient

from editor import operations as editor_operations
from editor.models import Workflow
from orchestrator.models import Event, Run, Step
from orchestrator.run_reads import BATCH, Opening, _Ask, read_all
from tests.orchestrator.conftest import chain, drive, make_workflow, node
from tests.orchestrator.test_runs_api import started_run

pytestmark = pytest.mark.django_db

GRAPH = chain(
    node("brief", "input"),
    node("shout", "transform", template="{{ input.topic }}!"),
    node("result", "output"),
)


def opening(user: Any, after: int) -> _Ask:
    return _Ask(after, None, user, opening=True, done=None)  # type: ignore[arg-type]


def events_after(after: int, until: int | None) -> _Ask:
    return _Ask(after, until, done=None)  # type: ignore[arg-type]


def stored(run: Run, after: int, until: int | None) -> list[dict[str, Any]]:
    events = Event.objects.filter(run=run, seq__gt=after)
    if until is not None:
        events = events.filter(seq__lte=until)
    return [event.to_message() for event in events.order_by("seq")[:BATCH]]


def test_a_batch_of_runs_and_people_reads_what_each_socket_would_alone(
    alice: User,
    alice_client: APIClient,
    workflow: Workflow,
    charlie: User,
    charlie_client: APIClient,
    django_assert_max_num_queries: Any,
) -> None:
    first = drive(started_run(alice_client, workflow, {"topic": "owls"}))
    second = drive(started_run(alice_client, workflow, {"topic": "bats"}))
    his_workspace = editor_operations.ensure_personal_workspace(charlie)
    his = drive(started_run(charlie_client, make_workflow(charlie, his_workspace, GRAPH)))
    assert first.last_seq > 3 and second.last_seq > 3 and his.last_seq > 3
    Step.objects.filter(run=first, key="shout").update(status="running")
    running = list(
        Step.objects.filter(run=first, status="running").values_list(
            "key", "node_id", "round", "attempt"
        )
    )
    assert len(running) == 1

    batch = [
        (str(first.pk), opening(alice, 0)),
        (str(second.pk), opening(alice, 2)),
        (str(his.pk), opening(alice, 0)),  # not a member of his workspace
        (str(first.pk), opening(AnonymousUser(), 0)),
        (str(his.pk), opening(charlie, 1)),
        (str(first.pk), events_after(1, 3)),
        (str(second.pk), events_after(0, None)),
        (str(first.pk), opening(alice, 0)),  # the same read twice
        ("not-a-run", opening(alice, 0)),
    ]
    # alice's runs, charlie's, the running steps, the events (SQLite: a query for each of the
    # five spans, as it has no LATERAL and takes no LIMIT inside a UNION)
    one_statement = connection.vendor == "postgresql"
    with django_assert_max_num_queries(4 if one_statement else 8):
        found = read_all(batch)

    assert found == [
        Opening(first.workspace_id, running, stored(first, 0, None)),
        Opening(second.workspace_id, [], stored(second, 2, None)),
        Opening(None, [], []),
        Opening(None, [], []),
        Opening(his.workspace_id, [], stored(his, 1, None)),
        stored(first, 1, 3),
        stored(second, 0, None),
        Opening(first.workspace_id, running, stored(first, 0, None)),
        Opening(None, [], []),
    ]
    assert [e["seq"] for e in found[5]] == [2, 3]


def test_a_span_reads_at_most_a_batch_of_events_each_however_many_spans_share_the_read(
    alice: User, alice_client: APIClient, workflow: Workflow
) -> None:
    long = drive(started_run(alice_client, workflow, {"topic": "owls"}))
    short = drive(started_run(alice_client, workflow, {"topic": "bats"}))
    first_extra = long.last_seq + 1
    Event.objects.bulk_create(
        Event(run=long, seq=seq, type="step.chunk", data={"n": seq}, ts=long.created_at)
        for seq in range(first_extra, first_extra + BATCH + 20)
    )
    top = first_extra + BATCH + 19
    found = read_all(
        [
            (str(long.pk), events_after(0, None)),
            (str(long.pk), events_after(top - 5, None)),
            (str(long.pk), events_after(10, 30)),
            (str(short.pk), events_after(0, None)),
        ]
    )
    assert [e["seq"] for e in found[0]] == list(range(1, BATCH + 1))  # the first batch, in order
    assert [e["seq"] for e in found[1]] == list(range(top - 4, top + 1))
    assert [e["seq"] for e in found[2]] == list(range(11, 31))
    assert found[3] == stored(short, 0, None) and len(found[3]) == short.last_seq
