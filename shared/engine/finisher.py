"""The background finisher: final writes that storage could not take, kept trying until storage is back.

When storage is unreachable at the end of an execution (finishing.py gave up on both the full outcome and a minimal
`PersistenceError` record), the pending write is handed over here: a task on the event loop that owns the store
tries again with a bounded exponential backoff — the full outcome first, then the minimal record if the full one
cannot be stored — until one is stored or its time is up (the execution's deadline, at least
CONDUIT_FINISH_BACKGROUND_SECONDS). Each pending write is logged when handed over, when stored and when given up;
`pending()` lists them (for health checks and shutdown logs). A process that dies with writes pending leaves those
records Running: clean-up finishes them after their deadline.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from shared.models import utc_now
from shared.storage.outage import is_storage_outage
from shared.storage.retrying import FIRST_DELAY_SECONDS

log = logging.getLogger("conduit.finisher")

Attempt = Callable[[], Awaitable[Any]]


@dataclass
class PendingFinish:
    """One final write waiting for storage."""

    execution_id: str
    status: str  # the outcome waiting to be stored
    since: datetime = field(default_factory=utc_now)
    tries: int = 0

    def describe(self) -> str:
        return f"{self.execution_id} ({self.status}, pending since {self.since:%H:%M:%S}, {self.tries} tries)"


_pending: dict[str, PendingFinish] = {}
_tasks: set[asyncio.Task[None]] = set()


def hand_over(execution_id: str, status: str, attempts: Sequence[Attempt], give_up_after: float, cap: float) -> None:
    """Keep trying `attempts` (in order of preference) in the background on the running loop."""
    pending = PendingFinish(execution_id, status)
    _pending[execution_id] = pending
    log.warning("execution %s ended %s; storage is unavailable, so its final write is pending and retried in the "
                "background for up to %.0f s (%d pending in this process)", execution_id, status, give_up_after,
                len(_pending))
    task = asyncio.get_running_loop().create_task(_keep_trying(pending, attempts, give_up_after, cap))
    _tasks.add(task)
    task.add_done_callback(_tasks.discard)


def pending() -> list[PendingFinish]:
    """The final writes this process is still trying to store."""
    return list(_pending.values())


async def drain(timeout: float) -> bool:
    """Wait up to `timeout` seconds for the pending writes of this loop; True when none is left."""
    loop = asyncio.get_running_loop()
    mine = [task for task in _tasks if task.get_loop() is loop]
    if mine:
        await asyncio.wait(mine, timeout=timeout)
    left = [task for task in mine if not task.done()]
    if left:
        log.error("%d final write(s) still pending, lost when this process stops (clean-up finishes them after "
                  "their deadline): %s", len(left), "; ".join(p.describe() for p in pending()))
    return not left


async def _keep_trying(pending: PendingFinish, attempts: Sequence[Attempt], give_up_after: float, cap: float) -> None:
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + give_up_after
    delay = FIRST_DELAY_SECONDS
    try:
        while loop.time() < give_up_at:
            await asyncio.sleep(delay * random.uniform(0.5, 1.0))
            delay = min(delay * 2, cap)
            pending.tries += 1
            if await _try(pending, attempts):
                return
        log.error("gave up on the final write of execution %s: storage stayed unavailable; clean-up will finish it "
                  "after its deadline", pending.describe())
    finally:
        _pending.pop(pending.execution_id, None)


async def _try(pending: PendingFinish, attempts: Sequence[Attempt]) -> bool:
    """True when done: one attempt stored its write, or none can ever be stored."""
    for attempt in attempts:
        try:
            await attempt()
        except Exception as error:
            if is_storage_outage(error):
                return False  # storage is still away: wait, then start again from the preferred write
            log.warning("pending final write of %s cannot be stored that way (%s: %s)", pending.execution_id,
                        type(error).__name__, error)
            continue
        log.info("stored the pending final write of execution %s", pending.describe())
        return True
    log.error("none of the final writes of execution %s can be stored", pending.describe())
    return True
