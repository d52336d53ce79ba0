"""Recovery across real devhost processes: a dead host's execution is re-run within about a lease length whatever its
timeout, code that kills its host ends Failed (HostDied), shutdown is bounded, and polling resumes after an outage."""

from __future__ import annotations

import asyncio
import json
import signal
import time
from pathlib import Path

from shared.models import ExecutionRecord, ExecutionStatus
from shared.storage.executions import ExecutionStore
from tests.e2e.conftest import ConduitHost, ConduitHosts, wait_for_record

HTTP_ONLY = {"AzureWebJobs.run_queued_execution.Disabled": "true"}
# Short leases, a recovery pass every second, and a queue lease so long that only recovery can bring a message back.
RECOVERY = {
    "CONDUIT_LEASE_SECONDS": "3",
    "CONDUIT_RECOVERY_SCHEDULE": "*/1 * * * * *",
    "DEVHOST_QUEUE_LEASE_SECONDS": "600",
}


async def _submit(host: ConduitHost, name: str, input_data: dict) -> str:
    response = await host.client.post(f"/api/workflows/{name}/execute", json={"input_data": input_data})
    assert response.status_code == 202, response.text
    return response.json()["execution_id"]


def _host_running(hosts: list[ConduitHost], record: ExecutionRecord) -> ConduitHost:
    pid = int((record.lease_owner or "::").split(":")[1])
    return next(host for host in hosts if host.pid == pid)


async def test_a_killed_hosts_long_timeout_execution_is_rerun_within_a_few_leases(
    conduit_hosts: ConduitHosts, storage_connection_string
) -> None:
    # Given an HTTP host and two workers, 3 s leases, and an execution with a 120 s timeout running on one worker
    api = await conduit_hosts.start(env=HTTP_ONLY | RECOVERY)
    workers = [await conduit_hosts.start(http=False, env=RECOVERY) for _ in range(2)]
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        execution_id = await _submit(api, "slow_120", {"seconds": 4})
        running = await wait_for_record(store, execution_id, lambda r: r.status is ExecutionStatus.RUNNING)
        # When the worker running it is killed
        victim = _host_running(workers, running)
        victim.kill()
        killed_at = time.monotonic()
        # Then attempt 2 starts within a few lease lengths, not at its 120 s deadline nor when the 600 s queue lease
        # lapses (the 60 s bound is generous, for a busy machine)
        await wait_for_record(store, execution_id, lambda r: r.attempt == 2, timeout=60)
        rerun_after = time.monotonic() - killed_at
        record = await wait_for_record(store, execution_id, lambda r: r.status.is_terminal, timeout=30)
    assert rerun_after < 60, f"attempt 2 started {rerun_after:.1f}s after the kill"
    assert record.status is ExecutionStatus.SUCCESS and record.attempt == 2
    print(f"attempt 2 started {rerun_after:.1f}s after the kill (lease 3 s)")


async def test_code_that_kills_its_host_ends_failed_host_died(
    conduit_hosts: ConduitHosts, storage_connection_string
) -> None:
    # Given two attempts allowed, an HTTP host (which runs the recovery timer) and one worker
    settings = RECOVERY | {"CONDUIT_MAX_ATTEMPTS": "2"}
    api = await conduit_hosts.start(env=HTTP_ONLY | settings)
    worker = await conduit_hosts.start(http=False, env=settings)
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        # When a workflow that calls os._exit is submitted, and every worker it kills is replaced by a fresh one
        execution_id = await _submit(api, "exit_host", {})
        for attempt in (1, 2):
            assert await worker.wait(timeout=30) == 3, f"attempt {attempt} did not end its host"
            await wait_for_record(store, execution_id, lambda r, a=attempt: r.attempt == a)
            worker = await conduit_hosts.start(http=False, env=settings)
        # Then after the second attempt it is Failed, HostDied, with a reason saying so, and the new worker lives
        record = await wait_for_record(store, execution_id, lambda r: r.status.is_terminal, timeout=30)
    assert record.status is ExecutionStatus.FAILED and record.error_type == "HostDied", record
    assert record.attempt == 2 and "died while running it" in (record.error_message or "")
    await asyncio.sleep(1)
    assert worker.returncode is None


async def test_a_never_returning_sync_thread_does_not_keep_the_host_alive(conduit_hosts: ConduitHosts) -> None:
    # Given a host whose sync workflow timed out with its thread still blocked forever
    host = await conduit_hosts.start(args=["--grace-period", "2"])
    response = await host.client.post("/api/workflows/stuck_thread/execute", json={"input_data": {}})
    assert response.json()["status"] == "Timeout"
    # When it is stopped like Ctrl-C
    stopped_at = time.monotonic()
    host.kill(signal.SIGTERM)
    # Then it exits within the grace period and a few seconds, saying it did not wait for the thread
    await host.wait(timeout=2 + 15)
    took = time.monotonic() - stopped_at
    assert "Host stopped" in host.log() and "still running" in host.log()
    print(f"exited {took:.1f}s after SIGTERM (grace 2 s)")


async def test_queue_pickup_resumes_promptly_after_a_queue_outage(
    conduit_hosts: ConduitHosts, storage_connection_string, tmp_path: Path
) -> None:
    # Given a worker whose queue requests fail (an outage injected through the fault seam), and an execution queued
    rules = tmp_path / "faults.json"
    rules.write_text("[]")
    api = await conduit_hosts.start(env=HTTP_ONLY)
    await conduit_hosts.start(http=False, env={"CONDUIT_STORAGE_FAULTS": f"@{rules}"})
    rules.write_text(json.dumps([{"match": "queue.*", "fault": "error", "status": 503}]))
    await asyncio.sleep(1)
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        execution_id = await _submit(api, "sleepy", {"seconds": 0})
        await asyncio.sleep(4)  # long enough for SDK-level retries to back off far (they did for ~45 s)
        assert (await store.get("GLOBAL", execution_id)).status is ExecutionStatus.PENDING
        # When the outage ends
        rules.write_text("[]")
        ended_at = time.monotonic()
        # Then the execution is picked up within seconds, not after the SDK's retries have backed off (for ~45 s;
        # the 20 s bound is generous, for a busy machine, and still below that)
        await wait_for_record(store, execution_id, lambda r: r.status.is_terminal, timeout=30)
    took = time.monotonic() - ended_at
    assert took < 20, f"picked up {took:.1f}s after the outage ended"
    print(f"picked up {took:.1f}s after the outage ended")
