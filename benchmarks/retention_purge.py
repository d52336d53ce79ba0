"""Retention: how fast the clean-up timer's purge deletes finished executions (executions/s), and its requests each.

Starts its own Azurite (in memory), runs N persisted executions that log 20 lines and record 2 steps each (one log
page and two step rows per execution in the details table), then runs the retention purge as if 400 days had passed,
in batches of CONDUIT_RETENTION_BATCH, and reports executions deleted per second and storage requests per execution.

    .venv/bin/python benchmarks/retention_purge.py [--executions 500]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devhost.azurite import start_azurite
from shared import workflow
from shared.engine.core import Engine
from shared.executions.retention import purge
from shared.executions.services import Services
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import Caller, ExecutionRequest, utc_now
from shared.storage.clients import RequestCounter
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionQueue

registry = FunctionRegistry()
with use_registry(registry):

    @workflow(name="purgeable")
    async def purgeable(context) -> int:
        for n in range(20):
            context.logger.info("line %d", n)
        with context.step("one"):
            pass
        with context.step("two"):
            pass
        return 1


async def measure(connection: str, executions: int) -> tuple[float, float]:
    scope = f"purge-{uuid.uuid4().hex[:8]}"
    caller = Caller(user_id="bench", scope=scope, is_platform_admin=True)
    counter = RequestCounter()
    async with ExecutionStore.from_connection_string(connection, counter=counter) as store:
        await store.ensure_tables()
        engine = Engine(registry, store)
        gate = asyncio.Semaphore(16)

        async def one() -> None:
            async with gate:
                await engine.execute(ExecutionRequest(name="purgeable", caller=caller, scope=scope))

        await asyncio.gather(*(one() for _ in range(executions)))
        services = Services(registry=registry, store=store, engine=engine,
                            queue=ExecutionQueue(connection, name=f"purge-{uuid.uuid4().hex[:8]}"))
        counter.reset()
        started, deleted = time.perf_counter(), 0
        while deleted < executions:
            report = await purge(services, now=utc_now() + timedelta(days=400), days_of={scope: 1}, scopes=[scope])
            if not report.deleted:
                break
            deleted += len(report.deleted)
        seconds = time.perf_counter() - started
        requests = counter.reset()
        engine.close()
        await services.queue.close()
    assert deleted == executions, f"deleted {deleted} of {executions}"
    return deleted / seconds, requests / deleted


def main(executions: int) -> None:
    azurite = start_azurite()
    try:
        rate, per = asyncio.run(measure(azurite.connection_string, executions))
    finally:
        azurite.stop()
    print(f"retention purge on Azurite ({os.cpu_count()} cores), {executions} executions with 20 log lines and 2 "
          f"steps each: {rate:.0f} executions/s, {per:.2f} storage requests per execution")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--executions", type=int, default=500)
    main(parser.parse_args().executions)
