"""Work the engine gave up on: tasks that would not stop and threads that outlived their execution.

When an execution times out or is cancelled, the engine finishes it on time whatever its code does. Code that does
not stop keeps running: an async task that swallowed its cancellation, or a pool thread (Python cannot kill
threads). Such work is abandoned: referenced here (an unreferenced task could be garbage-collected mid-run),
counted until it ends (`GET /api/health` shows the counts), logged when abandoned and when it finally ends, and
reported to `recycling`, which replaces the process once too much of it piles up. Whatever it prints or logs
after its execution finished is discarded: the execution's log capture is closed by then.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from shared.engine import recycling

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

log = logging.getLogger("conduit.engine")


@dataclass(frozen=True)
class AbandonedWork:
    """One piece of abandoned work: whose it was and since when."""

    kind: str  # "task" or "thread"
    execution_id: str
    function_name: str
    reason: str
    since: float


class Abandoned:
    """The abandoned work of this process. Threads are added on the loop and removed from their own thread."""

    def __init__(self) -> None:
        self._tasks: dict[asyncio.Task[object], AbandonedWork] = {}
        self._threads: dict[object, AbandonedWork] = {}
        self._lock = threading.Lock()

    def add_task(self, task: asyncio.Task[object], invocation: Invocation, reason: str) -> None:
        work = _work("task", invocation, reason)
        with self._lock:
            self._tasks[task] = work
        task.add_done_callback(self._task_ended)
        log.warning("abandoned the task of execution %s (%s, %s): it did not stop when cancelled; it keeps "
                    "running detached and its output is discarded", work.execution_id, work.function_name, reason)
        self.note()

    def note(self) -> None:
        """Tell recycling how much abandoned work is running (not under any lock: it may call the host's hook)."""
        recycling.current().note_abandoned(self.total())

    def _task_ended(self, task: asyncio.Task[object]) -> None:
        with self._lock:
            work = self._tasks.pop(task, None)
        if not task.cancelled():
            task.exception()  # retrieved: an abandoned task's failure is not worth a "never retrieved" warning
        if work is not None:
            _log_ended(work)

    def add_thread(self, key: object, invocation: Invocation, reason: str) -> None:
        """Count a running thread as abandoned; the caller calls `note()` once it holds no lock."""
        work = _work("thread", invocation, reason)
        with self._lock:
            self._threads[key] = work
        log.warning("abandoned the thread of execution %s (%s, %s): Python cannot stop a thread; it holds its pool "
                    "thread until the function returns", work.execution_id, work.function_name, reason)

    def thread_returned(self, key: object) -> None:
        with self._lock:
            work = self._threads.pop(key, None)
        if work is not None:
            _log_ended(work)

    def counts(self) -> dict[str, int]:
        with self._lock:
            return {"threads": len(self._threads), "tasks": len(self._tasks)}

    def total(self) -> int:
        with self._lock:
            return len(self._threads) + len(self._tasks)

    def threads(self) -> int:
        with self._lock:
            return len(self._threads)


def _work(kind: str, invocation: Invocation, reason: str) -> AbandonedWork:
    return AbandonedWork(kind, invocation.request.execution_id, invocation.function_name, reason, time.monotonic())


def _log_ended(work: AbandonedWork) -> None:
    log.info("the abandoned %s of execution %s (%s) ended after %.1f s", work.kind, work.execution_id,
             work.function_name, time.monotonic() - work.since)


registry = Abandoned()


def counts() -> dict[str, int]:
    """`{"threads": n, "tasks": m}`: abandoned work still running in this process."""
    return registry.counts()
