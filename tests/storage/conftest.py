"""Fixtures of the storage tests: an ExecutionStore on the session's Azurite, with or without a request counter."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.storage import ExecutionStore, RequestCounter


@pytest.fixture
async def store(storage_connection_string: str) -> AsyncIterator[ExecutionStore]:
    async with ExecutionStore.from_connection_string(storage_connection_string) as opened:
        await opened.ensure_tables()
        yield opened


@pytest.fixture
def counter() -> RequestCounter:
    return RequestCounter()


@pytest.fixture
async def counted_store(storage_connection_string: str, counter: RequestCounter) -> AsyncIterator[ExecutionStore]:
    """A store whose requests are counted by `counter` (reset after the tables are created)."""
    async with ExecutionStore.from_connection_string(storage_connection_string, counter=counter) as opened:
        await opened.ensure_tables()
        counter.reset()
        yield opened
