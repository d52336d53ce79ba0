"""Engine overhead: a transient execution of a no-op async workflow vs awaiting the same function directly.

Both loops run in the same process, interleaved in rounds, so machine noise hits them alike; the report is the
median over rounds of microseconds per call and the overhead (engine - direct). Goal: at most 50 µs overhead.
`--with-input` runs a workflow with three typed parameters given as text instead, so the overhead includes
validating and coercing them with the function's input model.

    .venv/bin/python benchmarks/engine_overhead.py [--calls 20000] [--rounds 7] [--with-input]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared import ExecutionContext, param, workflow
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest, ExecutionStatus

registry = FunctionRegistry()
with use_registry(registry):

    @workflow(name="noop")
    async def noop(context: ExecutionContext) -> None:
        return None

    @workflow(name="typed")
    @param("name", type="string", required=True)
    @param("times", type="int", default_value=1)
    @param("formal", type="bool", default_value=False)
    async def typed(context: ExecutionContext, name: str, times: int = 1, formal: bool = False) -> None:
        return None

INPUT = {"name": "Ada", "times": "3", "formal": "yes"}


async def direct(calls: int, with_input: bool) -> float:
    context = ExecutionContext(execution_id="x", caller=ExecutionRequest().caller)
    started = time.perf_counter()
    for _ in range(calls):
        if with_input:
            await typed(context, name="Ada", times=3, formal=True)
        else:
            await noop(context)
    return (time.perf_counter() - started) / calls * 1e6


async def through_engine(engine: Engine, calls: int, with_input: bool) -> float:
    name, parameters = ("typed", INPUT) if with_input else ("noop", {})
    started = time.perf_counter()
    for _ in range(calls):
        result = await engine.execute(ExecutionRequest(name=name, parameters=parameters, transient=True))
    assert result.status is ExecutionStatus.SUCCESS
    return (time.perf_counter() - started) / calls * 1e6


async def main(calls: int, rounds: int, with_input: bool) -> None:
    engine = Engine(registry)
    await through_engine(engine, 1000, with_input)  # warm up
    direct_us, engine_us = [], []
    for _ in range(rounds):
        direct_us.append(await direct(calls, with_input))
        engine_us.append(await through_engine(engine, calls, with_input))
    d, e = statistics.median(direct_us), statistics.median(engine_us)
    print(f"direct await:        {d:8.2f} µs/call")
    print(f"engine (transient):  {e:8.2f} µs/call")
    print(f"overhead:            {e - d:8.2f} µs/execution (goal <= 50)   ratio engine/direct: {e / d:,.0f}x")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=20000)
    parser.add_argument("--rounds", type=int, default=7)
    parser.add_argument("--with-input", action="store_true", help="three typed parameters, given as text")
    args = parser.parse_args()
    asyncio.run(main(args.calls, args.rounds, args.with_input))
