"""Durable executions: pausing without a worker, waking through the queue, and what a resumed run finds.

An execution pauses by raising `ExecutionSuspended` out of its function (the DAG executor does, for a
`wait_for_event` or `delay` node and for a node retry with a long backoff; the `retried` layer does for a Python
workflow's retry). The engine then stores it `Waiting` — no lease, no deadline but the wait's own — and, when the wait
has an end, sends its queue message with a visibility delay so that a worker on any host wakes it then
(shared.executions.worker). An event delivered through the API wakes it earlier.

A woken execution is a continuation of the same attempt (`resumes` counts them): its log lines and steps continue
after those already stored, and `load_history` gives the executor every step stored for it so far (every attempt,
and for a `from_failed` rerun the original's successful nodes), which is how completed nodes are not run again.

Azure queues hide a message for at most 7 days: a longer wait is woken early, finds its time not come, and the
worker sends the message again for what is left (hops of at most `MAX_QUEUE_DELAY`).
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.models import ExecutionRecord, iso, utc_now

if TYPE_CHECKING:
    from shared.storage.executions import ExecutionStore

MAX_QUEUE_DELAY = timedelta(days=7) - timedelta(minutes=1)  # what Azure Queue storage accepts, with a margin
PARK_SETTING = "CONDUIT_PARK_AFTER_SECONDS"
DEFAULT_PARK_AFTER = 1.0
MAX_WAITS_LISTED = 20
EVENT_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # what `wait_for_event` waits for, and the events route delivers


class ExecutionSuspended(Exception):
    """The execution pauses: stored Waiting with `waiting` (and woken at `waiting["until"]` when it has one)."""

    def __init__(self, waiting: dict[str, Any]) -> None:
        super().__init__(f"waiting ({waiting.get('reason')})")
        self.waiting = waiting


def park_after_seconds() -> float:
    """Shorter waits (a retry's backoff, a delay) are slept in place: a trip through the queue costs more."""
    try:
        return max(0.0, float(os.environ.get(PARK_SETTING, "") or DEFAULT_PARK_AFTER))
    except ValueError:
        return DEFAULT_PARK_AFTER


def waiting_of(waits: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The record's `waiting` for a run paused at `waits` (one per paused node): the first one's fields, the
    earliest `until` among them, and the list (bounded) so that any awaited event can be delivered."""
    untils = [w["until"] for w in waits if w.get("until")]
    first = dict(waits[0])
    first["until"] = min(untils) if untils else None
    if len(waits) > 1:
        first["waits"] = [dict(w) for w in waits[:MAX_WAITS_LISTED]]
    return first


def until_of(waiting: Mapping[str, Any] | None) -> datetime | None:
    return when((waiting or {}).get("until"))


def when(text: Any) -> datetime | None:
    """An ISO time as stored (`...Z`), or None for anything else; compare these, never the texts (a time with no
    fraction of a second is shorter, and sorts wrongly against one with)."""
    if not isinstance(text, str) or not text:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def awaited_events(waiting: Mapping[str, Any] | None) -> set[str]:
    """The event names a Waiting execution accepts."""
    if not waiting:
        return set()
    waits = waiting.get("waits") or [waiting]
    return {str(w["event"]) for w in waits if w.get("reason") == "event" and w.get("event")}


DUE_SLACK = timedelta(seconds=1)  # queue delays are whole seconds: a wait this close to its end is over


def is_due(moment: datetime | None, now: datetime | None = None) -> bool:
    """Whether a wait ending at `moment` is over (None: it has no end, never)."""
    return moment is not None and moment <= (now or utc_now()) + DUE_SLACK


def wake_delay(until: datetime | None, now: datetime | None = None) -> float | None:
    """Seconds to hide a wake-up message for (capped at what the queue accepts); None: nothing to wake."""
    if until is None:
        return None
    left = (until - (now or utc_now())).total_seconds()
    return max(0.0, min(left, MAX_QUEUE_DELAY.total_seconds()))


def until_after(seconds: float) -> str:
    return iso(utc_now() + timedelta(seconds=seconds)) or ""


def continues(record: ExecutionRecord | None) -> bool:
    """Whether a claimed run may find steps stored before it: a takeover, a wake-up, a retry, a from_failed rerun."""
    return record is not None and bool(record.attempt > 1 or record.resumes or record.retries or record.resume_from)


async def load_history(store: ExecutionStore, record: ExecutionRecord) -> list[dict[str, Any]]:
    """Every step stored for this execution so far (all attempts, oldest first), then the successful steps of the
    execution a `from_failed` rerun resumes (marked `from_execution`); plus delivered events as `event` steps."""
    async def attempts_of(execution_id: str, last: int) -> list[dict[str, Any]]:
        found = await asyncio.gather(*(store.get_steps(execution_id, attempt=n) for n in range(1, last + 1)))
        return [step for steps in found for step in steps]

    own = await attempts_of(record.id, record.attempt)
    events = await store.get_events(record.id)
    if record.resume_from is None:
        return own + events
    original = await store.get(record.scope, record.resume_from, light=True)
    inherited = [] if original is None else await attempts_of(original.id, original.attempt)
    kept = [step | {"from_execution": original.id} for step in inherited  # type: ignore[union-attr]
            if step.get("status") == "Success" and step.get("step_type") == "dag_node"]
    return kept + own + events


def last_order(history: Sequence[Mapping[str, Any]], attempt: int) -> int:
    """The highest execution_order stored for `attempt`: a continuation numbers its steps after it."""
    orders = [int(s.get("execution_order") or 0) for s in history
              if s.get("attempt") == attempt and "from_execution" not in s and s.get("step_type") != "event"]
    return max(orders, default=0)
