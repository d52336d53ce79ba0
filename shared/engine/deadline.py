"""The deadline layer: the engine, not the user code, decides when an execution is over.

The user call runs as a task of its own, and the layer waits for whichever comes first: the call ends,
`timeout_seconds` pass, or a cancel is requested (`Invocation.request_cancel`). On the deadline or a cancel it
cancels the task and gives it CONDUIT_ABANDON_GRACE_SECONDS to end (its `finally` blocks run); a task that swallows
the cancellation and runs on is abandoned (`shared.engine.abandoned`) and the execution ends `Timeout` or `Cancelled` on
time all the same. A call that ends after its deadline, even normally, is a `Timeout`. Sync code runs in a pool
thread (`threads.py`), whose clock starts when the thread starts; one that waited a whole timeout for a thread
without starting fails with `CapacityExceededError` (it never ran).

User code that raises `SystemExit` or `KeyboardInterrupt` (`sys.exit`, argparse, click) would stop the event loop
if it escaped a task; it, and any other `BaseException`, becomes `UserBaseException`, which `classified` maps to
`Failed` with the exception's type.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
from asyncio.tasks import _enter_task, _leave_task
from collections.abc import Awaitable, Callable, Coroutine
from typing import TYPE_CHECKING, Any

from shared.engine.abandoned import registry
from shared.errors import CapacityExceededError

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

DONE, TIMEOUT, CANCEL = "done", "timeout", "cancel"
CANCELLED_BY_USER = "Execution cancelled by user"


def grace_seconds() -> float:
    """How long cancelled user code gets to end before it is abandoned (CONDUIT_ABANDON_GRACE_SECONDS, default 2)."""
    return float(os.environ.get("CONDUIT_ABANDON_GRACE_SECONDS", "") or 2)


class ExecutionTimedOut(Exception):
    """Raised inside the pipeline when `timeout_seconds` ran out."""


class ExecutionCancelled(Exception):
    """Raised inside the pipeline when a cancel was requested."""


class UserBaseException(Exception):
    """User code raised a `BaseException` (SystemExit, KeyboardInterrupt, ...), which must not reach the host."""

    def __init__(self, original: BaseException) -> None:
        name, text = type(original).__name__, str(original)
        super().__init__(f"{name}: {text}" if text else name)
        self.original = original


class Deadline:
    """What ends the wait for the user call: the call itself, the timer, or a cancel request (loop thread only,
    except `restart_threadsafe`)."""

    __slots__ = ("_loop", "_seconds", "_timer", "wake")

    def __init__(self, loop: asyncio.AbstractEventLoop, seconds: float, started: float) -> None:
        self._loop = loop
        self._seconds = seconds
        self.wake: asyncio.Future[str] = loop.create_future()
        self._timer = loop.call_at(started + seconds, self.fire, TIMEOUT)

    def fire(self, reason: str) -> None:
        if not self.wake.done():
            self.wake.set_result(reason)

    def restart(self) -> None:
        """The clock starts now (a sync call's thread has just started)."""
        if not self.wake.done():
            self._timer.cancel()
            self._timer = self._loop.call_later(self._seconds, self.fire, TIMEOUT)

    def restart_threadsafe(self) -> None:
        with contextlib.suppress(RuntimeError):  # a closed loop: nobody is waiting any more
            self._loop.call_soon_threadsafe(self.restart)

    def close(self) -> None:
        self._timer.cancel()


Call = Callable[["Invocation"], Awaitable[Any]]


def timed(call: Call) -> Call:
    """Enforce `timeout_seconds` and cancel requests from outside the user code, for async and sync code alike.

    Most calls never wait for anything (a data provider answering from memory, a no-op): the task's first step
    runs at once, and a call that ends there costs neither a timer nor a trip through the event loop.
    """

    async def run(invocation: Invocation) -> Any:
        if invocation.cancel_requested:
            raise ExecutionCancelled(CANCELLED_BY_USER)
        loop = asyncio.get_running_loop()
        started = loop.time()
        task = start_eagerly(loop, _body(call, invocation))
        if task.done():
            if loop.time() - started > invocation.timeout_seconds:  # blocking code that never awaited
                raise ExecutionTimedOut(_timed_out(invocation))
            return _result(task)
        deadline = invocation.deadline = Deadline(loop, invocation.timeout_seconds, started)
        if invocation.cancel_requested:  # asked while the first step ran, before there was a deadline to wake
            deadline.fire(CANCEL)
        try:
            reason = await deadline.wake
        except asyncio.CancelledError:
            task.cancel()  # the host is stopping this invocation: stop the user code too
            raise
        finally:
            deadline.close()
        if reason == DONE:
            return _result(task)
        started_running = await _stop(task, invocation, reason)
        if reason == CANCEL:
            raise ExecutionCancelled(CANCELLED_BY_USER)
        if not started_running:
            raise CapacityExceededError(_no_thread(invocation))
        raise ExecutionTimedOut(_timed_out(invocation))

    return run


def _timed_out(invocation: Invocation) -> str:
    return f"Execution timed out after {invocation.timeout_seconds:g} seconds"


def _no_thread(invocation: Invocation) -> str:
    return (f"No worker thread became free within {invocation.timeout_seconds:g} seconds (the execution's timeout), "
            "so the function never ran: the pool is held by other code. Try again later; if this persists, raise "
            "CONDUIT_SYNC_WORKERS.")


def start_eagerly(loop: asyncio.AbstractEventLoop, coro: Coroutine[Any, Any, Any]) -> asyncio.Task[Any]:
    """A task whose first step has already run, as Python 3.12's eager tasks start; we run on 3.11.

    `create_task` schedules the task's first step at the end of the loop's ready queue; it is taken from there and
    run now, with the new task as the current task (so `asyncio.timeout` and `TaskGroup` inside it bind to it).
    Should the last ready handle not be this task's step (another thread just scheduled something) or the loop not
    keep a ready queue (another loop implementation), the task simply starts on the loop's next round.
    """
    task = loop.create_task(coro)
    ready = getattr(loop, "_ready", None)
    if not ready or getattr(ready[-1]._callback, "__self__", None) is not task:
        return task
    step = ready.pop()
    if getattr(step._callback, "__self__", None) is not task:  # another thread appended a callback just now
        ready.append(step)
        return task
    outer = asyncio.current_task(loop)
    if outer is not None:
        _leave_task(loop, outer)
    try:
        step._run()
    finally:
        if outer is not None:
            _enter_task(loop, outer)
    return task


async def _body(call: Call, invocation: Invocation) -> Any:
    try:
        return await call(invocation)
    except (SystemExit, KeyboardInterrupt) as exc:
        raise UserBaseException(exc) from None  # escaping a task, these two would stop the event loop
    finally:
        if invocation.deadline is not None:
            invocation.deadline.fire(DONE)  # if first, the call counts (the task is done when the layer wakes)


def _result(task: asyncio.Task[Any]) -> Any:
    """The call's value or its exception, with a `BaseException` (or a self-inflicted cancel) as a user failure."""
    try:
        return task.result()
    except asyncio.CancelledError as exc:
        raise UserBaseException(exc) from None  # nobody asked: the user code cancelled itself
    except Exception:
        raise
    except BaseException as exc:
        raise UserBaseException(exc) from None


async def _stop(task: asyncio.Task[Any], invocation: Invocation, reason: str) -> bool:
    """Cancel the user task; abandon it if it is still running after the grace period, and abandon its thread.

    Returns whether the user code had started (a sync call may still have been waiting for a thread)."""
    task.cancel()
    if not task.done():
        await asyncio.wait((task,), timeout=grace_seconds())
    if task.done():
        if not task.cancelled():
            task.exception()  # whatever it ended with came too late to count
    else:
        task.cancel()  # once more: a retry loop may give up at its next await
        registry.add_task(task, invocation, reason)
    if invocation.thread_call is not None:
        return invocation.thread_call.abandon(reason)
    return True
