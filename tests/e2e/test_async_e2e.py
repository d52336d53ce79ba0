"""Asynchronous executions across real devhost processes: the queue trigger, host crashes and cross-host cancel."""

from __future__ import annotations

import time

from shared.models import ExecutionRecord, ExecutionStatus
from shared.storage.executions import ExecutionStore
from tests.e2e.conftest import ConduitHost, ConduitHosts, wait_for_record

# Hosts that serve HTTP only: their queue trigger is disabled, so queued work runs on the worker hosts.
HTTP_ONLY = {"AzureWebJobs.run_queued_execution.Disabled": "true"}
FAST_LEASES = {"CONDUIT_LEASE_SECONDS": "3", "DEVHOST_QUEUE_LEASE_SECONDS": "4"}


async def _submit(host: ConduitHost, name: str, input_data: dict) -> str:
    response = await host.client.post(f"/api/workflows/{name}/execute", json={"input_data": input_data})
    assert response.status_code == 202, response.text
    assert response.headers["location"] == f"/api/workflows/executions/{response.json()['execution_id']}"
    return response.json()["execution_id"]


def _host_running(hosts: list[ConduitHost], record: ExecutionRecord) -> ConduitHost:
    pid = int((record.lease_owner or "::").split(":")[1])
    return next(host for host in hosts if host.pid == pid)


async def test_async_execution_runs_on_a_worker_host(conduit_hosts: ConduitHosts, storage_connection_string) -> None:
    # Given an HTTP host and a separate worker host on the same storage
    api = await conduit_hosts.start(env=HTTP_ONLY)
    worker = await conduit_hosts.start(http=False)
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        # When an async workflow is submitted
        execution_id = await _submit(api, "sleepy", {"seconds": 0.2})
        # Then the worker runs it to Success and the HTTP host serves its record and logs
        record = await wait_for_record(store, execution_id, lambda r: r.status.is_terminal)
    assert record.status is ExecutionStatus.SUCCESS and record.output_data == {"slept": 0.2}
    assert record.lease_owner is None and "run_queued_execution" in worker.log()
    logs = (await api.client.get(f"/api/workflows/executions/{execution_id}/logs")).json()["items"]
    assert [line["message"] for line in logs] == ["sleeping 0.200s", "woke up after 0.200s"]


async def test_killed_worker_is_taken_over_by_another(conduit_hosts: ConduitHosts, storage_connection_string) -> None:
    # Given an HTTP host and two worker hosts with short leases
    api = await conduit_hosts.start(env=HTTP_ONLY | FAST_LEASES)
    workers = [await conduit_hosts.start(http=False, env=FAST_LEASES) for _ in range(2)]
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        execution_id = await _submit(api, "sleepy", {"seconds": 3})
        running = await wait_for_record(store, execution_id, lambda r: r.status is ExecutionStatus.RUNNING)
        # When the worker running it is killed with SIGKILL
        victim = _host_running(workers, running)
        victim.kill()
        await victim.wait()
        # Then the other worker takes it over and completes it, counting a second attempt
        record = await wait_for_record(store, execution_id, lambda r: r.status.is_terminal, timeout=40)
    assert record.status is ExecutionStatus.SUCCESS and record.attempt == 2
    survivor = next(w for w in workers if w is not victim)
    assert "taking over execution" in survivor.log()


async def test_cancel_reaches_the_worker_on_another_host(
    conduit_hosts: ConduitHosts, storage_connection_string
) -> None:
    # Given a long execution running on a worker host
    api = await conduit_hosts.start(env=HTTP_ONLY)
    await conduit_hosts.start(http=False)
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        execution_id = await _submit(api, "sleepy", {"seconds": 25})
        await wait_for_record(store, execution_id, lambda r: r.status is ExecutionStatus.RUNNING)
        # When it is cancelled through the HTTP host
        response = await api.client.post(f"/api/workflows/executions/{execution_id}/cancel")
        asked = time.monotonic()
        assert response.status_code == 202 and response.json()["status"] == "Cancelling"
        # Then the worker stops it (its supervisor polls every second), long before the 25 s sleep would end: the
        # 15 s bound is generous, for a busy machine
        record = await wait_for_record(store, execution_id, lambda r: r.status.is_terminal, timeout=20)
        took = time.monotonic() - asked
    assert record.status is ExecutionStatus.CANCELLED and record.error_message == "Execution cancelled by user"
    assert took < 15
    logs = (await api.client.get(f"/api/workflows/executions/{execution_id}/logs")).json()["items"]
    assert [line["message"] for line in logs] == ["sleeping 25.000s", "Execution cancelled by user"]
