"""Session-wide test fixtures: one real Azurite (in memory, free ports) for the whole run."""

from __future__ import annotations

import os
from collections.abc import Iterator

import pytest

from devhost.azurite import Azurite, start_azurite

# The test process hosts many executions that time out on purpose; it must never recycle (exit) itself. Tests of
# recycling use a Recycler of their own; devhost processes started by tests get their own settings.
os.environ.setdefault("CONDUIT_MAX_ABANDONED", "100000")


@pytest.fixture(scope="session")
def azurite() -> Iterator[Azurite]:
    """A real Azurite process shared by every test of the session; no storage SDK is ever mocked."""
    instance = start_azurite()
    try:
        yield instance
    finally:
        instance.stop()


@pytest.fixture(scope="session")
def storage_connection_string(azurite: Azurite) -> str:
    return azurite.connection_string
