"""Printing without newlines: 1 MB printed in many small writes, through a transient engine execution.

Progress bars and `print(..., end="")` loops write partial lines; the capture must take each write in time
proportional to its own length, not to the line so far (the quadratic case took 4.3 s for 10,000 writes, 12.5 s
for 20,000). Each case prints 1 MB in N writes and one final newline; a `\\r` case redraws a progress bar N times.

    .venv/bin/python benchmarks/capture_print.py [--bytes 1000000] [--writes 10000 20000]
"""

from __future__ import annotations

import argparse
import asyncio
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from shared import workflow
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import ExecutionRequest

registry = FunctionRegistry()
with use_registry(registry):

    @workflow(name="partial_writes")
    def partial_writes(total: int, writes: int) -> None:
        chunk = "x" * (total // writes)
        for _ in range(writes):
            print(chunk, end="")
        print()

    @workflow(name="progress_bar")
    def progress_bar(writes: int) -> None:
        for i in range(writes):
            print(f"\r{i * 100 // writes:3d}% |{'#' * (i * 40 // writes):<40}|", end="")
        print()


async def timed(engine: Engine, name: str, **parameters: int) -> tuple[float, int, int]:
    started = time.perf_counter()
    result = await engine.execute(ExecutionRequest(name=name, parameters=parameters, transient=True))
    took = time.perf_counter() - started
    return took, len(result.logs), sum(len(line.message) for line in result.logs)


async def main(total: int, writes: list[int]) -> None:
    engine = Engine(registry)
    for n in writes:
        took, lines, chars = await timed(engine, "partial_writes", total=total, writes=n)
        print(f"{total:,} bytes in {n:>6,} writes: {took:7.3f} s   ({lines} line(s), {chars:,} characters stored)")
    for n in writes:
        took, lines, chars = await timed(engine, "progress_bar", writes=n)
        print(f"\\r progress bar, {n:>6,} redraws: {took:7.3f} s   ({lines} line(s), {chars:,} characters stored)")
    engine.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bytes", type=int, default=1_000_000)
    parser.add_argument("--writes", type=int, nargs="+", default=[10_000, 20_000])
    args = parser.parse_args()
    asyncio.run(main(args.bytes, args.writes))
