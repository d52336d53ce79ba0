"""Which storage failures are worth trying again, and a bounded exponential backoff to try them with.

A failure is transient when storage did not answer (a timeout, a refused or dropped connection) or answered that it
is busy or broken (5xx, 408, 429). A 4xx answer means the request itself is wrong: sending it again cannot help.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections.abc import Awaitable, Callable
from typing import TypeVar

from azure.core.exceptions import AzureError, HttpResponseError

from shared.errors import StorageError

T = TypeVar("T")
log = logging.getLogger("conduit.storage")

FIRST_DELAY_SECONDS = 0.2
_RETRYABLE_STATUSES = frozenset({408, 429})


def is_transient(error: BaseException) -> bool:
    """True when the same request may well succeed later; see the module docstring."""
    cause: BaseException = error
    while isinstance(cause, StorageError) and cause.__cause__ is not None:
        cause = cause.__cause__
    if isinstance(cause, HttpResponseError) and cause.status_code:
        return cause.status_code >= 500 or cause.status_code in _RETRYABLE_STATUSES
    return isinstance(cause, (StorageError, AzureError, TimeoutError, ConnectionError))


async def retrying(call: Callable[[], Awaitable[T]], budget: float, cap: float, what: str) -> T:
    """`call()` until it succeeds, fails for good (not transient), or the next try would start after `budget`
    seconds; delays double from FIRST_DELAY_SECONDS up to `cap`, with jitter. The last failure is raised."""
    loop = asyncio.get_running_loop()
    give_up_at = loop.time() + budget
    delay = FIRST_DELAY_SECONDS
    while True:
        try:
            return await call()
        except Exception as error:
            wait = delay * random.uniform(0.5, 1.0)
            if not is_transient(error) or loop.time() + wait > give_up_at:
                raise
            log.warning("%s failed (%s: %s); trying again in %.1f s", what, type(error).__name__, error, wait)
        await asyncio.sleep(wait)
        delay = min(delay * 2, cap)
