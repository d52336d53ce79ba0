"""The engine's layers. Each takes the next step and returns a step that does one more thing around it.

The deadline layer (`timed`) has a module of its own: `shared.engine.deadline`.
"""

from __future__ import annotations

import asyncio
import logging
import time
import traceback
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from shared.capture.log_capture import capturing
from shared.capture.redaction import Redactor
from shared.engine.context import bind_context, unbind_context
from shared.engine.deadline import (
    CANCELLED_BY_USER,
    ExecutionCancelled,
    ExecutionTimedOut,
    UserBaseException,
)
from shared.engine.durable import ExecutionSuspended
from shared.engine.scripts import script_outcome
from shared.errors import CapacityExceededError, UserError
from shared.models import ExecutionResult, ExecutionStatus, utc_now
from shared.serialization import check_json

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

log = logging.getLogger("conduit.engine")


@dataclass
class Outcome:
    """What the user code amounted to, before logs and timings are attached."""

    status: ExecutionStatus
    result: Any = None
    variables: dict[str, Any] | None = None
    error_message: str | None = None
    error_type: str | None = None
    waiting: dict[str, Any] | None = None


def classified(call: Callable[[Invocation], Awaitable[Any]]) -> Callable[[Invocation], Awaitable[Outcome]]:
    """Map the returned value or raised exception to a status. Tracebacks become ERROR log lines."""

    async def run(invocation: Invocation) -> Outcome:
        try:
            value = await call(invocation)
        except asyncio.CancelledError:
            if not invocation.cancel_requested:
                raise
            return _cancelled(invocation)
        except ExecutionSuspended as paused:
            if invocation.cancel_requested:  # a cancel came while it was pausing: it ends, it does not wait
                return _cancelled(invocation)
            invocation.events_seen = paused.events_seen
            return Outcome(ExecutionStatus.WAITING, waiting=paused.waiting)
        except Exception as exc:
            invocation.error = exc  # a retry policy reads its type and HTTP status (shared.engine.retries)
            return _failed(invocation, exc)
        return _success(invocation, value)

    return run


def _cancelled(invocation: Invocation) -> Outcome:
    invocation.capture.add("WARNING", "conduit.engine", CANCELLED_BY_USER)
    return Outcome(ExecutionStatus.CANCELLED, error_message=CANCELLED_BY_USER, error_type="Cancelled")


def _failed(invocation: Invocation, exc: Exception) -> Outcome:
    """The outcome of a call that raised: timeout, cancel, a message for the user, or a failure with its type."""
    if isinstance(exc, ExecutionCancelled):
        return _cancelled(invocation)
    if isinstance(exc, ExecutionTimedOut):
        invocation.capture.add("ERROR", "conduit.engine", str(exc))
        return Outcome(ExecutionStatus.TIMEOUT, error_message=str(exc), error_type="TimeoutError")
    if isinstance(exc, UserError):
        invocation.capture.add("ERROR", "conduit.engine", f"UserError: {exc.message}")
        return Outcome(ExecutionStatus.FAILED, error_message=exc.message, error_type="UserError")
    if isinstance(exc, CapacityExceededError):
        invocation.capture.add("ERROR", "conduit.engine", exc.message)
        return Outcome(ExecutionStatus.FAILED, error_message=exc.message, error_type="CapacityExceeded")
    if isinstance(exc, UserBaseException):  # SystemExit & co.: a failure of this execution, not of the host
        invocation.capture.add("ERROR", "conduit.engine", user_traceback(exc.original))
        return Outcome(ExecutionStatus.FAILED, error_message=str(exc), error_type=type(exc.original).__name__)
    invocation.capture.add("ERROR", "conduit.engine", user_traceback(exc))
    return Outcome(ExecutionStatus.FAILED, error_message=str(exc) or type(exc).__name__, error_type=type(exc).__name__)


_ENGINE_DIR = str(Path(__file__).resolve().parents[1])  # all of shared/: the engine's frames and its helpers'


def user_traceback(exc: BaseException) -> str:
    """The traceback as the user would want it: their frames, without the engine's own."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_frame.f_code.co_filename.startswith(_ENGINE_DIR):
        tb = tb.tb_next
    return "".join(traceback.format_exception(type(exc), exc, tb)).rstrip()


def _success(invocation: Invocation, value: Any) -> Outcome:
    variables = None
    if invocation.script is not None:
        value, variables = script_outcome(value, {"context": invocation.context, **invocation.request.parameters})
    try:
        check_json(value)
    except Exception as exc:
        invocation.capture.add("ERROR", "conduit.engine", str(exc))
        return Outcome(ExecutionStatus.FAILED, variables=variables, error_message=str(exc),
                       error_type="ResultNotSerializable")
    if isinstance(value, dict) and value.get("success") is False:
        message = value.get("error") or value.get("message")
        return Outcome(ExecutionStatus.COMPLETED_WITH_ERRORS, value, variables,
                       str(message) if message is not None else None, None)
    return Outcome(ExecutionStatus.SUCCESS, value, variables)


def captured(call: Callable[[Invocation], Awaitable[Outcome]]) -> Callable[[Invocation], Awaitable[ExecutionResult]]:
    """Bind the execution's context and log capture around the call; attach logs and timings to the result."""

    async def run(invocation: Invocation) -> ExecutionResult:
        token = bind_context(invocation.context)
        try:
            with capturing(invocation.capture):
                outcome = await call(invocation)
        finally:
            unbind_context(token)
            await invocation.context.aclose()
        if invocation.context.redactor is not None:
            outcome = _redacted(outcome, invocation.context.redactor)
        return ExecutionResult(
            execution_id=invocation.request.execution_id,
            status=outcome.status,
            result=outcome.result,
            duration_ms=int((time.perf_counter() - invocation.started_clock) * 1000),
            logs=invocation.capture.close(),
            variables=outcome.variables,
            steps=invocation.context.steps.steps,
            integration_calls=invocation.context.integration_calls,
            error_message=outcome.error_message,
            error_type=outcome.error_type,
            waiting=outcome.waiting,
            started_at=invocation.started_at,
            completed_at=utc_now(),
        )

    return run


def _redacted(outcome: Outcome, redactor: Redactor) -> Outcome:
    """The outcome with the secrets the execution read masked: its result, variables and error are what is stored
    and answered (steps, log lines and HTTP call records are masked as they are recorded)."""
    return Outcome(outcome.status, redactor.value(outcome.result),
                   None if outcome.variables is None else redactor.value(outcome.variables),
                   redactor.optional(outcome.error_message), outcome.error_type, outcome.waiting)
