"""Recycling: a host whose abandoned work piles up stops taking new work, drains, and is replaced by a fresh one.

Python cannot kill a thread, and a task that swallows its cancellation cannot be forced to stop. The engine
finishes such an execution on time all the same and abandons the work (`shared.engine.abandoned`), which keeps running
and holding a pool thread, memory or connections. Once CONDUIT_MAX_ABANDONED of them are still running, this
module decides that the process must be replaced:

- it stops accepting work: `accepting_work()` is False, sync executions answer 503 with Retry-After, and the queue
  worker turns execution messages away (`turn_away`) so that they run elsewhere;
- if the host registered a recycle hook (devhost does: it stops gracefully and re-executes itself), it calls it;
- otherwise (the Azure Functions Python worker) it waits until the executions in flight have finished, at most
  CONDUIT_RECYCLE_DRAIN_SECONDS, and ends the process with `RECYCLE_EXIT_CODE`; the Functions host starts a fresh
  worker, and the messages this one held come back after their visibility timeout.
"""

from __future__ import annotations

import asyncio
import logging
import os
import threading
import time
from collections.abc import Callable
from typing import NoReturn

from shared.errors import HostRecyclingError

log = logging.getLogger("conduit.recycling")

RECYCLE_EXIT_CODE = 75  # EX_TEMPFAIL: "try again later"; tells a recycle apart from a crash in the host's log
RecycleHook = Callable[[str], None]


def _setting(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    return float(raw) if raw else default


class Recycler:
    """Counts what matters for recycling and decides when the process must be replaced."""

    def __init__(
        self,
        max_abandoned: int | None = None,
        drain_seconds: float | None = None,
        exit_process: Callable[[int], object] = os._exit,
    ) -> None:
        self.max_abandoned = max_abandoned or int(_setting("CONDUIT_MAX_ABANDONED", 8))
        drain = drain_seconds if drain_seconds is not None else _setting("CONDUIT_RECYCLE_DRAIN_SECONDS", 60)
        self.drain_seconds = drain
        self.accepting = True
        self.reason: str | None = None
        self.in_flight = 0  # executions in the engine now (changed on event-loop threads only)
        self._hook: RecycleHook | None = None
        self._exit = exit_process
        self._lock = threading.Lock()

    def set_hook(self, hook: RecycleHook | None) -> None:
        self._hook = hook

    def note_abandoned(self, still_running: int) -> None:
        """Called whenever work is abandoned, with how much abandoned work is still running."""
        if still_running >= self.max_abandoned:
            limit = self.max_abandoned
            self.recycle(f"{still_running} abandoned tasks/threads are still running (CONDUIT_MAX_ABANDONED={limit})")

    def recycle(self, reason: str) -> None:
        """Stop taking work and have the process replaced (once; later calls do nothing)."""
        with self._lock:
            if not self.accepting:
                return
            self.accepting, self.reason = False, reason
        hook = self._hook
        log.warning("Recycling this host: %s. It takes no new work and will be replaced by a fresh %s.", reason,
                    "process (host hook)" if hook else "worker process once running executions finish")
        if hook is not None:
            try:
                if hook(reason) is not False:  # a host that cannot recycle now says False: exit instead
                    return
                log.warning("the host's recycle hook declined; this process will exit instead")
            except Exception:
                log.exception("the host's recycle hook failed; this process will exit instead")
        threading.Thread(target=self._drain_then_exit, name="conduit-recycle", daemon=True).start()

    def _drain_then_exit(self) -> None:
        """A thread of its own: it must work even when the event loop is blocked by user code."""
        deadline = time.monotonic() + self.drain_seconds
        while self.in_flight > 0 and time.monotonic() < deadline:
            time.sleep(0.2)
        log.warning("Recycling: exiting with code %d (%d execution(s) still in flight).", RECYCLE_EXIT_CODE,
                    self.in_flight)
        for handler in logging.getLogger().handlers:
            handler.flush()
        self._exit(RECYCLE_EXIT_CODE)

    def status(self) -> dict[str, object]:
        return {"accepting_work": self.accepting, "reason": self.reason, "max_abandoned": self.max_abandoned}


_recycler = Recycler()


def current() -> Recycler:
    return _recycler


def install(recycler: Recycler) -> Recycler:
    """Make `recycler` the process's recycler and return the previous one (tests use their own)."""
    global _recycler
    previous, _recycler = _recycler, recycler
    return previous


def accepting_work() -> bool:
    """False once the host is recycling: start no new execution (the queue worker checks this first)."""
    return _recycler.accepting


def set_recycle_hook(hook: RecycleHook | None) -> None:
    """A host that can replace itself (devhost) registers how; the hook may be called from any thread."""
    _recycler.set_hook(hook)


def refuse() -> HostRecyclingError:
    """The error a request for new work gets while the host recycles (HTTP: 503 with Retry-After)."""
    return HostRecyclingError(
        f"This host is being recycled ({_recycler.reason}) and takes no new work. Try again in a few seconds."
    )


async def turn_away() -> NoReturn:
    """Do not start the execution a queue message asks for, and do not acknowledge the message.

    With a host hook (devhost) the host stops polling at once, so raising is enough: the message comes back after
    its visibility timeout and another host (or this one's replacement) runs it. Without one (Azure) the Functions
    host keeps delivering messages until the process exits; raising would spend one delivery of the message's
    maxDequeueCount every visibility timeout, so the message is held instead until the process exits, which costs
    it exactly one delivery.
    """
    if _recycler._hook is None:
        await asyncio.Event().wait()  # the drain thread ends the process
    raise refuse()
