"""Engine overhead: a transient execution of a no-op async workflow vs awaiting the same function directly.

Both loops run in the same process, interleaved in rounds, so machine noise hits them alike; the report is the
median over rounds of microseconds per call and the overhead (engine - direct). Goal: at most 50 µs overhead.

    .venv/bin/python benchmarks/engine_overhead.py [--calls 20000] [--rounds 7]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared import ExecutionContext, workflow
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionStatus

registry = FunctionRegistry()
with use_registry(registry):

    @workflow(name="noop")
    async def noop(context: ExecutionContext) -> None:
        return None


async def direct(calls: int) -> float:
    context = ExecutionContext(execution_id="x", caller=ExecutionRequest().caller)
    started = time.perf_counter()
    for _ in range(calls):
        await noop(context)
    return (time.perf_counter() - started) / calls * 1e6


async def through_engine(engine: Engine, calls: int) -> float:
    started = time.perf_counter()
    for _ in range(calls):
        result = await engine.execute(ExecutionRequest(name="noop", transient=True))
    assert result.status is ExecutionStatus.SUCCESS
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int, rounds: int) -> None:
    engine = Engine(registry)
    await through_engine(engine, 1000)  # warm up
    direct_us, engine_us = [], []
    for _ in range(rounds):
        direct_us.append(await direct(calls))
        engine_us.append(await through_engine(engine, calls))
    d, e = statistics.median(direct_us), statistics.median(engine_us)
    print(f"direct await:        {d:8.2f} µs/call")
    print(f"engine (transient):  {e:8.2f} µs/call")
    print(f"overhead:            {e - d:8.2f} µs/execution (goal <= 50)   ratio engine/direct: {e / d:,.0f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds))
