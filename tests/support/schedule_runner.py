"""A scheduler in a process of its own, for tests that race real processes on one Azurite (test_racing.py).

    AzureWebJobsStorage=... python -m tests.support.schedule_runner --table T --queue Q --prefix P --workflows N \
        [--cron EXPR] [--barrier DIR --parties K] NOW [NOW ...]

It registers N workflows `<prefix>_<i>` with the schedule `--cron` (overlap allowed: no worker runs them in the
race, so a Pending previous run must not make a slot skip), opens the execution store, the queue `--queue` and the
schedules table `--table` on the connection string, and runs `tick` once for each NOW, in order. With `--barrier`,
the K processes given the same folder wait for each other before every tick (a file barrier), so they read the rows
together and really race on each slot. One JSON line per tick goes to stdout: what that process fired.

The test process builds the same registry with `scheduled_registry` (to drain the queue and count the runs in
`RUNS`), so the two sides cannot disagree on names or schedules.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import time
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import datetime
from pathlib import Path

from shared import workflow
from shared.engine.core import Engine
from shared.executions.services import Services
from shared.functions.registry import FunctionRegistry, use_registry
from shared.schedules.ticker import tick
from shared.storage.clients import open_tables
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionQueue
from shared.storage.schedules import ScheduleStore

RUNS: Counter[str] = Counter()  # execution id -> how often its workflow body ran (in this process)
BARRIER_TIMEOUT = 30.0


def workflow_names(prefix: str, count: int) -> list[str]:
    return [f"{prefix}_{index:04d}" for index in range(count)]


def scheduled_registry(prefix: str, count: int, cron: str) -> FunctionRegistry:
    """A registry of `count` workflows with schedule `cron`, each counting its runs in RUNS."""
    registry = FunctionRegistry()
    with use_registry(registry):
        for name in workflow_names(prefix, count):

            @workflow(name=name, schedule=cron, overlap="allow")
            async def counted(context) -> dict:  # type: ignore[no-untyped-def]
                RUNS[context.execution_id] += 1
                return {"ran": context.execution_id}

    return registry


@asynccontextmanager
async def opened(
    connection_string: str, registry: FunctionRegistry, table: str, queue_name: str
) -> AsyncIterator[tuple[Services, ScheduleStore]]:
    """The services (executions store, queue `queue_name`) and the schedules table `table`, created if missing."""
    store = ExecutionStore.from_connection_string(connection_string)
    queue = ExecutionQueue(connection_string, name=queue_name)
    schedules = ScheduleStore(open_tables(connection_string), table=table)
    try:
        await store.ensure_tables()
        await queue.ensure()
        await schedules.ensure_table()
        yield Services(registry=registry, store=store, engine=Engine(registry, store), queue=queue), schedules
    finally:
        await schedules.close()
        await queue.close()
        await store.close()


async def wait_for_parties(folder: Path, step: int, parties: int) -> None:
    """A file barrier: announce this process at `step`, then wait until `parties` processes have."""
    (folder / f"step{step}.{os.getpid()}").touch()
    deadline = time.monotonic() + BARRIER_TIMEOUT
    while len(list(folder.glob(f"step{step}.*"))) < parties:
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier step {step}: fewer than {parties} processes arrived")
        await asyncio.sleep(0.002)


async def run(args: argparse.Namespace) -> None:
    registry = scheduled_registry(args.prefix, args.workflows, args.cron)
    connection_string = os.environ["AzureWebJobsStorage"]
    async with opened(connection_string, registry, args.table, args.queue) as (services, schedules):
        for step, now in enumerate(args.now):
            if args.barrier:
                await wait_for_parties(Path(args.barrier), step, args.parties)
            report = await tick(services, schedules, datetime.fromisoformat(now))
            print(json.dumps({"now": now, "fired": report.fired, "already_fired": report.already_fired,
                              "skipped": report.skipped, "errors": report.errors}), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description="Run scheduler ticks at given times (a test helper).")
    parser.add_argument("--table", required=True, help="the schedules table")
    parser.add_argument("--queue", required=True, help="the executions queue")
    parser.add_argument("--prefix", required=True, help="workflow names are <prefix>_<index>")
    parser.add_argument("--workflows", type=int, required=True)
    parser.add_argument("--cron", default="* * * * *")
    parser.add_argument("--barrier", help="a folder the racing processes share, to start each tick together")
    parser.add_argument("--parties", type=int, default=2, help="how many processes meet at the barrier")
    parser.add_argument("now", nargs="+", help="the tick times, ISO 8601 with an offset")
    asyncio.run(run(parser.parse_args()))


if __name__ == "__main__":
    main()
