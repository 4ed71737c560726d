"""Browser tests: real Chromium (Debian's, driven by Playwright's sync API) against the real stack,
Daphne serving the built canvas (static/app/) and one Celery worker with two prefork processes,
on the pytest-django test database and Redis db 5, or ``STACK_REDIS_URL`` (see
:mod:`tests.support.stack`).

Fixtures: ``browser`` (Chromium for the whole package), ``workers``, ``alice`` (a user with a
known password), ``page`` (a fresh 1280×800 page on Daphne, not signed in) and ``app`` (the same
page signed in through the real /login/ form, on the workflow list).

Playwright's sync API keeps an asyncio loop running on this thread while it is started, so two
things are scoped to this package rather than the session: the browser is closed before any later
async test needs the loop, and ``DJANGO_ALLOW_ASYNC_UNSAFE`` is set only meanwhile (the ORM, used
by the tests and by pytest-django's flush, refuses to run when it sees that loop).

Chromium comes from apt (``apt-get install chromium``; ``./dev test`` does it as root); without
/usr/bin/chromium these tests are skipped. Never ``playwright install``.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.contrib.auth.models import User
from playwright.sync_api import Browser, Page, expect, sync_playwright

from editor import operations
from tests.browser.session import PASSWORD, USERNAME, fresh_page, log_in
from tests.support import stack as stack_support
from tests.support.stack import CeleryWorker, Daphne, Stack

# The stack's fixtures, registered here by name (the real processes: see tests/support/stack.py).
stack = stack_support.stack
stack_daphne = stack_support.stack_daphne
stack_database_url = stack_support.stack_database_url
stack_vendor = stack_support.stack_vendor
vendor = stack_support.vendor

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
# Waits for things the stack does (a run, a save) and for the UI to react; generous on a slow CI.
expect.set_options(timeout=15_000)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    """Remember each phase's report on the item, so ``page`` can keep a screenshot of a failure."""
    report = yield
    setattr(item, f"report_{report.when}", report)
    return report


@pytest.fixture(scope="package")
def browser() -> Iterator[Browser]:
    if not CHROMIUM.exists():
        pytest.skip("browser tests need Chromium: apt-get install -y chromium")
    before = os.environ.get("DJANGO_ALLOW_ASYNC_UNSAFE")
    os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = "true"
    try:
        with sync_playwright() as playwright:
            launched = playwright.chromium.launch(
                executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
            )
            try:
                yield launched
            finally:
                launched.close()
    finally:
        if before is None:
            os.environ.pop("DJANGO_ALLOW_ASYNC_UNSAFE", None)
        else:
            os.environ["DJANGO_ALLOW_ASYNC_UNSAFE"] = before


@pytest.fixture(scope="package")
def workers(stack: Stack) -> Iterator[CeleryWorker]:
    """One Celery worker with two prefork processes for the browser tests. Its outbound guard
    admits loopback, where the tests' MCP servers listen, as an operator would allow servers on
    the same machine."""
    with stack.worker(concurrency=2, env={"OUTBOUND_ALLOWLIST": "127.0.0.1"}) as worker:
        yield worker


@pytest.fixture
def alice(transactional_db: None) -> User:
    """A committed user with a known password and the default (production) hasher: Daphne checks
    it, and its settings know nothing of a faster test hasher."""
    user = User.objects.create_user(USERNAME, "alice@example.org", PASSWORD)
    operations.ensure_personal_workspace(user)
    return user


@pytest.fixture
def page(
    browser: Browser,
    stack: Stack,
    stack_daphne: Daphne,
    workers: CeleryWorker,
    request: pytest.FixtureRequest,
    tmp_path: Path,
) -> Iterator[Page]:
    """A fresh 1280×800 page (its own cookies and storage) with Daphne as base URL.

    Fails the test if the page threw an uncaught error; on a failure keeps a screenshot and the
    stack's logs next to the test's tmp_path."""
    context, fresh, errors = fresh_page(browser, stack_daphne)
    try:
        yield fresh
        reports = [getattr(request.node, f"report_{when}", None) for when in ("setup", "call")]
        if any(report is not None and report.failed for report in reports):
            shot = tmp_path / "failure.png"
            if not fresh.is_closed():
                fresh.screenshot(path=str(shot))
            print(f"\nscreenshot of the failure: {shot}\nurl: {fresh.url}\n{stack.logs()}")
        assert not errors, f"uncaught errors in the page: {errors}"
    finally:
        context.close()


@pytest.fixture
def app(page: Page, alice: User) -> Page:
    """``page``, signed in as alice, on the workflow list."""
    log_in(page)
    return page
