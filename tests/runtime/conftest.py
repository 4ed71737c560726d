"""Fixtures shared by the runtime tests."""

from __future__ import annotations

from collections.abc import AsyncIterator

import httpx
import pytest


@pytest.fixture
async def client() -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client for the providers under test (closed after the test)."""
    async with httpx.AsyncClient() as http:
        yield http
