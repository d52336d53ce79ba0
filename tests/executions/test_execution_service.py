"""The programmatic execution service (the execution-service seed's contract): `backend="local"` runs in this
process and waits, `"queue"` records and queues; ValueError for what cannot be called, RuntimeError for a waited
run that failed. Against Azurite, on a queue of the test's own.
"""

import base64
import re
import uuid
from collections.abc import AsyncIterator

import pytest
from azure.storage.queue.aio import QueueClient

from shared import UserError, workflow
from shared.engine.core import Engine
from shared.errors import WorkflowNotFoundError
from shared.executions.service import WorkflowCall, execute_workflow
from shared.executions.services import Services
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionStatus
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionMessage, ExecutionQueue

registry = FunctionRegistry()

with use_registry(registry):

    @workflow(name="svc_echo", execution_mode="async")
    async def svc_echo(context, value: str):
        return {"value": value}

    @workflow(name="svc_refuse", execution_mode="sync")
    async def svc_refuse(context):
        raise UserError("The license pool is empty.")

    @workflow(name="svc_partial", execution_mode="sync")
    async def svc_partial(context):
        return {"success": False, "error": "1 of 2 failed"}


@pytest.fixture
async def services(storage_connection_string: str) -> AsyncIterator[Services]:
    """Services on the test Azurite, with a queue of its own so other tests' workers never take its messages."""
    store = ExecutionStore.from_connection_string(storage_connection_string)
    queue = ExecutionQueue(storage_connection_string, name=f"svc-{uuid.uuid4().hex[:12]}")
    await store.ensure_tables()
    await queue.ensure()
    yield Services(registry=registry, store=store, engine=Engine(registry, store), queue=queue)
    await queue.close()
    await store.close()


async def queued(connection_string: str, services: Services) -> list[ExecutionMessage]:
    async with QueueClient.from_connection_string(connection_string, services.queue.name) as client:
        return [ExecutionMessage.decode(base64.b64decode(m.content)) for m in await client.peek_messages(32)]


async def test_local_runs_in_this_process_and_waits(services: Services, storage_connection_string: str) -> None:
    # When an async-declared workflow is executed with backend="local"
    execution_id = await execute_workflow(services, WorkflowCall("svc_echo", {"value": "v"}), "local")
    # Then it has run by the time the id is returned (its record is Success with the result); nothing was queued
    record = await services.store.get("GLOBAL", execution_id)
    assert record is not None and (record.status, record.output_data) == (ExecutionStatus.SUCCESS, {"value": "v"})
    assert await queued(storage_connection_string, services) == []


async def test_queue_records_pending_and_queues_a_reference(services: Services, storage_connection_string: str) -> None:
    execution_id = await execute_workflow(services, WorkflowCall("svc_echo", {"value": "q"}), "queue")
    record = await services.store.get("GLOBAL", execution_id)
    assert record is not None and record.status is ExecutionStatus.PENDING and record.input_data == {"value": "q"}
    assert await queued(storage_connection_string, services) == [ExecutionMessage(execution_id, "GLOBAL")]


@pytest.mark.parametrize(("backend", "wait"), [("local", True), ("queue", False)])
async def test_a_backend_and_the_wait_it_means_may_be_given_together(services: Services, backend: str,
                                                                     wait: bool) -> None:
    execution_id = await execute_workflow(services, WorkflowCall("svc_echo", {"value": "x"}, wait=wait), backend)
    record = await services.store.get("GLOBAL", execution_id)
    assert record is not None
    assert record.status is (ExecutionStatus.SUCCESS if wait else ExecutionStatus.PENDING)


@pytest.mark.parametrize(
    ("backend", "wait", "says"),
    [
        ("local", False, "backend='local' waits, so it cannot be combined with wait=False"),
        ("queue", True, "backend='queue' queues, so it cannot be combined with wait=True"),
        ("dbos", None, "backend must be 'local' or 'queue', got 'dbos' (Conduit's durable backend"),
        ("thread", None, "backend must be 'local' or 'queue', got 'thread'"),
    ],
)
async def test_an_unknown_or_contradicted_backend_is_a_value_error_and_nothing_runs(
    services: Services, storage_connection_string: str, backend: str, wait: bool | None, says: str
) -> None:
    before, _ = await services.store.list_executions("GLOBAL", workflow="svc_echo", limit=100)
    with pytest.raises(ValueError, match=re.escape(says)):
        await execute_workflow(services, WorkflowCall("svc_echo", {"value": "no"}, wait=wait), backend)
    after, _ = await services.store.list_executions("GLOBAL", workflow="svc_echo", limit=100)
    assert len(after) == len(before) and await queued(storage_connection_string, services) == []


async def test_an_unknown_workflow_is_a_value_error_still_caught_as_workflow_not_found(services: Services) -> None:
    with pytest.raises(ValueError, match="No workflow named 'nope'") as raised:
        await execute_workflow(services, WorkflowCall("nope"), "local")
    assert isinstance(raised.value, WorkflowNotFoundError)


async def test_a_waited_run_that_fails_is_a_runtime_error_with_the_error(services: Services) -> None:
    # When a waited run fails
    with pytest.raises(RuntimeError) as raised:
        await execute_workflow(services, WorkflowCall("svc_refuse"), "local")
    # Then the error says which workflow and run, how it ended and why; the run is recorded Failed
    error = raised.value
    execution_id = error.execution_id  # type: ignore[attr-defined]
    assert str(error) == (f"Workflow 'svc_refuse' (execution {execution_id}) ended Failed: "
                          "UserError: The license pool is empty.")
    record = await services.store.get("GLOBAL", execution_id)
    assert record is not None and record.status is ExecutionStatus.FAILED


async def test_a_failure_inside_a_queued_run_is_not_the_caller_s_error(services: Services) -> None:
    # A queued run has not run yet: the caller gets its id, whatever the run will do
    execution_id = await execute_workflow(services, WorkflowCall("svc_refuse"), "queue")
    record = await services.store.get("GLOBAL", execution_id)
    assert record is not None and record.status is ExecutionStatus.PENDING


async def test_completed_with_errors_returns_the_id(services: Services) -> None:
    # A run that finished and reported its own errors in its result is not a failure of the call
    execution_id = await execute_workflow(services, WorkflowCall("svc_partial"), "local")
    record = await services.store.get("GLOBAL", execution_id)
    assert record is not None and record.status is ExecutionStatus.COMPLETED_WITH_ERRORS


async def test_without_a_backend_the_declared_mode_decides(services: Services) -> None:
    execution_id = await execute_workflow(services, WorkflowCall("svc_echo", {"value": "d"}))
    record = await services.store.get("GLOBAL", execution_id)
    assert record is not None and record.status is ExecutionStatus.PENDING  # svc_echo is declared async
