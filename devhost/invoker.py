"""Call a user function the way the Python worker does, and keep count of what is running for shutdown.

`async def` functions are awaited on the host's event loop (no thread hop, as in the worker); plain `def` functions
run in one thread pool sized by PYTHON_THREADPOOL_THREAD_COUNT (unset = the stdlib default, as in the worker on
Python 3.9+). The trigger value is passed by the trigger's binding name, and a `context` parameter gets a
`func.Context`. An invocation that outlives functionTimeout is abandoned (see `devhost.timeouts`): the trigger gets
a FunctionTimeoutError and the host is told, so it can recycle the process as the host restarts the worker.
"""

from __future__ import annotations

import asyncio
import contextvars
import functools
import logging
import os
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import azure.functions as func
from azure.functions import _abc as functions_abc

from devhost.loader import FunctionSpec
from devhost.timeouts import FunctionTimeoutError, format_timespan, timeout_message

log = logging.getLogger("devhost.host")


class _TraceContext(functions_abc.TraceContext):
    trace_parent = ""
    trace_state = ""
    attributes: dict[str, str] = {}


class _RetryContext(functions_abc.RetryContext):
    retry_count = 0
    max_retry_count = 0
    exception = None  # type: ignore[assignment]  # the worker's value when there was no retry


class InvocationContext(func.Context):
    """The `context` argument: the worker's fields, with empty trace and retry information."""

    _thread_local = threading.local()

    def __init__(self, invocation_id: str, function_name: str, function_directory: str) -> None:
        self._invocation_id = invocation_id
        self._function_name = function_name
        self._function_directory = function_directory

    @property
    def invocation_id(self) -> str:
        return self._invocation_id

    @property
    def function_name(self) -> str:
        return self._function_name

    @property
    def function_directory(self) -> str:
        return self._function_directory

    @property
    def thread_local_storage(self) -> Any:
        return self._thread_local

    @property
    def trace_context(self) -> functions_abc.TraceContext:
        return _TraceContext()

    @property
    def retry_context(self) -> functions_abc.RetryContext:
        return _RetryContext()


def thread_pool_size(environ: dict[str, str] | os._Environ[str] = os.environ) -> int | None:
    """PYTHON_THREADPOOL_THREAD_COUNT, or None (ThreadPoolExecutor's own default) when unset or invalid."""
    raw = environ.get("PYTHON_THREADPOOL_THREAD_COUNT", "").strip()
    if raw.isdigit() and int(raw) > 0:
        return int(raw)
    return None


TimeoutHandler = Callable[[FunctionSpec, str], None]


class Invoker:
    """Runs invocations and counts the ones in flight, so the host can tell whether a stop cut any short."""

    def __init__(self, max_threads: int | None = None) -> None:
        self._executor = ThreadPoolExecutor(max_workers=max_threads, thread_name_prefix="devhost-sync")
        self._running = 0
        self._abandoned = 0
        self._timeout: float | None = None
        self._on_timeout: TimeoutHandler | None = None

    @property
    def running(self) -> int:
        return self._running

    @property
    def abandoned(self) -> int:
        """Timed-out invocations left running: a thread among them may never end, so only a new process does."""
        return self._abandoned

    def enforce_timeout(self, seconds: float | None, on_timeout: TimeoutHandler) -> None:
        """Give every invocation `seconds` (None: unbounded); `on_timeout(spec, invocation_id)` runs when one
        exceeds it, after the invocation has been failed."""
        self._timeout, self._on_timeout = seconds, on_timeout

    async def invoke(self, spec: FunctionSpec, trigger_value: Any, reason: str, *, quiet: bool = False) -> Any:
        """Run one invocation and return its result; exceptions propagate to the trigger, which decides what a
        failure means (500, retry, poison). `quiet` logs the Executing/Executed lines at DEBUG (hot HTTP path)."""
        invocation_id = str(uuid.uuid4())
        kwargs: dict[str, Any] = {spec.arg_name: trigger_value}
        if spec.wants_context:
            kwargs["context"] = InvocationContext(invocation_id, spec.name, spec.directory)
        level = logging.DEBUG if quiet else logging.INFO
        log.log(level, "Executing 'Functions.%s' (Reason='%s', Id=%s)", spec.name, reason, invocation_id)
        started = time.perf_counter()
        self._running += 1
        try:
            result = await self._call(spec, kwargs, invocation_id)
        except BaseException:
            took = (time.perf_counter() - started) * 1000
            log.error("Executed 'Functions.%s' (Failed, Id=%s, Duration=%.0fms)", spec.name, invocation_id, took)
            raise
        finally:
            self._running -= 1
        took = (time.perf_counter() - started) * 1000
        log.log(level, "Executed 'Functions.%s' (Succeeded, Id=%s, Duration=%.0fms)", spec.name, invocation_id, took)
        return result

    async def _call(self, spec: FunctionSpec, kwargs: dict[str, Any], invocation_id: str) -> Any:
        if self._timeout is None:
            if spec.is_async:
                return await spec.user_function(**kwargs)
            return await self._in_thread(spec, kwargs)
        # A task (or a thread's future) that a timeout can leave running, as the worker's code runs on until the
        # process ends: cancelling it would let the app observe a cancellation the real worker never delivers.
        work = asyncio.ensure_future(
            spec.user_function(**kwargs) if spec.is_async else self._in_thread(spec, kwargs)
        )
        try:
            done, _ = await asyncio.wait({work}, timeout=self._timeout)
        except asyncio.CancelledError:
            work.cancel()  # the caller went away (shutdown): the work goes with it, as without a timeout
            raise
        if done:
            return work.result()
        self._abandon(work, spec, invocation_id)
        raise FunctionTimeoutError(
            f"Timeout value of {format_timespan(self._timeout)} was exceeded by function: Functions.{spec.name}"
        )

    async def _in_thread(self, spec: FunctionSpec, kwargs: dict[str, Any]) -> Any:
        call = functools.partial(contextvars.copy_context().run, spec.user_function, **kwargs)
        return await asyncio.get_running_loop().run_in_executor(self._executor, call)

    def _abandon(self, work: asyncio.Future[Any], spec: FunctionSpec, invocation_id: str) -> None:
        assert self._timeout is not None
        log.error("%s", timeout_message(self._timeout, spec.name, invocation_id))
        self._abandoned += 1
        work.add_done_callback(_forget_outcome)
        if self._on_timeout is not None:
            self._on_timeout(spec, invocation_id)

    def shutdown(self, wait: bool) -> None:
        """Stop the thread pool; never wait for an abandoned call, which may never return."""
        self._executor.shutdown(wait=wait and self.abandoned == 0, cancel_futures=True)


def _forget_outcome(work: asyncio.Future[Any]) -> None:
    """Nobody awaits an abandoned call: read its outcome so asyncio does not report it as never retrieved."""
    if not work.cancelled():
        work.exception()
