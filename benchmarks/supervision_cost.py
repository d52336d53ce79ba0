"""Storage requests that supervising running executions costs: per running execution per second.

Runs N claimed executions that sleep S seconds (one log line each), with small or 300 KB inputs (one over 150 KB is
spilled into details rows), and counts every storage request sent meanwhile — the supervisor's own clients
included — minus what finishing them costs (one log page and one update each).

    .venv/bin/python benchmarks/supervision_cost.py [--executions 10] [--seconds 6]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import sys
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devhost.azurite import start_azurite
from shared import ExecutionContext, workflow
from shared.engine.core import Engine
from shared.engine.leases import WORKER_ID, lease_until
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRecord, ExecutionStatus, new_execution_id, utc_now
from shared.storage.clients import RequestCounter
from shared.storage.executions import ExecutionStore

registry = FunctionRegistry()
with use_registry(registry):

    @workflow(name="naps", timeout_seconds=600)
    async def naps(context: ExecutionContext, seconds: float, pad: str = "") -> None:
        context.logger.info("napping")
        await asyncio.sleep(seconds)


def supervised_by(connection_string: str, counter: RequestCounter) -> contextlib.AbstractContextManager[object]:
    """This tree's supervisor counted by `counter` (older trees count through the store)."""
    try:
        from shared.engine.supervision import Supervisor, installed
    except ImportError:
        return contextlib.nullcontext()
    return installed(Supervisor(connection_string, counter=counter))


async def measure(connection_string: str, executions: int, seconds: float, pad: int) -> float:
    counter = RequestCounter()
    store = ExecutionStore.from_connection_string(connection_string, counter=counter)
    await store.ensure_tables()
    engine = Engine(registry, store)
    with supervised_by(connection_string, counter):
        now = utc_now()
        records = [
            await store.create(ExecutionRecord(
                id=new_execution_id(), scope="GLOBAL", workflow_name="naps", status=ExecutionStatus.RUNNING,
                input_data={"seconds": seconds, "pad": "x" * pad}, started_at=now, timeout_seconds=600,
                lease_owner=WORKER_ID, lease_expires_at=lease_until(now), deadline_at=now + timedelta(hours=1),
            ))
            for _ in range(executions)
        ]
        counter.reset()
        await asyncio.gather(*(engine.run_claimed(record) for record in records))
        requests = counter.reset() - 2 * executions  # finishing: one log page and one update each
    engine.close()
    await store.close()
    return requests / executions / seconds


async def main(executions: int, seconds: float, connection_string: str) -> None:
    for label, pad in (("small input", 0), ("300 KB input (spilled)", 300_000)):
        per_second = await measure(connection_string, executions, seconds, pad)
        print(f"{label:24s} {per_second:5.2f} storage requests per running execution per second")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=10)
    parser.add_argument("--seconds", type=float, default=6.0)
    args = parser.parse_args()
    azurite = start_azurite()
    try:
        asyncio.run(main(args.executions, args.seconds, azurite.connection_string))
    finally:
        azurite.stop()
