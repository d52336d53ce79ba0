"""Per-execution capture of log records and printed output, attributed through a `ContextVar`.

One routing handler sits on the root logger and one proxy on `sys.stdout`/`sys.stderr`; both look up the capture
of the execution the current code belongs to and do nothing when there is none. A line therefore lands in exactly
the execution that produced it, however many run at once. asyncio tasks inherit the ContextVar by themselves;
threads do not (before Python 3.14), so `install()` makes `Thread.start` and `ThreadPoolExecutor.submit` carry the
caller's context into the thread — which also makes `get_context()` work there.
"""

from __future__ import annotations

import concurrent.futures.thread
import contextlib
import contextvars
import io
import logging
import os
import sys
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextvars import ContextVar
from datetime import UTC, datetime
from typing import Any, TextIO

from shared.capture.log_levels import DEFAULT_LEVEL, debug_opt_in, level_number, stores
from shared.capture.partial_lines import PartialLine, cut_line
from shared.capture.redaction import Redactor
from shared.models import LOG_LEVELS, ExecutionRequest, LogLine

MAX_LOG_LINES = int(os.environ.get("CONDUIT_MAX_LOG_LINES", "100000"))
# 16 MiB of text: 100,000 lines of about 170 characters, so the line and byte limits meet for ordinary logs, and a
# Consumption instance (1.5 GB) survives dozens of sync executions each printing to the limit at once.
MAX_LOG_BYTES = int(os.environ.get("CONDUIT_MAX_LOG_BYTES", str(16 * 1024 * 1024)))
# Set to WARNING for the whole process: they log each request (headers, URLs with query strings) at INFO.
_QUIET_LOGGERS = ("azure", "httpx", "httpcore", "hpack", "urllib3", "asyncio", "aiohttp.access", "aiohttp.client")
_formatter = logging.Formatter()
_LEVEL_NUMBERS = {name: level_number(name) for name in LOG_LEVELS}


def _utf8_size(text: str) -> int:
    return len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))


class LogCapture:
    """The log lines of one execution, in the order they were produced; safe to feed from many threads.

    Bounded twice: MAX_LOG_LINES lines and MAX_LOG_BYTES bytes (UTF-8) of message text per execution. Past either,
    later lines are counted, not kept, and `close()` adds a WARNING saying how many lines and bytes were left out.
    Sequences run 1, 2, 3, ... without gaps. With `keep_flushed=False` (a queued execution, whose result nobody
    reads), lines written to storage while it runs (`mark_flushed`) leave memory; otherwise they stay, for the
    result (a sync HTTP call answers with its logs).
    """

    __slots__ = (
        "_bytes", "_closed", "_full", "_lines", "_lock", "_max_bytes", "_max_lines", "_partial", "_released",
        "dropped", "dropped_bytes", "flushed", "in_doubt", "keep_flushed", "level", "own_loggers", "redactor",
    )

    def __init__(
        self,
        level: int = logging.INFO,
        own_loggers: tuple[str, ...] = (),
        *,
        keep_flushed: bool = True,
        max_lines: int | None = None,
        max_bytes: int | None = None,
    ) -> None:
        self.level = level
        self.own_loggers = own_loggers
        self.keep_flushed = keep_flushed
        self.flushed = 0  # lines already written to storage while the execution ran
        self.in_doubt = 0  # pending lines sent in a write that failed without an answer (see flush_batch)
        self.dropped = 0
        self.dropped_bytes = 0
        self.redactor: Redactor | None = None  # set once the execution reads a secret (see redaction.py)
        self._max_lines = MAX_LOG_LINES if max_lines is None else max_lines
        self._max_bytes = MAX_LOG_BYTES if max_bytes is None else max_bytes
        self._lines: list[LogLine] = []
        self._released = 0  # lines flushed and let go: the first `_released` sequences
        self._bytes = 0
        self._full = False
        self._closed = False
        self._partial: dict[str, PartialLine] = {}
        self._lock = threading.Lock()

    def continue_after(self, sequence: int) -> None:
        """Number this run's lines after `sequence`: a continuation of an attempt (a run woken from waiting) adds
        pages after the lines its earlier runs stored, never over them. Call it before any line is captured."""
        with self._lock:
            if not self._lines and self._released == 0:
                self._released = self.flushed = sequence

    @property
    def count(self) -> int:
        """Lines stored so far (the last sequence)."""
        return self._released + len(self._lines)

    @property
    def held(self) -> int:
        """Lines held in memory."""
        return len(self._lines)

    def pending(self) -> list[LogLine]:
        """Complete lines not yet flushed to storage (a running execution's logs are flushed as it goes)."""
        with self._lock:
            return self._lines[self.flushed - self._released :]

    def flush_batch(self, limit: int) -> list[LogLine]:
        """The next lines to flush. After a flush that failed without an answer (its write may still land later), the
        same lines again, exactly: pages are keyed by their first line, and a late-landing write must only ever
        rewrite a page with the same lines — never replace a longer page written since with a shorter one."""
        with self._lock:
            pending = self._lines[self.flushed - self._released :]
            return pending[: self.in_doubt or limit]

    def sent_in_doubt(self, count: int) -> None:
        """A write of the first `count` pending lines failed without an answer: it may still land."""
        with self._lock:
            self.in_doubt = max(self.in_doubt, count)

    def page_breaks(self) -> list[int]:
        """Sequences at which the final write must start a new page: after the lines of a write still in doubt."""
        with self._lock:
            return [self.flushed + self.in_doubt + 1] if self.in_doubt else []

    def mark_flushed(self, count: int) -> None:
        """`count` more of the pending lines are in storage; without `keep_flushed` they leave memory."""
        with self._lock:
            self.in_doubt = max(0, self.in_doubt - count)
            self.flushed = min(self.flushed + count, self.count)
            if not self.keep_flushed:
                del self._lines[: self.flushed - self._released]
                self._released = self.flushed

    def accepts(self, record: logging.LogRecord) -> bool:
        return stores(record.levelno, record.name, self.level, self.own_loggers)

    def add(self, level: str, logger: str, message: str, created: float | None = None) -> None:
        stamp = datetime.fromtimestamp(created, UTC) if created else datetime.now(UTC)
        message = cut_line(message)
        with self._lock:
            self._store(level, logger, message, stamp)

    def add_record(self, record: logging.LogRecord) -> None:
        message = record.getMessage()
        if record.exc_info:
            message = f"{message}\n{_formatter.formatException(record.exc_info)}"
        self.add(record.levelname, record.name, message, record.created)

    def write(self, stream: str, text: str) -> None:
        """Printed text becomes one line per newline; a partial line waits for the rest of it."""
        with self._lock:
            if self._closed:
                return
            partial = self._partial.get(stream)
            if partial is None:
                partial = self._partial[stream] = PartialLine()
            for line in partial.feed(text):
                self._store(_STREAM_LEVEL[stream], stream, line, datetime.now(UTC))

    def close(self) -> list[LogLine]:
        """Store partial printed lines, note any lines left out, stop accepting more; return the lines held."""
        with self._lock:
            if not self._closed:
                for stream, partial in self._partial.items():
                    if partial:
                        self._store(_STREAM_LEVEL[stream], stream, partial.take(), datetime.now(UTC))
                self._partial.clear()
                if self.dropped:
                    self._append("WARNING", "conduit.engine", self._dropped_note(), datetime.now(UTC))
                self._closed = True
            return list(self._lines)

    def _store(self, level: str, logger: str, message: str, stamp: datetime) -> None:
        """Keep one line if it fits the limits; the caller holds the lock. Every line passes here, logged or
        printed, so this is where a secret the execution read is masked."""
        if self._closed:
            return
        if self.redactor is not None:
            message = self.redactor.text(message)
        size = _utf8_size(message)
        if self._full or self.count >= self._max_lines or self._bytes + size > self._max_bytes:
            self._full = True  # later lines are left out too, even small ones: what is stored has no holes
            self.dropped += 1
            self.dropped_bytes += size
            return
        self._bytes += size
        self._append(level, logger, message, stamp)

    def _append(self, level: str, logger: str, message: str, stamp: datetime) -> None:
        step = current_step.get()
        self._lines.append(
            LogLine(
                sequence=self.count + 1,
                timestamp=stamp.isoformat().replace("+00:00", "Z"),
                level=level,
                logger=logger,
                message=message,
                step_name=step[0] if step else None,
                step_type=step[1] if step else None,
            )
        )

    def _dropped_note(self) -> str:
        return (
            f"{self.dropped:,} more log lines ({self.dropped_bytes:,} bytes) were not stored: the limit is "
            f"{self._max_lines:,} lines and {self._max_bytes:,} bytes of text per execution."
        )


_STREAM_LEVEL = {"stdout": "INFO", "stderr": "ERROR"}
_active: ContextVar[LogCapture | None] = ContextVar("conduit_log_capture", default=None)
current_step: ContextVar[tuple[str, str] | None] = ContextVar("conduit_current_step", default=None)


@contextlib.contextmanager
def capturing(capture: LogCapture) -> Iterator[LogCapture]:
    """Attribute every line produced in this context (and the tasks and threads it starts) to `capture`."""
    install()
    debug = capture.level < logging.INFO and capture.own_loggers
    if debug:
        debug_opt_in.lower(capture.own_loggers, keep=_handler)
    token = _active.set(capture)
    try:
        yield capture
    finally:
        _active.reset(token)
        if debug:
            debug_opt_in.restore(capture.own_loggers)


def capture_for(request: ExecutionRequest, name: str, *, module: str, declared: str = DEFAULT_LEVEL) -> LogCapture:
    """One execution's capture: at the level an admin asked for with the request, else the function's own.

    Below INFO its own loggers are `context.logger` (`workflow.<name>`) and its module's (`logging.getLogger(
    __name__)`, and their children): only they may store DEBUG lines, see `shared.capture.log_levels`.
    """
    level = _LEVEL_NUMBERS[request.log_level or declared]
    if level >= logging.INFO:
        return LogCapture(level)
    return LogCapture(level, (f"workflow.{name}", module))


def current_capture() -> LogCapture | None:
    """The capture of the execution this code runs in, if any."""
    return _active.get()


class _RoutingHandler(logging.Handler):
    """Hands each record to the capture of the execution it was logged in, if that execution stores it."""

    def emit(self, record: logging.LogRecord) -> None:
        capture = _active.get()
        if capture is not None and capture.accepts(record):
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
        if root.level > logging.INFO:  # Python's default WARNING would make no INFO records; Azure's worker uses INFO
            root.setLevel(logging.INFO)
        for name in _QUIET_LOGGERS:
            if logging.getLogger(name).level == logging.NOTSET:
                logging.getLogger(name).setLevel(logging.WARNING)
        _patch_threads()
        _mask_records()
        _patched = True


_pool_worker = getattr(concurrent.futures.thread, "_worker", None)


def _mask_records() -> None:
    """Mask a secret the execution read in every log record it creates, for every handler: besides the capture,
    the host's own (the Functions worker forwards records to Application Insights) and the console's. Records
    outside an execution, or of one that read no secret, cost one ContextVar lookup."""
    make_record = logging.getLogRecordFactory()

    def masked_record(*args: Any, **kwargs: Any) -> logging.LogRecord:
        record = make_record(*args, **kwargs)
        capture = _active.get()
        redactor = capture.redactor if capture is not None else None
        if redactor is not None:
            record.msg, record.args = redactor.text(record.getMessage()), None
            if record.exc_info:
                record.exc_text = redactor.text(_formatter.formatException(record.exc_info))
        return record

    logging.setLogRecordFactory(masked_record)


def _patch_threads() -> None:
    original_start = threading.Thread.start
    original_submit = ThreadPoolExecutor.submit

    def start(self: threading.Thread) -> None:
        # A pool's worker thread gets each call's context from `submit`; started inside an execution, it must not
        # keep that execution's context (its capture and every line in it) for the rest of the process's life.
        if _active.get() is not None and getattr(self, "_target", None) is not _pool_worker:
            context = contextvars.copy_context()
            run = self.run
            self.run = lambda: context.run(run)  # type: ignore[method-assign]
        original_start(self)

    def submit(self: ThreadPoolExecutor, fn: Any, /, *args: Any, **kwargs: Any) -> Any:
        # Always carry the submitter's context: a pool thread may have been started inside some other execution.
        return original_submit(self, contextvars.copy_context().run, fn, *args, **kwargs)

    threading.Thread.start = start  # type: ignore[method-assign]
    ThreadPoolExecutor.submit = submit  # type: ignore[method-assign,assignment]
