"""Workflows the end-to-end tests run through a real devhost process (this folder is their CONDUIT_WORKSPACE)."""

import asyncio
from typing import Any

from shared import ExecutionContext, param, workflow


@workflow(name="noop", description="Does nothing: the cheapest persisted execution.", endpoint_enabled=True)
def noop(context: ExecutionContext) -> None:
    return None


@workflow(name="echo", description="Answers with its input.", endpoint_enabled=True)
@param("message", required=True)
@param("count", type="int", default_value=1)
async def echo(context: ExecutionContext, message: str, count: int = 1, **extra: Any) -> dict[str, Any]:
    context.logger.info("echo: %s", message)
    return {"message": message, "count": count, **extra}


@workflow(name="sleepy", description="Sleeps, logging before and after.", execution_mode="async", timeout_seconds=30)
@param("seconds", type="float", required=True)
async def sleepy(context: ExecutionContext, seconds: float) -> dict[str, float]:
    context.logger.info("sleeping %.3fs", seconds)
    await asyncio.sleep(seconds)
    context.logger.info("woke up after %.3fs", seconds)
    return {"slept": seconds}
