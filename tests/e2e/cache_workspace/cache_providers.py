"""Data providers for the provider-cache end-to-end tests. Every real run appends a line to a file under
CACHE_TEST_RUNS (one file per provider and input), so a test counts runs across host processes."""

import asyncio
import os
from pathlib import Path

from shared import ExecutionContext, UserError, data_provider, param


def record_run(name: str, tag: str) -> int:
    path = Path(os.environ["CACHE_TEST_RUNS"]) / f"{name}-{tag}.runs"
    with path.open("a") as file:
        file.write(f"{os.getpid()}\n")
    return len(path.read_text().splitlines())


@data_provider(name="cache_counted", cache_ttl_seconds=300)
@param("tag", type="string", required=True)
async def cache_counted(context: ExecutionContext, tag: str) -> list[dict]:
    n = record_run("cache_counted", tag)
    context.logger.info("computing options for %s (run %d)", tag, n)
    await asyncio.sleep(0.5)  # concurrent callers meet the run in progress
    return [{"label": f"{context.scope} run {n}", "value": n}]


@data_provider(name="cache_bad_shape", cache_ttl_seconds=300)
async def cache_bad_shape(context: ExecutionContext) -> list[str]:
    record_run("cache_bad_shape", "x")
    return ["not an option"]


@data_provider(name="cache_refusing", cache_ttl_seconds=300)
async def cache_refusing(context: ExecutionContext) -> list[dict]:
    record_run("cache_refusing", "x")
    raise UserError("Choose a customer first.")


@data_provider(name="cache_slow", cache_ttl_seconds=300, timeout_seconds=1)
async def cache_slow(context: ExecutionContext) -> list[dict]:
    record_run("cache_slow", "x")
    await asyncio.sleep(10)
    return [{"label": "too late", "value": 1}]
