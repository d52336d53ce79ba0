"""Workflows for the tests of behaviour that must be the same on Azure as on devhost (issue 8)."""

import asyncio

from shared import ExecutionContext, workflow


@workflow(name="slow_sync", execution_mode="sync", timeout_seconds=60)
async def slow_sync(context: ExecutionContext, seconds: float = 3.0) -> dict:
    context.logger.info("sleeping %s s", seconds)
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@workflow(name="same_shape", execution_mode="async")
async def same_shape(context: ExecutionContext, value: str = "v") -> dict:
    return {"value": value}


@workflow(name="call_out", execution_mode="sync")
async def call_out(context: ExecutionContext, urls: list[str]) -> list:
    """Calls each url through context.http; a failed call is noted and the next one is tried."""
    outcomes: list = []
    for url in urls:
        try:
            outcomes.append((await context.http.get(url, timeout=5)).status_code)
        except Exception as error:  # the test checks the step recorded for it
            outcomes.append(type(error).__name__)
    async with context.step("after the calls"):
        pass
    return outcomes
