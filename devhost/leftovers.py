"""What the app leaves behind at shutdown: tasks still pending and aiohttp sessions it never closed.

The Functions worker gives an app no shutdown hook: the host stops the worker process, so clients an app keeps for
the life of the process (Azure SDK clients, each with an aiohttp session) are never closed. Here the loop is closed
in-process instead, and Python would report every such session as "Unclosed client session" when it is collected.
devhost therefore tidies up generically, once the grace period is over: it cancels the tasks still pending, then
closes the sessions still open on its loop. The app needs nothing devhost-specific, and an app that closes its own
clients is not affected (closing a session twice is harmless).
"""

from __future__ import annotations

import asyncio
import gc
import logging

import aiohttp

log = logging.getLogger("devhost.host")

CANCEL_TIMEOUT = 2.0


async def cancel_pending_tasks(timeout: float = CANCEL_TIMEOUT) -> None:
    """Cancel every task on this loop but the caller, and give them `timeout` seconds to unwind.

    asyncio.run would cancel them too, but only after the sessions below are closed, so their clean-up code would
    meet closed clients."""
    current = asyncio.current_task()
    tasks = [task for task in asyncio.all_tasks() if task is not current and not task.done()]
    for task in tasks:
        task.cancel()
    if tasks:
        # asyncio.wait, not wait_for(gather): on time-out wait_for waits for the cancelled gather, i.e. forever for
        # a task that swallows its cancellation (user code the engine had to abandon).
        await asyncio.wait(tasks, timeout=timeout)


async def close_open_sessions() -> int:
    """Close the aiohttp client sessions of this loop that are still open; returns how many there were.

    Without a prior gc.collect(): sessions that are already unreachable are still listed until collected, so they
    are closed here instead of being reported as unclosed by the collector."""
    loop = asyncio.get_running_loop()
    sessions = [
        obj
        for obj in gc.get_objects()
        if isinstance(obj, aiohttp.ClientSession) and not obj.closed and getattr(obj, "_loop", loop) is loop
    ]
    for session in sessions:
        try:
            await session.close()
        except Exception:  # one failing close must not keep the others open
            log.debug("Closing a leftover aiohttp session failed", exc_info=True)
    if sessions:
        await asyncio.sleep(0)  # let the transports' close callbacks run before the loop goes
        log.debug("Closed %d aiohttp session(s) the app left open.", len(sessions))
    return len(sessions)
