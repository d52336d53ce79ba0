"""Loop-lag watchdog: notices when something blocks an event loop, and says what and where.

An `async def` workflow that calls `time.sleep` or a blocking client stops everything else on its loop: other
executions, HTTP requests, queue messages. (Leases do not lapse meanwhile: they are renewed from the supervisor's
own thread, see supervision.py.) The watchdog is a daemon thread that asks the loop to answer a stamp every
PROBE_SECONDS (`call_soon_threadsafe`). When the loop has not answered for CONDUIT_LOOP_BLOCK_WARN_SECONDS it logs
one warning with the stack of the loop's thread (`sys._current_frames()`), naming the execution whose code is on
that stack, and writes the same warning into that execution's own logs. While the block lasts it warns again only
at 4x, 16x, ... the threshold; when the loop answers again it logs how long it was blocked.
"""

from __future__ import annotations

import asyncio
import contextvars
import logging
import os
import sys
import threading
import time
import traceback
import weakref
from types import FrameType
from typing import Any

log = logging.getLogger("conduit.watchdog")

WARN_SECONDS = float(os.environ.get("CONDUIT_LOOP_BLOCK_WARN_SECONDS", "2"))
PROBE_SECONDS = 0.5
_HOST_STACK_FRAMES = 12  # the innermost frames: where the loop's thread is stuck
_ADVICE = "blocking calls in async code stop every execution on this host; use asyncio.to_thread or an async client"


class LoopWatchdog:
    """Watches one event loop from a daemon thread; `stop()` (or the loop closing) ends the thread."""

    def __init__(
        self, loop: asyncio.AbstractEventLoop, thread_id: int, *, warn_after: float = WARN_SECONDS,
        interval: float = PROBE_SECONDS,
    ) -> None:
        self.warn_after = warn_after
        self.interval = interval
        self.blocks = 0  # blocks reported so far
        self._loop = weakref.ref(loop)
        self._thread_id = thread_id
        self._stopped = threading.Event()
        self._lock = threading.Lock()
        self._probe_sent: float | None = None  # monotonic time of the probe the loop has not answered yet
        self._next_report = warn_after
        self._culprit: Any = None  # the invocation named in the last report, told when the loop runs again

    @classmethod
    def watch_running_loop(cls, **options: float) -> LoopWatchdog:
        """Start watching the running loop; call on its thread."""
        watchdog = cls(asyncio.get_running_loop(), threading.get_ident(), **options)
        thread = threading.Thread(target=watchdog._run, name="conduit-watchdog", daemon=True)
        contextvars.Context().run(thread.start)  # no execution's log capture follows it into the thread
        return watchdog

    def stop(self) -> None:
        self._stopped.set()

    def _run(self) -> None:
        while not self._stopped.wait(self.interval):
            loop = self._loop()
            if loop is None or loop.is_closed():
                return
            self._tick(loop, time.monotonic())

    def _tick(self, loop: asyncio.AbstractEventLoop, now: float) -> None:
        with self._lock:  # held while reporting too, so "runs again" is never logged before the report it ends
            sent = self._probe_sent
            if sent is None:
                self._probe_sent = now
            elif now - sent >= self._next_report:
                self._report(now - sent, first=self._next_report == self.warn_after)
                self._next_report *= 4
        if sent is None:
            try:
                loop.call_soon_threadsafe(self._answer, now, context=contextvars.Context())
            except RuntimeError:  # closed meanwhile
                self._stopped.set()

    def _answer(self, sent: float) -> None:
        """On the loop: it is responsive again (or still)."""
        blocked = time.monotonic() - sent
        with self._lock:
            self._probe_sent = None
            reported, culprit = self._next_report > self.warn_after, self._culprit
            self._next_report, self._culprit = self.warn_after, None
        if reported:
            log.warning("event loop runs again after being blocked for %.1f s", blocked)
            if culprit is not None:
                culprit.capture.add("WARNING", "conduit.watchdog", f"The event loop ran again after {blocked:.1f} s.")

    def _report(self, blocked: float, *, first: bool) -> None:
        frame = sys._current_frames().get(self._thread_id)
        if frame is None:
            return
        invocation, user_frames = _execution_on(frame)
        self.blocks += first
        what = "blocked" if first else "still blocked"
        who = f" by execution {_name(invocation)}" if invocation is not None else ""
        stack = "".join(traceback.format_stack(frame, limit=_HOST_STACK_FRAMES)).rstrip()
        log.warning("event loop %s for %.1f s%s (%s); its thread is at:\n%s", what, blocked, who, _ADVICE, stack)
        if invocation is not None:
            self._culprit = invocation
            where = "".join(traceback.format_list(user_frames)).rstrip()
            verb = "has blocked the event loop for" if first else "still blocks the event loop after"
            message = f"This execution {verb} {blocked:.1f} s ({_ADVICE}), at:\n{where}"
            invocation.capture.add("WARNING", "conduit.watchdog", message)


def _execution_on(frame: FrameType) -> tuple[Any, traceback.StackSummary]:
    """The engine invocation whose code is on this stack (the innermost engine frame holding `invocation`), and the
    frames inside it — the execution's own code; (None, all frames) if no execution is there."""
    inner: list[FrameType] = []
    current: FrameType | None = frame
    while current is not None:
        if "invocation" in current.f_code.co_varnames:
            candidate = current.f_locals.get("invocation")
            if hasattr(candidate, "capture") and hasattr(candidate, "request"):
                return candidate, traceback.StackSummary.extract((f, f.f_lineno) for f in reversed(inner))
        inner.append(current)
        current = current.f_back
    return None, traceback.StackSummary.extract((f, f.f_lineno) for f in reversed(inner))


def _name(invocation: Any) -> str:
    return f"{invocation.request.execution_id} ({invocation.function_name})"
