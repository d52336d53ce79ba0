"""What long polls cost storage: Table requests per waiting client per minute, for 1, 10 and 100 clients waiting on
one execution.

Starts its own Azurite (in memory) and stores one Running execution that nobody runs (so nothing but the waits reads
it). Each client is a loop of long polls, as a browser following a run would be: it re-issues its request as soon as
the last one answered. Two kinds: `GET .../executions/{id}?wait=W` (the record) and `GET .../logs?after=0&wait=W`
(tailing the logs), through the same query functions the routes call. Every Table request is counted by an azure-core
policy on the store's clients: a request's own reads (its light read and its answer's read) and the watcher's polls,
which the clients share (one light read per interval, plus one first-new-line read while someone tails logs).

    .venv/bin/python benchmarks/long_poll_cost.py [--wait 5] [--seconds 15]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
import uuid
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devhost.azurite import start_azurite
from shared import ExecutionContext, workflow
from shared.engine.core import Engine
from shared.executions.queries import LogQuery, execution_detail_after_change, get_execution_logs
from shared.executions.services import Services
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import SYSTEM_CALLER, ExecutionRecord, ExecutionStatus, new_execution_id, utc_now
from shared.storage.clients import RequestCounter
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionQueue

CLIENTS = (1, 10, 100)


def bench_registry() -> FunctionRegistry:
    registry = FunctionRegistry()
    with use_registry(registry):

        @workflow(name="followed", execution_mode="async")
        async def followed(context: ExecutionContext) -> None:
            """Never run here: its stored record is what the clients follow."""

    return registry


async def measure(connection: str, kind: str, clients: int, wait: float, seconds: float) -> tuple[float, float]:
    """Table requests per client per minute, and long polls answered per client per minute."""
    counter = RequestCounter()
    async with ExecutionStore.from_connection_string(connection, counter=counter) as store:
        await store.ensure_tables()
        registry = bench_registry()
        queue = ExecutionQueue(connection, name=f"long-poll-bench-{uuid.uuid4().hex[:8]}")
        services = Services(registry=registry, store=store, engine=Engine(registry, store), queue=queue)
        record = await store.create(ExecutionRecord(id=new_execution_id(), scope="GLOBAL", workflow_name="followed",
                                                    status=ExecutionStatus.RUNNING, started_at=utc_now()))
        answered = 0

        async def follow(stop: float) -> None:
            nonlocal answered
            while time.monotonic() < stop:
                if kind == "record":
                    await execution_detail_after_change(services, SYSTEM_CALLER, record.id, wait)
                else:
                    await get_execution_logs(services, SYSTEM_CALLER, record.id, LogQuery(after=0), wait=wait)
                answered += 1

        counter.reset()
        started = time.monotonic()
        await asyncio.gather(*(follow(started + seconds) for _ in range(clients)))
        minutes = (time.monotonic() - started) / 60
        requests = counter.reset()
        await queue.close()
    return requests / clients / minutes, answered / clients / minutes


def main(wait: float, seconds: float) -> None:
    azurite = start_azurite()
    try:
        print(f"Long polls on one idle execution, wait={wait:g} s, {seconds:g} s per figure, watcher interval 0.5 s:")
        for kind in ("record", "logs"):
            for clients in CLIENTS:
                per_client, polls = asyncio.run(measure(azurite.connection_string, kind, clients, wait, seconds))
                print(f"  {kind:6} {clients:3} client(s): {per_client:7.1f} Table requests per client per minute "
                      f"({per_client * clients:6.0f} in all; {polls:.1f} long polls per client per minute)")
    finally:
        azurite.stop()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--wait", type=float, default=5.0)
    parser.add_argument("--seconds", type=float, default=15.0)
    arguments = parser.parse_args()
    main(arguments.wait, arguments.seconds)
