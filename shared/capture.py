"""Per-execution capture of log records and printed output, attributed through a `ContextVar`.

One routing handler sits on the root logger and one proxy on `sys.stdout`/`sys.stderr`; both look up the capture
of the execution the current code belongs to and do nothing when there is none. A line therefore lands in exactly
the execution that produced it, however many run at once. asyncio tasks inherit the ContextVar by themselves;
threads do not (before Python 3.14), so `install()` makes `Thread.start` and `ThreadPoolExecutor.submit` carry the
caller's context into the thread — which also makes `get_context()` work there.
"""

from __future__ import annotations

import contextlib
import contextvars
import io
import logging
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from shared.models import LogLine

MAX_LOG_LINES = 100_000
# httpx logs each request with its full URL (query strings can hold secrets); context.http records calls as steps.
_QUIET_LOGGERS = ("azure", "httpx", "httpcore", "hpack", "urllib3", "asyncio", "aiohttp.access", "aiohttp.client")
_formatter = logging.Formatter()


class LogCapture:
    """The log lines of one execution, in the order they were produced; safe to feed from many threads."""

    def __init__(self, max_lines: int = MAX_LOG_LINES) -> None:
        self.lines: list[LogLine] = []
        self.dropped = 0
        self._max_lines = max_lines
        self._lock = threading.Lock()
        self._partial: dict[str, str] = {}
        self._closed = False
        self.flushed = 0  # lines already written to storage while the execution ran

    def pending(self) -> list[LogLine]:
        """Complete lines not yet flushed to storage (a running execution's logs are flushed as it goes)."""
        with self._lock:
            return self.lines[self.flushed :]

    def mark_flushed(self, count: int) -> None:
        with self._lock:
            self.flushed += count

    def add(self, level: str, logger: str, message: str, created: float | None = None) -> None:
        stamp = datetime.fromtimestamp(created, UTC) if created else datetime.now(UTC)
        step = current_step.get()
        with self._lock:
            if self._closed:
                return
            if len(self.lines) >= self._max_lines:
                self.dropped += 1
                return
            self.lines.append(
                LogLine(
                    sequence=len(self.lines) + 1,
                    timestamp=stamp.isoformat().replace("+00:00", "Z"),
                    level=level,
                    logger=logger,
                    message=message,
                    step_name=step[0] if step else None,
                    step_type=step[1] if step else None,
                )
            )

    def add_record(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{_formatter.formatException(record.exc_info)}"
        self.add(record.levelname, record.name, message, record.created)

    def write(self, stream: str, text: str) -> None:
        """Printed text becomes one line per newline; a partial line waits for the rest of it."""
        with self._lock:
            pending = self._partial.pop(stream, "") + text
            *complete, rest = pending.split("\n")
            if rest:
                self._partial[stream] = rest
        for line in complete:
            self.add(_STREAM_LEVEL[stream], stream, line)

    def close(self) -> list[LogLine]:
        """Flush partial printed lines, note any dropped lines, and stop accepting more."""
        for stream, rest in list(self._partial.items()):
            self._partial.pop(stream, None)
            self.add(_STREAM_LEVEL[stream], stream, rest)
        if self.dropped:
            with self._lock:
                self._max_lines += 1
            self.add(
                "WARNING",
                "conduit.engine",
                f"{self.dropped} more log lines were not stored: the limit is {MAX_LOG_LINES:,} lines per execution.",
            )
        with self._lock:
            self._closed = True
        return self.lines


_STREAM_LEVEL = {"stdout": "INFO", "stderr": "ERROR"}
_active: ContextVar[LogCapture | None] = ContextVar("conduit_log_capture", default=None)
current_step: ContextVar[tuple[str, str] | None] = ContextVar("conduit_current_step", default=None)


@contextlib.contextmanager
def capturing(capture: LogCapture) -> Iterator[LogCapture]:
    """Attribute every line produced in this context (and the tasks and threads it starts) to `capture`."""
    install()
    token = _active.set(capture)
    try:
        yield capture
    finally:
        _active.reset(token)


class _RoutingHandler(logging.Handler):
    """Hands each record to the capture of the execution it was logged in, if any."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _active.get()
        if capture is not None:
            capture.add_record(record)


class _StreamProxy(io.TextIOBase):
    """Stands in for sys.stdout/sys.stderr: text printed inside an execution goes to its capture."""

    def __init__(self, original: TextIO, name: str) -> None:
        self._original = original
        self._name = name

    def write(self, text: str) -> int:
        capture = _active.get()
        if capture is None:
            return self._original.write(text)
        capture.write(self._name, text)
        return len(text)

    def flush(self) -> None:
        if _active.get() is None:
            self._original.flush()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._original, name)


_handler = _RoutingHandler(level=logging.DEBUG)
_install_lock = threading.Lock()
_patched = False


def install() -> None:
    """Idempotent, and cheap enough to call per execution (test runners swap sys.stdout between tests)."""
    if not isinstance(sys.stdout, _StreamProxy):
        sys.stdout = _StreamProxy(sys.stdout, "stdout")
    if not isinstance(sys.stderr, _StreamProxy):
        sys.stderr = _StreamProxy(sys.stderr, "stderr")
    global _patched
    if _patched:
        return
    with _install_lock:
        if _patched:
            return
        root = logging.getLogger()
        root.addHandler(_handler)
        if root.level > logging.DEBUG or root.level == logging.NOTSET:
            root.setLevel(logging.DEBUG)
        for name in _QUIET_LOGGERS:
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)
        _patch_threads()
        _patched = True


def _patch_threads() -> None:
    original_start = threading.Thread.start
    original_submit = ThreadPoolExecutor.submit

    def start(self: threading.Thread) -> None:
        if _active.get() is not None:
            context = contextvars.copy_context()
            run = self.run
            self.run = lambda: context.run(run)  # type: ignore[method-assign]
        original_start(self)

    def submit(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Always carry the submitter's context: a pool thread may have been started inside some other execution.
        return original_submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    threading.Thread.start = start  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]
