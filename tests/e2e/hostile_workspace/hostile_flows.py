"""Hostile user code for end-to-end tests of a real devhost (this folder is their CONDUIT_WORKSPACE)."""

import asyncio
import contextlib
import sys

from shared import ExecutionContext, workflow


@workflow(name="exits", description="Calls sys.exit(3), as a CLI entry point would.", execution_mode="sync")
def exits(context: ExecutionContext) -> None:
    sys.exit(3)


@workflow(name="stubborn", description="Swallows every cancellation.", execution_mode="sync", timeout_seconds=1)
async def stubborn(context: ExecutionContext) -> str:
    while True:
        with contextlib.suppress(asyncio.CancelledError):
            await asyncio.sleep(0.05)


@workflow(name="quick", description="Answers at once.", execution_mode="sync")
async def quick(context: ExecutionContext) -> str:
    return "fine"
