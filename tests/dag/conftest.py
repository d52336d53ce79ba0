"""Fixtures of the DAG tests: an execution store and a config store on the session's Azurite."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from shared.storage.clients import RequestCounter
from shared.storage.config import ConfigStore
from shared.storage.executions import ExecutionStore


@pytest.fixture
def counter() -> RequestCounter:
    return RequestCounter()


@pytest.fixture
async def execution_store(storage_connection_string: str, counter: RequestCounter) -> AsyncIterator[ExecutionStore]:
    """A store whose every request is counted by `counter`."""
    async with ExecutionStore.from_connection_string(storage_connection_string, counter=counter) as store:
        await store.ensure_tables()
        yield store


@pytest.fixture
async def config_store(storage_connection_string: str) -> AsyncIterator[ConfigStore]:
    store = ConfigStore.from_connection_string(storage_connection_string)
    await store.ensure_table()
    try:
        yield store
    finally:
        await store.close()
