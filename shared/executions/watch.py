"""Long polls: a client waits for an execution to change with one open request, and storage is read once per
interval per watched execution, however many clients wait on it.

For each execution somebody in this process waits on, one task reads the record's scalar columns every
CONDUIT_LONG_POLL_INTERVAL_SECONDS (0.5 s by default) and, while someone waits for log lines, the first stored line
after the lowest position waited for: at most two requests per interval per execution (240 a minute at 0.5 s),
whether 1 or 1,000 clients wait on it. The task ends with its last waiter. Why the range read: a running execution's
LogCount is written only when it finishes; meanwhile its lines are flushed to the details table about once a second
(shared/engine/supervision.py), so only a read of that range sees them.

There is one watcher per event loop (it rides on the loop's Services; the Functions worker has one loop). Beyond
MAX_WATCHED executions at once a wait ends at once, and its client falls back to polling.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from azure.core.exceptions import AzureError

from shared.errors import StorageError
from shared.models import ExecutionRecord
from shared.storage.executions import ExecutionStore

INTERVAL_SETTING = "CONDUIT_LONG_POLL_INTERVAL_SECONDS"
DEFAULT_INTERVAL_SECONDS = 0.5
MAX_WAIT_SECONDS = 25  # below the 30 s a proxy or load balancer commonly allows an idle request
MAX_WATCHED = 1_000

log = logging.getLogger("conduit.watch")

_LOG_PAGE = 500  # lines one poll reads at most: the cursor moves on by up to that many per interval


@dataclass(frozen=True)
class LogWake:
    """Why a wait for log lines ended: a new line at `sequence`, the attempt `ended` (finished, gone or taken over),
    or neither (it timed out, or the watcher was full)."""

    sequence: int | None = None
    ended: bool = False


@dataclass(eq=False)
class _Waiter:
    """One waiting request: the ETag it saw (record waits) or the position and attempt it tails (log waits)."""

    woken: asyncio.Future[LogWake]
    etag: str | None = None
    after: int = 0
    attempt: int = 0


@dataclass(eq=False)
class _Watched:
    """An execution someone waits on, its waiters and the task polling it."""

    scope: str
    execution_id: str
    records: list[_Waiter] = field(default_factory=list)
    logs: list[_Waiter] = field(default_factory=list)
    task: asyncio.Task[None] | None = None
    cursor: int = -1  # the highest log sequence this watcher has read: each poll reads only lines after it
    cursor_attempt: int = 0  # the attempt the cursor belongs to (a takeover numbers its lines from 1 again)

    def idle(self) -> bool:
        return not self.records and not self.logs

    def wake(self, waiters: list[_Waiter], woken: Callable[[_Waiter], LogWake | None]) -> None:
        """Answer (and drop) each waiter for which `woken` says why it wakes."""
        for waiter in list(waiters):
            why = woken(waiter)
            if why is not None:
                waiters.remove(waiter)
                if not waiter.woken.done():
                    waiter.woken.set_result(why)


def interval_from_env() -> float:
    """CONDUIT_LONG_POLL_INTERVAL_SECONDS, at least 0.05 s."""
    return max(0.05, float(os.environ.get(INTERVAL_SETTING, DEFAULT_INTERVAL_SECONDS)))


class ExecutionWatcher:
    """Waits for executions to change on behalf of many requests, polling each watched execution once per interval.

    `reads` counts the storage reads its polling made (for tests and benchmarks)."""

    def __init__(self, store: ExecutionStore, *, interval: float | None = None, capacity: int = MAX_WATCHED) -> None:
        self._store = store
        self.interval = interval if interval is not None else interval_from_env()
        self.capacity = capacity
        self.reads = 0
        self._watched: dict[tuple[str, str], _Watched] = {}

    def waiting(self) -> int:
        """How many requests wait now."""
        return sum(len(w.records) + len(w.logs) for w in self._watched.values())

    async def record_change(self, record: ExecutionRecord, timeout: float) -> bool:
        """Wait up to `timeout` s for the record's ETag to differ from `record.etag` (or the record to go); True
        when it changed."""
        woken = await self._wait(record, "records", timeout, etag=record.etag)
        return woken is not None

    async def next_log_line(self, record: ExecutionRecord, after: int, timeout: float) -> LogWake:
        """Wait up to `timeout` s for a line after sequence `after` of `record.attempt` to be stored, or that attempt
        to end."""
        woken = await self._wait(record, "logs", timeout, after=after, attempt=record.attempt)
        return woken or LogWake()

    async def _wait(self, record: ExecutionRecord, kind: str, timeout: float, **seen: Any) -> LogWake | None:
        watched = self._watch(record)
        if watched is None:
            return None
        waiter = _Waiter(asyncio.get_running_loop().create_future(), **seen)
        waiters: list[_Waiter] = getattr(watched, kind)
        waiters.append(waiter)
        try:
            await asyncio.wait([waiter.woken], timeout=timeout)
            return waiter.woken.result() if waiter.woken.done() else None
        finally:  # also when the request is cancelled (its client went away)
            with contextlib.suppress(ValueError):
                waiters.remove(waiter)
            self._unwatch_if_idle(watched)

    def _watch(self, record: ExecutionRecord) -> _Watched | None:
        key = (record.scope, record.id)
        watched = self._watched.get(key)
        if watched is None:
            if len(self._watched) >= self.capacity:
                log.warning("%d executions watched already: answering a long poll at once", self.capacity)
                return None
            watched = self._watched[key] = _Watched(record.scope, record.id)
        if watched.task is None or watched.task.done():  # new, or its poll ended as its last waiter left
            watched.task = asyncio.ensure_future(self._poll(watched))
        return watched

    def _unwatch_if_idle(self, watched: _Watched) -> None:
        if watched.idle() and self._watched.get((watched.scope, watched.execution_id)) is watched:
            del self._watched[(watched.scope, watched.execution_id)]
            if watched.task is not None:
                watched.task.cancel()

    async def _poll(self, watched: _Watched) -> None:
        try:
            while not watched.idle():
                await asyncio.sleep(self.interval)
                try:
                    await self._poll_once(watched)
                except (StorageError, AzureError, TimeoutError) as error:  # waiters wait on; their timeout answers
                    log.warning("long poll of execution %s could not read it: %s", watched.execution_id, error)
                except Exception:  # never leave waiters on a watcher nobody polls
                    log.exception("long poll of execution %s failed; it polls on", watched.execution_id)
        finally:
            if watched.idle() and self._watched.get((watched.scope, watched.execution_id)) is watched:
                del self._watched[(watched.scope, watched.execution_id)]

    async def _poll_once(self, watched: _Watched) -> None:
        """One light read of the record; one read of the first new log line when someone tails the logs."""
        self.reads += 1
        current = await self._store.get(watched.scope, watched.execution_id, light=True)
        ended = LogWake(ended=True)
        if current is None:
            watched.wake(watched.records, lambda _: ended)
            watched.wake(watched.logs, lambda _: ended)
            return
        watched.wake(watched.records, lambda waiter: ended if waiter.etag != current.etag else None)
        over = current.status.is_terminal
        watched.wake(watched.logs, lambda waiter: ended if over or waiter.attempt != current.attempt else None)
        if not watched.logs:
            return
        self.reads += 1
        if watched.cursor_attempt != current.attempt:
            watched.cursor, watched.cursor_attempt = -1, current.attempt
        start = max(min(w.after for w in watched.logs), watched.cursor)
        new = await self._store.get_logs(watched.execution_id, start, attempt=current.attempt, limit=_LOG_PAGE)
        if new:
            watched.cursor = highest = new[-1].sequence  # waiters far apart are all woken by one read
            news = LogWake(sequence=highest)
            watched.wake(watched.logs, lambda waiter: news if waiter.after < highest else None)
