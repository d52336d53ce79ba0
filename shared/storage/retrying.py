"""Trying a storage write again with a bounded exponential backoff, for as long as storage is only unavailable.

What counts as "unavailable" (a timeout, a dropped connection, 5xx, 408, 429) is decided in one place,
`shared.storage.outage.is_storage_outage`; any other failure (a 4xx, a conflict, a bug) is raised at once.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from shared.storage.outage import is_storage_outage

T = TypeVar("T")
log = logging.getLogger("conduit.storage")

FIRST_DELAY_SECONDS = 0.2


async def retrying(call: Callable[[], Awaitable[T]], budget: float, cap: float, what: str) -> T:
    """`call()` until it succeeds, fails for good (not an outage), or the next try would start after `budget`
    seconds; delays double from FIRST_DELAY_SECONDS up to `cap`, with jitter. The last failure is raised."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + budget
    delay = FIRST_DELAY_SECONDS
    while True:
        try:
            return await call()
        except Exception as error:
            wait = delay * random.uniform(0.5, 1.0)
            if not is_storage_outage(error) or loop.time() + wait > give_up_at:
                raise
            log.warning("%s failed (%s); trying again in %.1f s", what, type(error).__name__, wait)
        await asyncio.sleep(wait)
        delay = min(delay * 2, cap)
