"""Persisted executions against Azurite: throughput, latency and storage requests per execution.

Runs a workflow that logs 10 lines, persisted (record written Running, then finished with its logs), with several
executions in flight at once. Reports executions/s, p50/p99 latency and storage requests per execution (counted
by an azure-core pipeline policy on the real clients; goal: at most 3). A transient run of the same workflow in
the same process is the baseline, so the cost of persistence shows as a ratio.

    .venv/bin/python benchmarks/engine_persisted.py [--executions 2000] [--concurrency 16]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from devhost.azurite import start_azurite
from shared import ExecutionContext, workflow
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionStatus
from shared.storage.clients import RequestCounter
from shared.storage.executions import ExecutionStore

registry = FunctionRegistry()
with use_registry(registry):

    @workflow(name="ten_lines")
    async def ten_lines(context: ExecutionContext) -> dict:
        for i in range(10):
            context.logger.info("step %d done", i)
        return {"ok": True}


async def run_batch(engine: Engine, executions: int, concurrency: int, transient: bool) -> tuple[float, list[float]]:
    """Run `executions` with `concurrency` in flight; (wall seconds, per-execution latencies in ms)."""
    latencies: list[float] = []
    remaining = iter(range(executions))

    async def worker() -> None:
        for _ in remaining:
            started = time.perf_counter()
            result = await engine.execute(ExecutionRequest(name="ten_lines", transient=transient))
            latencies.append((time.perf_counter() - started) * 1000)
            assert result.status is ExecutionStatus.SUCCESS and len(result.logs) == 10

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return time.perf_counter() - started, latencies


def percentile(values: list[float], q: float) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1] if len(values) > 1 else values[0]


async def main(executions: int, concurrency: int, connection_string: str) -> None:
    counter = RequestCounter()
    store = ExecutionStore.from_connection_string(connection_string, counter=counter)
    await store.ensure_tables()
    engine = Engine(registry, store)
    await run_batch(engine, 100, concurrency, transient=False)  # warm up connections
    base_wall, _ = await run_batch(engine, executions, concurrency, transient=True)
    counter.reset()
    wall, latencies = await run_batch(engine, executions, concurrency, transient=False)
    requests = counter.reset()
    rate, base_rate = executions / wall, executions / base_wall
    print(f"persisted, 10 log lines, {concurrency} in flight, {executions} executions:")
    print(f"  throughput        {rate:8.0f} executions/s   (transient baseline {base_rate:,.0f}/s, "
          f"ratio {base_rate / rate:.1f}x)")
    print(f"  latency           p50 {percentile(latencies, 50):6.1f} ms   p99 {percentile(latencies, 99):6.1f} ms")
    print(f"  storage requests  {requests / executions:8.2f} per execution (goal <= 3)")
    await store.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=16)
    args = parser.parse_args()
    azurite = start_azurite()
    try:
        asyncio.run(main(args.executions, args.concurrency, azurite.connection_string))
    finally:
        azurite.stop()
