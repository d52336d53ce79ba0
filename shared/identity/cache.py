"""A small in-process cache of rows read on the request path (API keys, organizations), each for a few seconds.

The bound is what makes warm requests cost no storage request, and also how a change made on one instance (a key
revoked, an organization deactivated) reaches every other one: each instance reads the row again at most
`seconds` after it last did. Misses are cached too, so a flood of made-up key ids costs one read per id per period.
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from typing import Generic, TypeVar

T = TypeVar("T")
_MAX_ENTRIES = 10_000


class TtlCache(Generic[T]):
    """id -> (value or None, read at); entries older than `seconds` are read again."""

    def __init__(self, clock: Callable[[], float] = time.monotonic, max_entries: int = _MAX_ENTRIES) -> None:
        self._clock = clock
        self._max = max_entries
        self._entries: OrderedDict[str, tuple[T | None, float]] = OrderedDict()
        self._reading: dict[str, asyncio.Future[T | None]] = {}

    async def get(self, key: str, seconds: float, read: Callable[[str], Awaitable[T | None]]) -> T | None:
        """The cached value, else one read shared by every request that asks meanwhile: when an entry expires
        under load, the requests in flight wait for one read instead of each making its own."""
        now = self._clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[1] < seconds:
            return entry[0]
        pending = self._reading.get(key)
        if pending is not None:
            return await asyncio.shield(pending)
        future: asyncio.Future[T | None] = asyncio.get_running_loop().create_future()
        self._reading[key] = future
        try:
            value = await read(key)
        except asyncio.CancelledError:
            future.cancel()
            raise
        except Exception as error:
            future.set_exception(error)
            future.exception()  # marked retrieved: waiters (if any) re-raise it, and none is fine too
            raise
        finally:
            self._reading.pop(key, None)
        future.set_result(value)
        self._entries[key] = (value, now)
        self._entries.move_to_end(key)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)
        return value

    def forget(self, key: str) -> None:
        """Drop one entry: this instance sees a change it made itself at once."""
        self._entries.pop(key, None)
