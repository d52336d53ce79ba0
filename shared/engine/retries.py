"""`@workflow(retry_policy=...)`: a failed Python workflow runs again, each attempt a step with its error.

The `retried` layer sits inside `captured` (one log capture and one step list for all attempts) and outside
`classified`/`timed`. After a failure the policy retries
(shared.functions.retry_policy), the wait before the next attempt is taken

- in place, when it is short (below CONDUIT_PARK_AFTER_SECONDS, default 1 s) or a caller waits for the result (a
  synchronous run): the caller is answered once the last attempt ends. Attempts made in place share the run's
  `timeout_seconds` (the record's deadline): no attempt starts whose backoff would end past it;
- in the queue otherwise: the execution is stored Waiting (`waiting.reason` `retry`) and its message hidden until the
  next attempt is due, so no worker is held meanwhile (shared.engine.durable); `retries` on the record counts them,
  and each attempt run from the queue gets the whole `timeout_seconds`.

Cancels, timeouts of the execution, results that cannot be stored and input errors are never retried.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from shared.engine.durable import park_after_seconds
from shared.engine.layers import Outcome
from shared.functions.retry_policy import RetryPolicy
from shared.models import ExecutionStatus, iso

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

STEP_TYPE = "attempt"
_CANCEL_POLL_SECONDS = 0.25


def retried(call: Callable[[Invocation], Awaitable[Outcome]]) -> Callable[[Invocation], Awaitable[Outcome]]:
    """Run the call again after each failure its workflow's retry policy retries (see the module docstring)."""

    def run(invocation: Invocation) -> Awaitable[Outcome]:  # no coroutine of its own: free without a policy
        metadata = invocation.metadata
        if metadata is None or metadata.retry_policy is None or invocation.request.role == "data_provider":
            return call(invocation)
        return _with_retries(call, invocation, RetryPolicy.model_validate(metadata.retry_policy))

    return run


async def _with_retries(call: Callable[[Invocation], Awaitable[Outcome]], invocation: Invocation,
                        policy: RetryPolicy) -> Outcome:
    record = invocation.record
    attempt = 1 + (record.retries if record is not None else 0)
    budget = invocation.timeout_seconds
    while True:
        started, clock = datetime.now(UTC), time.perf_counter()
        invocation.error = None
        outcome = await call(invocation)
        delay = _delay(policy, outcome, invocation, attempt)
        retry_at = None if delay is None else iso(datetime.now(UTC) + timedelta(seconds=delay))
        invocation.context.steps.record(
            invocation.function_name, STEP_TYPE, outcome.status.value, error_message=_error(outcome),
            duration_ms=(time.perf_counter() - clock) * 1000, started=started,
            extra={"node_attempt": attempt, "retry_at": retry_at, "max_attempts": policy.max_attempts},
        )
        if delay is None:
            return outcome
        invocation.capture.add("WARNING", "conduit.engine", f"attempt {attempt} of {policy.max_attempts} failed "
                               f"({outcome.error_type}); retrying in {delay:.3g} s")
        if delay >= park_after_seconds() and _queued(invocation):
            return Outcome(ExecutionStatus.WAITING, error_message=outcome.error_message, error_type=outcome.error_type,
                           waiting={"reason": "retry", "until": retry_at, "attempt": attempt + 1, "retries": attempt})
        left = budget - (time.perf_counter() - invocation.started_clock) - delay
        if left <= 0:  # in place, all attempts share the run's timeout_seconds (its record's deadline)
            invocation.capture.add("WARNING", "conduit.engine", f"no attempt {attempt + 1}: its backoff would end "
                                   f"past the run's timeout_seconds ({budget:g} s)")
            return outcome
        if not await _sleep_unless_cancelled(invocation, delay):
            return outcome
        invocation.timeout_seconds = left
        attempt += 1


def _delay(policy: RetryPolicy, outcome: Outcome, invocation: Invocation, attempt: int) -> float | None:
    """Seconds before the next attempt, or None when this outcome stands."""
    error = invocation.error
    if outcome.status is not ExecutionStatus.FAILED or error is None or attempt >= policy.max_attempts:
        return None
    if invocation.cancel_requested or not policy.retries(error):
        return None
    return policy.delay_before(attempt)


def _queued(invocation: Invocation) -> bool:
    """Nobody waits on this run synchronously, and it is stored: it can wait in the queue."""
    record = invocation.record
    return record is not None and (record.trigger.get("mode") == "async" or bool(record.resumes))


async def _sleep_unless_cancelled(invocation: Invocation, seconds: float) -> bool:
    """Wait in place; False when a cancel came meanwhile (the failure then stands, and the run ends)."""
    end = time.monotonic() + seconds
    while (left := end - time.monotonic()) > 0:
        if invocation.cancel_requested:
            return False
        await asyncio.sleep(min(left, _CANCEL_POLL_SECONDS))
    return not invocation.cancel_requested


def _error(outcome: Outcome) -> str | None:
    if outcome.error_message is None and outcome.error_type is None:
        return None
    return f"{outcome.error_type or 'Error'}: {outcome.error_message}"
