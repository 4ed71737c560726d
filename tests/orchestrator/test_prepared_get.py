"""A get compiled once (orchestrator.prepared_get) gives what the ORM's get gives, and takes
the run's lock as the ORM's select_for_update does."""

from __future__ import annotations

import threading
import time

import pytest
from django.contrib.auth.models import User
from django.db import connection, connections, transaction
from django.test.utils import CaptureQueriesContext

from editor.models import Workflow
from orchestrator import runs
from orchestrator.models import Run
from orchestrator.prepared_get import PreparedGet
from orchestrator.unit_of_work import _run_locked

pytestmark = pytest.mark.django_db


def started(user: User, workflow: Workflow) -> Run:
    run = runs.start_run(workflow, {"topic": "owls"}, actor=user, via="session")
    Run.objects.filter(pk=run.pk).update(budget={"cost": 1.5})
    return run


def test_it_gives_the_objects_the_orm_gives(alice: User, workflow: Workflow) -> None:
    run = started(alice, workflow)
    prepared = PreparedGet(_run_locked)
    with transaction.atomic():
        ours = prepared.get(run.pk)
        again = prepared.get(run.pk)  # the second call runs the compiled SQL
        theirs = _run_locked().get(pk=run.pk)
    for got in (ours, again):
        assert type(got) is type(theirs)
        assert got.get_deferred_fields() == theirs.get_deferred_fields() == {"input", "output"}
        for field in Run._meta.concrete_fields:
            if field.attname not in ("input", "output"):
                assert getattr(got, field.attname) == getattr(theirs, field.attname), field
        assert got.budget == {"cost": 1.5}  # a JSON field decoded, as the ORM's converters do
        # The version came with it (no query), its graph deferred as asked.
        with CaptureQueriesContext(connection) as queries:
            assert got.version.pk == theirs.version.pk
            assert got.version.created_at == theirs.version.created_at
        assert queries.captured_queries == []
        assert got.version.get_deferred_fields() == theirs.version.get_deferred_fields()
        assert got._state.db == "default" and not got._state.adding
    assert ours.input == {"topic": "owls"}  # a deferred field is still read when asked for


def test_a_missing_row_raises_does_not_exist(alice: User, workflow: Workflow) -> None:
    run = started(alice, workflow)
    prepared = PreparedGet(_run_locked)
    with transaction.atomic():
        prepared.get(run.pk)
        Run.objects.filter(pk=run.pk).delete()
        with pytest.raises(Run.DoesNotExist):
            prepared.get(run.pk)


def test_a_query_with_more_than_the_key_for_parameters_is_refused(
    alice: User, workflow: Workflow
) -> None:
    run = started(alice, workflow)
    prepared = PreparedGet(lambda: Run.objects.filter(status="running"))
    with pytest.raises(ValueError, match="one parameter"):
        prepared.get(run.pk)


@pytest.mark.django_db(transaction=True)
def test_it_holds_the_row_lock_until_its_transaction_ends(alice: User, workflow: Workflow) -> None:
    if not connection.features.has_select_for_update:
        pytest.skip("this database has no row locks (SQLite locks the whole file)")
    run = started(alice, workflow)
    prepared = PreparedGet(_run_locked)
    took: list[float] = []

    def other() -> None:
        try:
            with transaction.atomic():
                began = time.monotonic()
                prepared.get(run.pk)  # waits for the lock this thread's caller holds
                took.append(time.monotonic() - began)
        finally:
            connections.close_all()

    with transaction.atomic():
        prepared.get(run.pk)
        thread = threading.Thread(target=other)
        thread.start()
        thread.join(0.5)
        assert thread.is_alive(), "the second lock was granted while the first was held"
    thread.join(10)
    assert not thread.is_alive() and len(took) == 1
