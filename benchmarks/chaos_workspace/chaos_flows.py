"""Workflows of the chaos run (benchmarks/chaos.py): sleepers, heavy loggers, failures, timeouts, and code that
swallows cancellation. Every one of them first records a side effect, so the checker can tell whether a finished
execution ran again.

The side effect is one row in the `ChaosSideEffects` table: PartitionKey = execution id, RowKey = the attempt the
record showed when the run began, then a run uuid; with the time the run began and the process that ran it. It is
written with azure-data-tables directly (not through Conduit, so the fault rules, which name Conduit's tables, do
not apply to it), retried across short storage outages; a run that cannot record its side effect fails rather than
running without one.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import AzureError, ResourceNotFoundError
from azure.data.tables.aio import TableClient

from shared import ExecutionContext, param, workflow

SIDE_EFFECTS_TABLE = "ChaosSideEffects"
_WRITE_TRIES = 40  # 0.5 s apart: outlasts an Azurite restart
_clients: dict[str, TableClient] = {}


def _open(table: str) -> TableClient:
    return TableClient.from_connection_string(os.environ["AzureWebJobsStorage"], table)


def _shared(table: str) -> TableClient:
    """One client per table for the host's event loop (devhost runs one loop per process)."""
    if table not in _clients:
        _clients[table] = _open(table)
    return _clients[table]


async def record_side_effect(context: ExecutionContext, effects: TableClient) -> None:
    """Write this run's side-effect row, retrying through storage trouble; raise if it never lands.

    The row carries the attempt the engine claimed for this run (`context.steps.attempt`), fixed when the run
    began: reading the record's Attempt column instead (as this once did, on every retry) labels a run that is
    still retrying through an outage with the attempt of the host that took it over meanwhile."""
    began = datetime.now(UTC)
    run = uuid.uuid4().hex[:12]
    attempt = context.steps.attempt
    for _ in range(_WRITE_TRIES):
        entity = {
            "PartitionKey": context.execution_id,
            "RowKey": f"{attempt:04d}-{run}",
            "Attempt": attempt,
            "BeganAt": began,
            "Pid": os.getpid(),
            "Workflow": context.function_name,
        }
        try:
            await effects.upsert_entity(entity)
            return
        except ResourceNotFoundError:
            await _create_table(effects)
        except (AzureError, OSError):
            pass
        await asyncio.sleep(0.5)
    raise RuntimeError(f"chaos: could not record the side effect of {context.execution_id}")


async def _create_table(effects: TableClient) -> None:
    with contextlib.suppress(AzureError):
        await effects.create_table()


async def side_effect(context: ExecutionContext) -> None:
    await record_side_effect(context, _shared(SIDE_EFFECTS_TABLE))


def side_effect_in_thread(context: ExecutionContext) -> None:
    """Sync code runs in a pool thread without a loop: record the side effect on a short-lived one."""

    async def record() -> None:
        async with _open(SIDE_EFFECTS_TABLE) as effects:
            await record_side_effect(context, effects)

    asyncio.run(record())


def chaos_line(execution_id: str, index: int, total: int) -> str:
    """A heavy logger's line: the checker finds each line's owner and sequence in it."""
    return f"chaoslog {execution_id} {index}/{total}"


@workflow(name="chaos_sleep", description="Sleeps.", execution_mode="async", timeout_seconds=60)
@param("seconds", type="float", required=True)
async def chaos_sleep(context: ExecutionContext, seconds: float) -> dict[str, Any]:
    await side_effect(context)
    await asyncio.sleep(seconds)
    return {"slept": seconds}


@workflow(name="chaos_logger", description="Logs hundreds of lines, a few at a time.", execution_mode="async",
          timeout_seconds=60)
@param("lines", type="int", required=True)
async def chaos_logger(context: ExecutionContext, lines: int) -> dict[str, Any]:
    await side_effect(context)
    for index in range(lines):
        context.logger.info(chaos_line(context.execution_id, index, lines))
        if index % 50 == 49:
            await asyncio.sleep(0.05)  # let other executions (and the log flusher) run
    return {"lines": lines}


@workflow(name="chaos_thread_logger", description="Prints hundreds of lines from sync code (a pool thread).",
          execution_mode="async", timeout_seconds=60)
@param("lines", type="int", required=True)
def chaos_thread_logger(context: ExecutionContext, lines: int) -> dict[str, Any]:
    side_effect_in_thread(context)
    for index in range(lines):
        print(chaos_line(context.execution_id, index, lines))
        if index % 100 == 99:
            time.sleep(0.02)
    return {"lines": lines}


@workflow(name="chaos_fail", description="Fails: an exception, or SystemExit as argparse raises it.",
          execution_mode="async", timeout_seconds=60)
@param("how", required=True)
async def chaos_fail(context: ExecutionContext, how: str) -> None:
    await side_effect(context)
    await asyncio.sleep(0.1)
    if how == "exit":
        raise SystemExit(3)
    raise ValueError(f"chaos: failing on purpose ({how})")


@workflow(name="chaos_timeout", description="Sleeps past its 2 s timeout.", execution_mode="async",
          timeout_seconds=2)
async def chaos_timeout(context: ExecutionContext) -> None:
    await side_effect(context)
    await asyncio.sleep(30)


@workflow(name="chaos_stubborn", description="Swallows cancellation and returns late: must end Timeout.",
          execution_mode="async", timeout_seconds=2)
@param("seconds", type="float", required=True)
async def chaos_stubborn(context: ExecutionContext, seconds: float) -> dict[str, Any]:
    await side_effect(context)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        with contextlib.suppress(asyncio.CancelledError):  # hostile: carry on regardless
            await asyncio.sleep(0.2)
    return {"late": seconds}
