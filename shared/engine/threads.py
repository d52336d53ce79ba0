"""Sync user code in pool threads, so that a blocking function cannot stall the event loop.

- The execution's clock starts when a thread starts running the function, not while the call waits in the pool.
- A full pool fails a new sync execution at once (`CapacityExceededError`) instead of letting it wait in the queue
  and time out without having run.
- A call given up before its thread started (timeout, cancel) never runs.
- Python cannot stop a running thread: one that outlives its execution is abandoned (`shared.engine.abandoned`), keeps
  its pool thread until the function returns, and is counted until then.
"""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from shared.engine.abandoned import registry
from shared.errors import CapacityExceededError

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

_QUEUED, _RUNNING, _ENDED, _ABANDONED = range(4)
# A thread that starts within this of its submission needs no restart of the clock (which costs a wake-up of the loop)
_START_SLACK_SECONDS = 0.01


class ThreadCall:
    """One sync call on its way through the pool; the pool thread calls it."""

    __slots__ = ("_fn", "_invocation", "_lock", "_queued_at", "_state")

    def __init__(self, fn: Callable[[], Any], invocation: Invocation) -> None:
        self._fn = fn
        self._invocation = invocation
        self._lock = threading.Lock()
        self._state = _QUEUED
        self._queued_at = time.monotonic()

    def __call__(self) -> Any:
        with self._lock:
            if self._state == _ABANDONED:
                return None  # its execution already ended (timeout or cancel) while it waited for a thread
            self._state = _RUNNING
        deadline = self._invocation.deadline
        if deadline is not None and time.monotonic() - self._queued_at > _START_SLACK_SECONDS:
            deadline.restart_threadsafe()  # it waited for a thread: its clock starts now
        try:
            return self._fn()
        finally:
            with self._lock:
                abandoned, self._state = self._state == _ABANDONED, _ENDED
                if abandoned:
                    registry.thread_returned(self)

    def abandon(self, reason: str) -> bool:
        """The execution is over: a call still queued never runs; a running one is counted until it returns.

        Returns whether the call had started."""
        with self._lock:
            state = self._state
            if state in (_QUEUED, _RUNNING):
                self._state = _ABANDONED
            if state == _RUNNING:
                registry.add_thread(self, self._invocation, reason)
        if state == _RUNNING:
            registry.note()
        return state != _QUEUED


class SyncRunner:
    """The pool sync user code runs in (CONDUIT_SYNC_WORKERS threads), with fail-fast admission."""

    def __init__(self, workers: int) -> None:
        self.workers = workers
        self._executor = ThreadPoolExecutor(max_workers=workers, thread_name_prefix="conduit-user")
        self._busy = 0
        self._lock = threading.Lock()

    async def run(self, invocation: Invocation, fn: Callable[[], Any]) -> Any:
        """Run `fn` in a pool thread for `invocation`; `invocation.thread_call` lets the engine abandon it."""
        self._take_slot()
        call = ThreadCall(fn, invocation)
        invocation.thread_call = call
        try:
            future = self._executor.submit(call)
        except BaseException:
            self._release()
            raise
        future.add_done_callback(self._release)
        return await asyncio.wrap_future(future)

    def _take_slot(self) -> None:
        with self._lock:
            if self._busy < self.workers:
                self._busy += 1
                return
        raise CapacityExceededError(self._exhausted_message())

    def _release(self, _: Future[Any] | None = None) -> None:
        with self._lock:
            self._busy -= 1

    def _exhausted_message(self) -> str:
        held = registry.threads()
        by_abandoned = (f", {held} of them held by timed-out or cancelled executions whose code has not returned"
                        if held else "")
        return (f"No thread is free to run this sync function: all {self.workers} worker threads "
                f"(CONDUIT_SYNC_WORKERS) are busy{by_abandoned}. Try again later; if this persists, raise "
                "CONDUIT_SYNC_WORKERS or fix the code that does not return.")

    @property
    def busy(self) -> int:
        return self._busy

    def close(self) -> None:
        self._executor.shutdown(wait=False, cancel_futures=True)
