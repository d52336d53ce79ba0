"""The timer trigger: NCRONTAB schedules in UTC, like the host's TimerListener.

Six fields (`{second} {minute} {hour} {day} {month} {day-of-week}`) or five (no seconds); `%Setting%` schedules are
resolved first. `run_on_startup` fires once when the host starts — claimed like a slot, so hosts starting together
fire it once — and not after a recycle, which restarts only the worker. A slot whose previous run is still going is
skipped (the host never overlaps a timer with itself). A slot fired more than a second late — or the latest of
several missed ones, fired once — gets `past_due=True`. Across devhosts, `devhost.locks` makes one instance fire
each slot.
"""

from __future__ import annotations

import asyncio
import logging
import os
from datetime import UTC, datetime, timedelta

from azure.functions.timer import TimerRequest
from croniter import croniter

from devhost.invoker import Invoker
from devhost.loader import FunctionSpec
from devhost.locks import SlotClaims, host_id
from devhost.settings import SettingsError, resolve

log = logging.getLogger("devhost.timers")

LATE_TOLERANCE = timedelta(seconds=1)


class Schedule:
    """An NCRONTAB expression evaluated in UTC."""

    def __init__(self, expression: str) -> None:
        self.expression = expression
        fields = expression.split()
        if len(fields) not in (5, 6) or not croniter.is_valid(expression, second_at_beginning=len(fields) == 6):
            raise SettingsError(f"'{expression}' is not a 5- or 6-field NCRONTAB schedule (e.g. '0 */5 * * * *').")
        self._six = len(fields) == 6

    def _iter(self, start: datetime) -> croniter:
        return croniter(self.expression, start, second_at_beginning=self._six)

    def next_after(self, moment: datetime) -> datetime:
        return self._iter(moment).get_next(datetime)

    def latest_at_or_before(self, moment: datetime) -> datetime:
        return self._iter(moment + timedelta(microseconds=1)).get_prev(datetime)


class TimerListener:
    """Fires one timer function on its schedule until stopped."""

    def __init__(self, spec: FunctionSpec, invoker: Invoker, claims: SlotClaims, *, recycled: bool = False) -> None:
        self.spec = spec
        self.schedule = Schedule(resolve(str(spec.trigger["schedule"])))
        self._invoker = invoker
        self._claims = claims
        self._partition = f"{host_id(dict(os.environ))}.{spec.name}"
        self._owner = f"{os.uname().nodename}:{os.getpid()}"
        self._running: asyncio.Task[None] | None = None
        self._loop_task: asyncio.Task[None] | None = None
        self._last: datetime | None = None
        self._recycled = recycled

    async def start(self) -> None:
        if self.spec.trigger.get("runOnStartup"):
            await self._start_up_run()
        self._loop_task = asyncio.create_task(self._run(), name=f"timer-{self.spec.name}")
        log.info("Function '%s' runs on schedule '%s' (UTC).", self.spec.name, self.schedule.expression)

    async def stop_scheduling(self) -> None:
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)

    async def wait_idle(self) -> None:
        if self._running is not None:
            await asyncio.gather(self._running, return_exceptions=True)

    async def _run(self) -> None:
        slot = self.schedule.next_after(datetime.now(UTC))
        while True:
            await asyncio.sleep(max(0.0, (slot - datetime.now(UTC)).total_seconds()))
            now = datetime.now(UTC)
            past_due = now - slot > LATE_TOLERANCE
            await self._tick(slot, past_due)
            slot = self.schedule.next_after(slot)
            if slot <= now - LATE_TOLERANCE:
                # Several slots were missed (e.g. the machine slept): fire the latest once, as past due.
                slot = self.schedule.latest_at_or_before(now)

    async def _start_up_run(self) -> None:
        if self._recycled:
            log.info("Function '%s' does not run on startup after a recycle (the worker restarted).", self.spec.name)
            return
        try:
            fired_by = await self._claims.claim_startup(self._partition, self._owner)
        except Exception as exc:
            log.warning("Function '%s' could not claim its start-up run, skipping it: %s", self.spec.name, exc)
            return
        if fired_by is not None:
            log.info("Function '%s' skipped its start-up run: %s ran it.", self.spec.name, fired_by)
            return
        self._fire(datetime.now(UTC), past_due=False, reason="Timer fired on startup")

    async def _tick(self, slot: datetime, past_due: bool) -> None:
        if self._running is not None and not self._running.done():
            log.info("Function '%s' skipped the %s slot: its previous run is still running.", self.spec.name, slot)
            return
        try:
            claimed = await self._claims.claim(self._partition, slot, self._owner)
        except Exception as exc:
            log.warning("Function '%s' could not claim the %s slot, skipping it: %s", self.spec.name, slot, exc)
            return
        if claimed:
            self._fire(slot, past_due, reason=f"Timer fired at {slot.isoformat()}")

    def _fire(self, slot: datetime, past_due: bool, reason: str) -> None:
        status = {
            "Last": (self._last or slot).isoformat(),
            "Next": self.schedule.next_after(slot).isoformat(),
            "LastUpdated": datetime.now(UTC).isoformat(),
        }
        request = TimerRequest(past_due=past_due, schedule_status=status, schedule={"AdjustForDST": True})
        self._last = slot
        self._running = asyncio.create_task(self._invoke(request, reason))

    async def _invoke(self, request: TimerRequest, reason: str) -> None:
        try:
            await self._invoker.invoke(self.spec, request, reason)
        except Exception:
            # Like the host: a failed timer run is logged and not retried; the next slot runs as usual.
            log.exception("Exception while executing function: Functions.%s", self.spec.name)
