"""One scheduler tick with 1,000 scheduled workflows, against Azurite: storage requests and milliseconds.

- first tick: the workflows are new, so the tick creates their 1,000 rows (once per deployment of a new schedule);
- none due: the rows exist and no slot is due (the timer's every-minute case): median of several ticks;
- all due: every workflow's slot is due at once (1,000 hourly schedules at the top of the hour), so the tick submits
  1,000 queued executions and writes the rows back; median of `--rounds` rounds, each on a fresh schedules table
  (fresh rows, no previous run to check), and the executions are counted in storage afterwards;
- all due, previous runs finished: the next hour, after the worker ran the first hour's 1,000 executions (not
  measured): the steady state of hourly schedules, where the default `overlap="skip"` reads each previous run;
- all due, previous runs still going: the hour after, every previous run is still Pending (no worker ran them), so
  `overlap="skip"` reads each and skips its slot.

The CPU column is the ticking process's own CPU time (median): the rest of a tick is spent waiting on storage (here
Azurite, which shares this machine's cores).

Requests are counted through the storage fault seam (shared/storage/faults.py) with zero-latency rules, one per
operation, as benchmarks/storage_requests.py does: the real requests of the real clients, not an estimate.

    .venv/bin/python benchmarks/schedule_tick.py [--workflows 1000] [--rounds 3] [--quiet-ticks 9]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devhost.azurite import start_azurite
from shared import workflow
from shared.engine.core import Engine
from shared.executions.services import Services
from shared.executions.worker import process_message
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import GLOBAL_SCOPE, slot_execution_id
from shared.schedules.ticker import TickReport, tick
from shared.storage import faults
from shared.storage.clients import open_tables
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionMessage, ExecutionQueue
from shared.storage.schedules import SCHEDULES_TABLE, ScheduleStore

CRON = "0 * * * *"  # hourly: every workflow is due at the top of the hour, none in between
DAY = datetime(2033, 3, 1, tzinfo=UTC)
OPERATIONS = (
    f"table.{SCHEDULES_TABLE}*.query",
    f"table.{SCHEDULES_TABLE}*.create",
    f"table.{SCHEDULES_TABLE}*.batch",
    f"table.{SCHEDULES_TABLE}*.replace",
    f"table.{SCHEDULES_TABLE}*",
    "table.ConduitExecutions.create",
    "table.ConduitExecutions.get",
    "table.ConduitExecutions.*",
    "table.ConduitScopes.*",
    "table.*",
    "queue.*.send",
    "queue.*",
    "*",
)


@dataclass
class Measured:
    """One kind of tick, measured `len(ms)` times."""

    title: str
    ms: list[float] = field(default_factory=list)
    cpu_ms: list[float] = field(default_factory=list)  # this process's CPU time: the rest is waiting on storage
    requests: list[int] = field(default_factory=list)
    by_operation: dict[str, int] = field(default_factory=dict)
    executions: list[int] = field(default_factory=list)

    def row(self) -> str:
        requests = statistics.median(self.requests)
        executions = str(int(statistics.median(self.executions))) if self.executions else "-"
        spread = f"{min(self.ms):,.0f}-{max(self.ms):,.0f}" if len(self.ms) > 1 else "-"
        return (f"| {self.title} | {len(self.ms)} | {requests:,.0f} | {statistics.median(self.ms):,.1f} | {spread} "
                f"| {statistics.median(self.cpu_ms):,.0f} | {executions} |")


def scheduled(count: int) -> FunctionRegistry:
    """`count` hourly workflows with the default schedule options."""
    registry = FunctionRegistry()
    with use_registry(registry):
        for index in range(count):

            @workflow(name=f"hourly_{index:04d}", schedule=CRON)
            async def hourly(context, region: str = "eu") -> dict:  # type: ignore[no-untyped-def]
                return {"region": region}

    return registry


@contextmanager
def counted() -> Iterator[list[Any]]:
    with faults.injected([{"match": op, "fault": "latency", "latency_ms": 0} for op in OPERATIONS]) as rules:
        yield rules


async def measured(into: Measured, services: Services, store: ScheduleStore, now: datetime) -> TickReport:
    with counted() as rules:
        started, cpu = time.perf_counter(), time.process_time()
        report = await tick(services, store, now)
        into.ms.append((time.perf_counter() - started) * 1000)
        into.cpu_ms.append((time.process_time() - cpu) * 1000)
    into.requests.append(sum(rule.fired for rule in rules))
    into.by_operation = {rule.match: rule.fired for rule in rules if rule.fired}
    if report.errors:
        raise RuntimeError(f"{into.title}: {len(report.errors)} workflows failed to fire: {report.errors[:3]}")
    return report


async def stored(services: Services, names: list[str], slot: datetime) -> int:
    """How many of the slot's executions exist in storage (read after the measurement, not counted)."""
    found = await asyncio.gather(*(services.store.get(GLOBAL_SCOPE, slot_execution_id(name, slot), light=True)
                                   for name in names))
    return sum(record is not None for record in found)


async def run_all(services: Services, names: list[str], slot: datetime) -> None:
    """Run the slot's executions as the queue worker does (its message: the execution's reference)."""
    gate = asyncio.Semaphore(16)

    async def one(name: str) -> None:
        async with gate:
            await process_message(services, ExecutionMessage(slot_execution_id(name, slot), GLOBAL_SCOPE).encode())

    await asyncio.gather(*(one(name) for name in names))


async def run(connection_string: str, workflows: int, rounds: int, quiet_ticks: int) -> list[Measured]:
    registry = scheduled(workflows)
    names = [metadata.name for metadata in registry.list("workflow")]
    store = ExecutionStore.from_connection_string(connection_string)
    queue = ExecutionQueue(connection_string)
    await store.ensure_tables()
    await queue.ensure()
    services = Services(registry=registry, store=store, engine=Engine(registry, store), queue=queue)
    first, quiet = Measured("first tick: creates the rows"), Measured("none due")
    due, overlapping = Measured("all due"), Measured("all due, previous runs still Pending (skipped)")
    steady = Measured("all due, previous runs finished")
    try:
        for day in range(rounds):
            schedules = ScheduleStore(open_tables(connection_string), table=f"{SCHEDULES_TABLE}{day}")
            await schedules.ensure_table()
            morning = DAY + timedelta(days=day, hours=9, minutes=30)
            await measured(first, services, schedules, morning)
            for minute in range(1, quiet_ticks + 1 if day == 0 else 1):
                await measured(quiet, services, schedules, morning + timedelta(minutes=minute))
            slot = morning + timedelta(minutes=30)
            report = await measured(due, services, schedules, slot + timedelta(seconds=5))
            due.executions.append(await stored(services, names, slot))
            if len(report.fired) != workflows:
                raise RuntimeError(f"all due fired {len(report.fired)} of {workflows}")
            if day == 0:
                await run_all(services, names, slot)
                report = await measured(steady, services, schedules, slot + timedelta(hours=1, seconds=5))
                steady.executions.append(await stored(services, names, slot + timedelta(hours=1)))
                report = await measured(overlapping, services, schedules, slot + timedelta(hours=2, seconds=5))
                overlapping.executions.append(len(report.fired))
            await schedules.close()
    finally:
        await queue.close()
        await store.close()
    return [first, quiet, due, steady, overlapping]


def show(workflows: int, results: list[Measured]) -> None:
    print(f"One scheduler tick with {workflows:,} scheduled workflows (Azurite, in memory)\n")
    print("| tick | runs | storage requests | ms (median) | ms (min-max) | CPU ms of the tick's process | "
          "executions created |")
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for result in results:
        print(result.row())
    for result in results:
        print(f"\n{result.title}, requests of the last run by operation:")
        for operation, count in sorted(result.by_operation.items(), key=lambda item: -item[1]):
            print(f"  {count:6d}  {operation}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workflows", type=int, default=1000)
    parser.add_argument("--rounds", type=int, default=3, help="all-due ticks measured (fresh rows each)")
    parser.add_argument("--quiet-ticks", type=int, default=9, help="none-due ticks measured")
    args = parser.parse_args()
    azurite = start_azurite()
    try:
        show(args.workflows, asyncio.run(run(azurite.connection_string, args.workflows, args.rounds,
                                             args.quiet_ticks)))
    finally:
        azurite.stop()
