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
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from shared.models import ExecutionRecord, iso, utc_now

if TYPE_CHECKING:
    from shared.storage.executions import ExecutionStore
    from shared.storage.queues import ExecutionQueue

MAX_QUEUE_DELAY = timedelta(days=7) - timedelta(minutes=1)  # what Azure Queue storage accepts, with a margin
PARK_SETTING = "CONDUIT_PARK_AFTER_SECONDS"
DEFAULT_PARK_AFTER = 1.0
MAX_RESUME_CHAIN = 10  # from_failed reruns of reruns whose recorded nodes a run may reuse
MAX_EVENTS_LISTED = 20  # distinct event names a paused run lists (64 characters each at most: fits the column)
EVENT_NAME_PATTERN = r"^[A-Za-z0-9_.-]{1,64}$"  # what `wait_for_event` waits for, and the events route delivers


class ExecutionSuspended(Exception):
    """The execution pauses: stored Waiting with `waiting` (and woken at `waiting["until"]` when it has one)."""

    def __init__(self, waiting: dict[str, Any], *, events_seen: Mapping[str, int] | None = None) -> None:
        super().__init__(f"waiting ({waiting.get('reason')})")
        self.waiting = waiting
        self.events_seen = dict(events_seen or {})  # deliveries of each awaited event the run knew of


def park_after_seconds() -> float:
    """Shorter waits (a retry's backoff, a delay) are slept in place: a trip through the queue costs more."""
    try:
        return max(0.0, float(os.environ.get(PARK_SETTING, "") or DEFAULT_PARK_AFTER))
    except ValueError:
        return DEFAULT_PARK_AFTER


def waiting_of(waits: Sequence[Mapping[str, Any]]) -> dict[str, Any]:
    """The record's `waiting` for a run paused at `waits` (one per paused node, each with its Waiting step): the
    first one's reason and node, the earliest `until`, every distinct awaited event and how many nodes wait. Its
    size does not grow with the number of waits (a loop whose every iteration waits), so it always fits its column.
    """
    untils = [moment for w in waits if (moment := when(w.get("until"))) is not None]
    first = waits[0]
    events = sorted({str(w["event"]) for w in waits if w.get("reason") == "event" and w.get("event")})
    waiting: dict[str, Any] = {"reason": first.get("reason"), "node_id": first.get("node_id"),
                               "until": iso(min(untils)) if untils else None}
    if first.get("event"):
        waiting["event"] = first["event"]
    if first.get("iteration"):
        waiting["iteration"] = first["iteration"]
    if len(events) > 1 or (events and first.get("reason") != "event"):
        waiting["events"] = events[:MAX_EVENTS_LISTED]
    if len(waits) > 1:
        waiting["nodes_waiting"] = len(waits)
    return waiting


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
    events = {str(name) for name in waiting.get("events") or []}
    if waiting.get("reason") == "event" and waiting.get("event"):
        events.add(str(waiting["event"]))
    return events


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


async def wake_if_delivered(store: ExecutionStore, queue: ExecutionQueue | None, scope: str, execution_id: str,
                            waiting: Mapping[str, Any] | None, seen: Mapping[str, int]) -> bool:
    """After a run was stored Waiting for events: when one of them was delivered while it ran (the events route saw
    it Running and only stored it), wake it now. The route reads the record after storing the event, and this reads
    the events after storing the record, so one of the two always sees the other's write. True when it woke it."""
    awaited = awaited_events(waiting)
    if not awaited or queue is None:
        return False
    delivered = Counter(str(event.get("event")) for event in await store.get_events(execution_id))
    if not any(delivered[name] > seen.get(name, 0) for name in awaited):
        return False
    from shared.errors import StaleRecordError
    from shared.models import ExecutionStatus
    from shared.storage.queues import ExecutionMessage

    record = await store.get(scope, execution_id, light=True)
    if record is None or record.status is not ExecutionStatus.WAITING:
        return False
    try:
        await store.update(record, status=ExecutionStatus.PENDING, waiting=None, resumes=record.resumes + 1,
                           requeued_at=utc_now(), requeues=0)
    except StaleRecordError:
        return False  # the events route (or a wake-up) moved it on first
    await queue.send(ExecutionMessage(execution_id, scope))
    return True


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
    inherited: list[dict[str, Any]] = []
    source, hops = record.resume_from, 0
    while source is not None and hops < MAX_RESUME_CHAIN:  # a from_failed rerun of a from_failed rerun: all of it
        original = await store.get(record.scope, source, light=True)
        if original is None:
            break
        steps = await attempts_of(original.id, original.attempt)
        inherited = [step | {"from_execution": original.id} for step in steps
                     if step.get("status") == "Success" and step.get("step_type") == "dag_node"] + inherited
        source, hops = original.resume_from, hops + 1
    return inherited + own + events


def last_order(history: Sequence[Mapping[str, Any]], attempt: int) -> int:
    """The highest execution_order stored for `attempt`: a continuation numbers its steps after it."""
    orders = [int(s.get("execution_order") or 0) for s in history
              if s.get("attempt") == attempt and "from_execution" not in s and s.get("step_type") != "event"]
    return max(orders, default=0)
