"""Supervision across real devhost processes: a blocked event loop does not let another host run an execution twice."""

from __future__ import annotations

import asyncio

from shared.models import ExecutionStatus
from shared.storage.executions import ExecutionStore
from tests.e2e.conftest import ConduitHosts, wait_for_record
from tests.e2e.test_async_e2e import FAST_LEASES, HTTP_ONLY, _host_running, _submit


async def test_a_blocked_loop_keeps_its_lease_and_is_not_taken_over(
    conduit_hosts: ConduitHosts, storage_connection_string
) -> None:
    # Given two worker hosts with 3-second leases (their queue messages come back after 4 s)
    api = await conduit_hosts.start(env=HTTP_ONLY | FAST_LEASES)
    workers = [await conduit_hosts.start(http=False, env=FAST_LEASES) for _ in range(2)]
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        # When an async workflow blocks its host's event loop with time.sleep for 40 s
        execution_id = await _submit(api, "blocks_loop", {"seconds": 40})
        running = await wait_for_record(store, execution_id, lambda r: r.status is ExecutionStatus.RUNNING)
        runner = _host_running(workers, running)
        expiries = set()
        for _ in range(10):  # 10 s into the block: the lease still moves, renewed from the supervisor's thread
            await asyncio.sleep(1)
            current = await store.get("GLOBAL", execution_id)
            assert current is not None and current.status is ExecutionStatus.RUNNING, current
            expiries.add(current.lease_expires_at)
        record = await wait_for_record(store, execution_id, lambda r: r.status.is_terminal, timeout=80)
    # Then it finished once, on its first attempt, with its result; the other host never ran it
    assert len(expiries) >= 5
    assert record.status is ExecutionStatus.SUCCESS and record.attempt == 1, record
    assert record.output_data == {"blocked": 40}
    other = next(worker for worker in workers if worker is not runner)
    assert "taking over execution" not in other.log() and "blocking the loop" not in other.log()
    logs = (await api.client.get(f"/api/workflows/executions/{execution_id}/logs")).json()["items"]
    messages = [line["message"] for line in logs]
    assert messages[0] == "blocking the loop for 40s" and messages[-1] == "unblocked"
    assert sum("blocking the loop" in m for m in messages) == 1
    # And the watchdog named the blocking code, on the host and in the execution's own logs
    host_log = runner.log()
    assert "event loop blocked for" in host_log and f"by execution {execution_id} (blocks_loop)" in host_log
    assert "time.sleep(seconds)" in host_log
    assert "event loop runs again after being blocked for" in host_log
    watchdog_lines = [line for line in logs if line["logger"] == "conduit.watchdog"]
    assert watchdog_lines and "blocks_loop" in watchdog_lines[0]["message"]
