"""DagLibrary as the engine's resolver (real Azurite, storage requests counted): what a run by name costs, which
scope wins, and that a pinned version is found after the DAG changed or was deleted."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest

from shared.dag.library import DagLibrary
from shared.engine.core import Engine
from shared.errors import WorkflowNotFoundError
from shared.functions.registry import FunctionRegistry
from shared.models import GLOBAL_SCOPE, Caller, ExecutionRequest
from shared.storage.account import StorageAccount
from shared.storage.clients import RequestCounter
from shared.storage.dags import DagStore


def dag(name: str, factor: int) -> dict[str, object]:
    return {"name": name, "description": f"times {factor}", "parameters": [{"name": "n", "type": "int"}],
            "nodes": [{"id": "scale", "type": "transform", "data": {"value": f"{{{{ inputs.n * {factor} }}}}"}}],
            "edges": []}


@pytest.fixture
async def counted(storage_connection_string: str) -> AsyncIterator[tuple[DagLibrary, RequestCounter]]:
    counter = RequestCounter()
    store = DagStore.open(StorageAccount.from_connection_string(storage_connection_string), counter=counter)
    await store.ensure_table()
    try:
        yield DagLibrary(store, FunctionRegistry(), cache_size=4), counter
    finally:
        await store.close()


def admin(scope: str) -> Caller:
    return Caller(user_id="root", is_platform_admin=True, scope=scope, email="root@example.com")


async def test_a_run_by_name_costs_one_small_read_once_its_version_is_in_memory(
    counted: tuple[DagLibrary, RequestCounter],
) -> None:
    # Given a DAG of an organization
    library, counter = counted
    org, name = f"org-{uuid.uuid4().hex[:8]}", f"lib_{uuid.uuid4().hex[:8]}"
    await library.create(admin(org), dag(name, 2))
    counter.reset()
    # When it is resolved for a run three times
    first = await library.resolve(org, name)
    cost_first = counter.reset()
    for _ in range(2):
        again = await library.resolve(org, name)
    cost_again = counter.reset()
    # Then the first costs the head's version and the version row, later ones the head's version only
    assert first is not None and again is not None and again.metadata is first.metadata
    assert (first.scope, first.version, cost_first, cost_again) == (org, 1, 2, 2)
    # And a pinned version already in memory costs nothing
    pinned = await library.resolve(org, name, 1, org)
    assert pinned is first and counter.reset() == 0


async def test_an_organization_shadows_a_global_dag_and_a_pin_outlives_change_and_delete(
    counted: tuple[DagLibrary, RequestCounter],
) -> None:
    # Given a global DAG and, in one organization, a DAG of the same name
    library, _ = counted
    org, other = f"org-{uuid.uuid4().hex[:8]}", f"org-{uuid.uuid4().hex[:8]}"
    name = f"lib_{uuid.uuid4().hex[:8]}"
    await library.create(admin(GLOBAL_SCOPE), dag(name, 2))
    await library.create(admin(org), dag(name, 7))
    # Then each scope resolves to its nearest
    own, shared = await library.resolve(org, name), await library.resolve(other, name)
    assert own is not None and (own.scope, own.metadata.description) == (org, "times 7")
    assert shared is not None and (shared.scope, shared.metadata.description) == (GLOBAL_SCOPE, "times 2")
    # When the global DAG changes and then is deleted
    await library.update(admin(GLOBAL_SCOPE), name, dag(name, 3), None)
    await library.delete(admin(GLOBAL_SCOPE), name)
    # Then a run pinned to its version 1 still finds it, from a fresh process (an empty cache) too
    fresh = DagLibrary(library.store, FunctionRegistry())
    pinned = await fresh.resolve(other, name, 1, GLOBAL_SCOPE)
    assert pinned is not None and pinned.metadata.description == "times 2"
    # And by name it is gone for the other organization
    assert await fresh.resolve(other, name) is None


async def test_the_engine_pins_the_current_version_and_refuses_a_lost_one(
    counted: tuple[DagLibrary, RequestCounter],
) -> None:
    # Given an engine whose resolver is the library, and a DAG at version 2
    library, _ = counted
    org, name = f"org-{uuid.uuid4().hex[:8]}", f"lib_{uuid.uuid4().hex[:8]}"
    await library.create(admin(org), dag(name, 2))
    await library.update(admin(org), name, dag(name, 5), None)
    engine = Engine(FunctionRegistry())
    engine.resolver = library
    try:
        # When a request names it
        request = ExecutionRequest(caller=admin(org), name=name, parameters={"n": 1})
        await engine.resolve(request)
        # Then it is pinned to version 2 of the organization, and prepares as that definition
        assert (request.definition_version, request.definition_scope) == (2, org)
        assert engine.prepare(request).metadata is request.definition
        # And a request pinned to a version storage does not hold cannot run as anything else
        lost = ExecutionRequest(caller=admin(org), name=name, definition_version=9, definition_scope=org)
        with pytest.raises(WorkflowNotFoundError):
            await engine.resolve(lost)
    finally:
        engine.close()
