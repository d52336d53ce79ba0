"""Fixtures of the forms tests: the test workspace's functions, services on the session Azurite, devhost hosts."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from shared.engine.core import Engine
from shared.executions.services import Services
from shared.forms.service import FormService
from shared.functions.discovery import discover
from shared.functions.registry import FunctionRegistry
from shared.storage.executions import ExecutionStore
from shared.storage.forms import FormStore
from shared.storage.queues import ExecutionQueue
from tests.e2e.conftest import ConduitHost, ConduitHosts

WORKSPACE = Path(__file__).resolve().parent / "workspace"


@pytest.fixture(scope="session")
def forms_registry() -> FunctionRegistry:
    """The test workspace's providers and workflows (imported once per process: a module registers once)."""
    registry = FunctionRegistry()
    report = discover(registry, [(WORKSPACE, "workspace")])
    assert not report.errors, report.errors
    return registry


@pytest.fixture
async def form_service(forms_registry: FunctionRegistry, storage_connection_string: str) -> AsyncIterator[FormService]:
    """A FormService on real Azurite tables and queue, with an engine over the test workspace."""
    store = ExecutionStore.from_connection_string(storage_connection_string)
    queue = ExecutionQueue(storage_connection_string)
    forms = FormStore.from_connection_string(storage_connection_string)
    await store.ensure_tables()
    await queue.ensure()
    await forms.ensure_table()
    engine = Engine(forms_registry, store)
    services = Services(registry=forms_registry, store=store, engine=engine, queue=queue)
    try:
        yield FormService(services, forms)
    finally:
        engine.close()
        await forms.close()
        await queue.close()
        await store.close()


@pytest.fixture(scope="module")
async def forms_host(tmp_path_factory: pytest.TempPathFactory, storage_connection_string: str) -> AsyncIterator[
        ConduitHost]:
    """One devhost serving Conduit with the forms test workspace, shared by a module's tests."""
    hosts = ConduitHosts(tmp_path_factory.mktemp("forms-hosts"), storage_connection_string)
    try:
        yield await hosts.start(env={"CONDUIT_WORKSPACE": str(WORKSPACE)})
    finally:
        await hosts.stop_all()
