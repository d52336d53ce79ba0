"""Workflows the end-to-end tests run through a real devhost process (this folder is their CONDUIT_WORKSPACE)."""

import asyncio
import os
import threading
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


@workflow(name="slow_120", description="Sleeps; a long timeout.", execution_mode="async", timeout_seconds=120)
@param("seconds", type="float", required=True)
async def slow_120(context: ExecutionContext, seconds: float) -> dict[str, float]:
    context.logger.info("attempt starts")
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@workflow(name="exit_host", description="Kills its own process, as os._exit or running out of memory would.",
          execution_mode="async", timeout_seconds=60)
def exit_host(context: ExecutionContext) -> None:
    os._exit(3)


@workflow(name="stuck_thread", description="Sync code that never returns.", endpoint_enabled=True,
          execution_mode="sync", timeout_seconds=1)
def stuck_thread(context: ExecutionContext) -> None:
    threading.Event().wait()
