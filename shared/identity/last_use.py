"""When each API key was last used, recorded without a storage write per request.

A request only notes the time in memory; a background task of the authenticator writes the keys noted since its
last pass, one MERGE per key, every `CONDUIT_KEY_LAST_USE_FLUSH_SECONDS` (default 60): so at most one write per key
per minute per instance, whatever the request rate. The runtime's close flushes what is left. A key's `last_used_at`
is therefore up to a minute (plus the listing's own staleness) behind, which is what it is for: spotting unused keys.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from datetime import datetime

log = logging.getLogger("conduit.identity")

Writer = Callable[[str, datetime], Awaitable[None]]


class LastUse:
    """Key id -> the latest use not yet written; `flush` writes them."""

    def __init__(self, write: Writer) -> None:
        self._write = write
        self._pending: dict[str, datetime] = {}
        self._task: asyncio.Task[None] | None = None

    def note(self, key_id: str, when: datetime, flush_seconds: float) -> None:
        self._pending[key_id] = when
        if self._task is None or self._task.done():
            self._task = asyncio.get_running_loop().create_task(self._every(flush_seconds))

    async def flush(self) -> int:
        """Write every noted use; returns how many keys were written. A failed write is kept for the next pass."""
        pending, self._pending = self._pending, {}
        written = 0
        for key_id, when in pending.items():
            try:
                await self._write(key_id, when)
                written += 1
            except Exception as error:  # a revoked-and-deleted row, or storage away: never fails a request
                log.warning("could not record the last use of API key %s: %s", key_id, type(error).__name__)
                self._pending.setdefault(key_id, when)
        return written

    async def _every(self, seconds: float) -> None:
        while self._pending:
            await asyncio.sleep(seconds)
            await self.flush()

    async def close(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
        await self.flush()
