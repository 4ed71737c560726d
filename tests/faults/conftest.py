"""Faults on the real stack: real PostgreSQL, Redis, Celery workers and Daphne, broken on purpose.

Each test asserts that every run still completes correctly, no step completes twice and no event
is lost. Timings are printed, never asserted (the figures belong to ``bench/``).
"""

from __future__ import annotations

from tests.orchestrator.conftest import (  # noqa: F401  (fixtures, registered by being imported here)
    alice,
    alice_workspace,
    api,
    fast_password_hashing,
    stack,
    stack_daphne,
    stack_database_url,
    stack_vendor,
    stack_worker,
    vendor,
)
