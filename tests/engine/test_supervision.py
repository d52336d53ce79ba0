"""Supervision of persisted executions against the session's Azurite: leases, cancel requests, log flushes, costs.

The supervisor runs on its own thread with its own loop and storage clients; these tests give it a short lease and
poll interval and watch what it writes to the record.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest

from shared import ExecutionContext, workflow
from shared.engine.core import Engine
from shared.engine.leases import WORKER_ID
from shared.engine.supervision import Supervisor, installed
from shared.engine.watchdog import LoopWatchdog
from shared.errors import StaleRecordError
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRecord, ExecutionRequest, ExecutionResult, ExecutionStatus, new_execution_id, utc_now
from shared.storage import faults
from shared.storage.clients import RequestCounter
from shared.storage.executions import ExecutionStore

LEASE = 1.5
POLL = 0.2
registry = FunctionRegistry()

with use_registry(registry):

    @workflow(name="naps", timeout_seconds=60)
    async def naps(context: ExecutionContext, seconds: float = 5.0, pad: str = "") -> dict:
        context.logger.info("napping %.1fs", seconds)
        await asyncio.sleep(seconds)
        return {"napped": seconds}

    @workflow(name="chatty", timeout_seconds=60)
    async def chatty(context: ExecutionContext, lines: int = 40, every: float = 0.1) -> int:
        for number in range(lines):
            context.logger.info("line %d", number)
            await asyncio.sleep(every)
        return lines


@dataclass
class Supervised:
    engine: Engine
    store: ExecutionStore
    supervisor: Supervisor
    requests: RequestCounter

    async def running(self, name: str, parameters: dict, *, deadline_in: float | None = None) -> ExecutionRecord:
        """A record as a queue worker claims it: Running, leased to this worker for LEASE seconds."""
        now = utc_now()
        record = ExecutionRecord(
            id=new_execution_id(), scope="GLOBAL", workflow_name=name, status=ExecutionStatus.RUNNING,
            trigger={"kind": "queue"}, input_data=parameters, started_at=now, timeout_seconds=60,
            lease_owner=WORKER_ID, lease_expires_at=now + timedelta(seconds=LEASE),
            deadline_at=now + timedelta(seconds=deadline_in) if deadline_in is not None else None,
        )
        return await self.store.create(record)

    async def cancel(self, record: ExecutionRecord) -> None:
        """Mark it Cancelling as the cancel endpoint does: re-read when a renewal changed it meanwhile."""
        for _ in range(10):
            current = await self.store.get("GLOBAL", record.id)
            assert current is not None
            try:
                await self.store.update(current, status=ExecutionStatus.CANCELLING)
                return
            except StaleRecordError:
                continue
        raise AssertionError("could not mark the execution Cancelling")

    async def watch(self, record: ExecutionRecord, seconds: float) -> list[ExecutionRecord]:
        """Read the record every 0.1 s for `seconds` (or until it is terminal)."""
        seen: list[ExecutionRecord] = []
        until = time.monotonic() + seconds
        while time.monotonic() < until:
            current = await self.store.get("GLOBAL", record.id)
            assert current is not None
            seen.append(current)
            if current.status.is_terminal:
                break
            await asyncio.sleep(0.1)
        return seen


@pytest.fixture
async def supervised(storage_connection_string: str) -> AsyncIterator[Supervised]:
    counter = RequestCounter()
    supervisor = Supervisor(storage_connection_string, lease_seconds=LEASE, poll_seconds=POLL, counter=counter)
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        await store.ensure_tables()
        engine = Engine(registry, store)
        with installed(supervisor):
            yield Supervised(engine, store, supervisor, counter)
        engine.close()


def _expiries(seen: list[ExecutionRecord]) -> list[datetime]:
    return [r.lease_expires_at for r in seen if r.lease_expires_at is not None]


async def test_the_lease_keeps_moving_while_an_execution_runs(supervised: Supervised) -> None:
    # Given a claimed execution that runs for 4 seconds, four times its lease
    record = await supervised.running("naps", {"seconds": 4})
    run = asyncio.ensure_future(supervised.engine.run_claimed(record))
    # When it runs
    seen = await supervised.watch(record, 3.5)
    result = await run
    # Then its lease was renewed all along and never lapsed; the execution finished once, lease released
    assert result is not None and result.status is ExecutionStatus.SUCCESS
    running = [r for r in seen if not r.status.is_terminal]
    assert len(set(_expiries(running))) >= 3
    assert all(r.lease_expires_at > r.started_at for r in running if r.lease_expires_at and r.started_at)
    final = await supervised.store.get("GLOBAL", record.id)
    assert final is not None and final.status is ExecutionStatus.SUCCESS and final.lease_owner is None


async def test_a_cancel_request_stops_the_run_within_a_few_seconds(supervised: Supervised) -> None:
    # Given an execution that would run for 30 seconds
    record = await supervised.running("naps", {"seconds": 30})
    run = asyncio.ensure_future(supervised.engine.run_claimed(record))
    await asyncio.sleep(0.5)
    # When a cancel request marks its record Cancelling (as the cancel endpoint on any host does)
    await supervised.cancel(record)
    # Then the supervisor has the run stopped: Cancelled, recorded so, long before the 30 s nap would have ended
    # (it polls every 0.2 s; the 20 s bound is generous for a busy machine)
    result = await asyncio.wait_for(run, 20)
    assert result is not None and result.status is ExecutionStatus.CANCELLED
    final = await supervised.store.get("GLOBAL", record.id)
    assert final is not None and final.status is ExecutionStatus.CANCELLED and final.lease_owner is None


async def test_the_lease_is_never_renewed_past_the_deadline(supervised: Supervised) -> None:
    # Given an execution still running 2 seconds after its deadline (the engine does not know: its timeout is 60 s)
    record = await supervised.running("naps", {"seconds": 5}, deadline_in=2.5)
    deadline = record.deadline_at
    assert deadline is not None
    run = asyncio.ensure_future(supervised.engine.run_claimed(record))
    # When the supervisor keeps watching it
    seen = await supervised.watch(record, 4.5)
    await run
    # Then the lease moved until the deadline, never beyond it
    running = [r for r in seen if not r.status.is_terminal]
    assert len(set(_expiries(running))) >= 2
    assert all(expiry <= deadline for expiry in _expiries(running))
    # And once the deadline has passed it stays there: the lease lapses, so clean-up or another host can act
    assert {r.lease_expires_at for r in running[-10:]} == {deadline}


@pytest.mark.parametrize(
    "fault",
    [{"fault": "error", "status": 503}, {"fault": "latency", "latency_ms": 3000}],
    ids=["failing", "slow"],
)
async def test_renewal_goes_on_while_log_flushes_fail(supervised: Supervised, fault: dict, caplog) -> None:
    # Given an execution logging 10 lines a second for 4 seconds
    record = await supervised.running("chatty", {"lines": 40, "every": 0.1})
    run = asyncio.ensure_future(supervised.engine.run_claimed(record))
    # When every write of log lines fails (or hangs) for 2.5 seconds
    with faults.injected([{"match": "table.ConduitExecutionDetails.*", **fault}]):
        seen = await supervised.watch(record, 2.5)
        assert faults.fired("table.ConduitExecutionDetails.*") >= 1
    result = await run
    # Then the lease kept moving all the while
    assert len(set(_expiries(seen))) >= 3
    # And once storage answers again, every line is stored exactly once, in order
    assert result is not None and result.status is ExecutionStatus.SUCCESS
    stored = await supervised.store.get_logs(record.id)
    assert [line.message for line in stored] == [f"line {n}" for n in range(40)]
    assert [line.sequence for line in stored] == list(range(1, 41))
    warnings = [r.getMessage() for r in caplog.records if r.name == "conduit.supervisor" and "flush" in r.getMessage()]
    assert len(warnings) <= 2 and any("failed" in w for w in warnings)  # said once, not every round


async def test_running_executions_are_tailed_while_they_run(supervised: Supervised) -> None:
    # Given an execution that logs 40 lines over 4 seconds
    record = await supervised.running("chatty", {"lines": 40, "every": 0.1})
    run = asyncio.ensure_future(supervised.engine.run_claimed(record))
    # When its logs are read while it runs
    await asyncio.sleep(1.5)
    early = await supervised.store.get_logs(record.id)
    await run
    # Then lines written so far are already stored, and the rest after it finished, none twice
    assert 0 < len(early) < 40
    stored = await supervised.store.get_logs(record.id)
    assert [line.sequence for line in stored] == list(range(1, 41))


async def test_supervision_costs_about_one_small_read_per_execution_per_second(
    storage_connection_string: str,
) -> None:
    # Given the default lease (30 s) and poll interval (1 s), and 5 executions with 300 KB of input each (spilled
    # into details rows, which a full read would fetch every second)
    counter = RequestCounter()
    supervisor = Supervisor(storage_connection_string, lease_seconds=30, poll_seconds=1.0, counter=counter)
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        await store.ensure_tables()
        engine = Engine(registry, store)
        helper = Supervised(engine, store, supervisor, counter)
        with installed(supervisor):
            records = [await helper.running("naps", {"seconds": 5, "pad": "x" * 300_000}) for _ in range(5)]
            # When they run for 5 seconds each
            started = time.monotonic()
            results = await asyncio.gather(*(engine.run_claimed(r) for r in records))
            seconds = time.monotonic() - started
        engine.close()
    # Then supervision sent at most about one request per execution per second (its read; the 1-line log flush
    # once), and it did watch each of them (a busy machine may poll less often, never more)
    per_second = counter.count / len(records) / seconds
    print(f"supervision: {counter.count} requests for {len(records)} executions x {seconds:.1f} s "
          f"= {per_second:.2f} requests per running execution per second")
    assert all(r is not None and r.status is ExecutionStatus.SUCCESS for r in results)
    assert counter.count >= len(records) and per_second <= 1.5


async def test_a_transient_execution_is_not_supervised(supervised: Supervised) -> None:
    # Given a transient request (nothing stored)
    result: ExecutionResult = await supervised.engine.execute(
        ExecutionRequest(name="naps", parameters={"seconds": 0.5}, transient=True)
    )
    # Then nothing is sent to storage for it
    assert result.status is ExecutionStatus.SUCCESS and supervised.requests.count == 0
    assert not supervised.supervisor.running or supervised.requests.count == 0
    logging.getLogger(__name__).debug("transient run took %s ms", result.duration_ms)


with use_registry(registry):

    @workflow(name="sleeps_on_the_loop", timeout_seconds=60)
    async def sleeps_on_the_loop(context: ExecutionContext, seconds: float = 1.5) -> str:
        time.sleep(seconds)  # blocks the event loop
        return "woke"


async def test_the_watchdog_names_the_code_that_blocks_the_loop(caplog) -> None:
    # Given a watchdog on this loop that warns after 0.5 s
    watchdog = LoopWatchdog.watch_running_loop(warn_after=0.5, interval=0.1)
    engine = Engine(registry)
    try:
        # When an async workflow blocks the loop with time.sleep for 1.5 s
        result = await engine.execute(ExecutionRequest(name="sleeps_on_the_loop", transient=True))
        await asyncio.sleep(0.3)  # the loop answers the watchdog again
    finally:
        watchdog.stop()
        engine.close()
    # Then one warning names the execution and shows the blocking line; another says when the loop ran again
    warnings = [r.getMessage() for r in caplog.records if r.name == "conduit.watchdog"]
    blocked = [w for w in warnings if "event loop blocked for" in w]
    assert len(blocked) == 1, warnings
    assert f"by execution {result.execution_id} (sleeps_on_the_loop)" in blocked[0]
    assert "in sleeps_on_the_loop" in blocked[0] and "time.sleep(seconds)" in blocked[0]
    assert any("event loop runs again after being blocked for" in w for w in warnings)
    # And the execution's own logs say it too
    own = [line.message for line in result.logs if line.logger == "conduit.watchdog"]
    assert own and "has blocked the event loop" in own[0] and "time.sleep(seconds)" in own[0]


async def test_a_flush_that_lands_late_never_shortens_a_newer_page(supervised: Supervised) -> None:
    # Given an execution logging 10 lines a second for 4 seconds
    record = await supervised.running("chatty", {"lines": 40, "every": 0.1})
    run = asyncio.ensure_future(supervised.engine.run_claimed(record))
    await asyncio.sleep(0.5)
    # When a flush times out but its write reaches storage 2.5 s later, after the flushes that followed it
    with faults.injected([{"match": "table.ConduitExecutionDetails.upsert", "fault": "late", "latency_ms": 2500,
                           "times": 2}]):
        await asyncio.sleep(1.2)
    result = await run
    await asyncio.sleep(2.5)  # the late writes have landed
    # Then every line is stored, in order: the late write rewrote only the lines it carried, exactly as sent
    assert result is not None and result.status is ExecutionStatus.SUCCESS
    stored = await supervised.store.get_logs(record.id)
    assert [line.sequence for line in stored] == list(range(1, 41))


async def test_renewals_that_fail_for_a_while_do_not_end_the_run(supervised: Supervised) -> None:
    # Given an execution logging for 4 seconds
    record = await supervised.running("chatty", {"lines": 40, "every": 0.1})
    run = asyncio.ensure_future(supervised.engine.run_claimed(record))
    await asyncio.sleep(0.5)
    # When lease renewals (ETag-conditional MERGEs of the record) fail for a moment, shorter than the lease
    with faults.injected([{"match": "table.ConduitExecutions.merge", "fault": "error", "status": 503, "times": 2}]):
        await asyncio.sleep(1.0)
        assert faults.fired() >= 1
    seen = await supervised.watch(record, 1.5)
    result = await run
    # Then renewals resume, and the run ends once, as attempt 1, with all its lines
    assert len(set(_expiries(seen))) >= 2
    assert result is not None and result.status is ExecutionStatus.SUCCESS
    final = await supervised.store.get("GLOBAL", record.id)
    assert final is not None and final.status is ExecutionStatus.SUCCESS and final.attempt == 1
    assert [line.sequence for line in await supervised.store.get_logs(record.id)] == list(range(1, 41))
