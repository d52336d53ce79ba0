"""Which slots of a schedule to fire now: pure arithmetic on the clock, given `now`, so tests cross months in
milliseconds.

A row's `next_run` is the first slot not yet handled. At a tick, every slot from it up to `now` is due:

- a due slot at most `grace_seconds` old is *late*, not missed: it fires, whatever `catch_up` says;
- older ones are *missed* (the hosts were down, the timer could not run): `catch_up="latest"` fires the most recent
  missed slot and skips the others, `"all"` fires each (the most recent `max_catch_up` of them; older ones are
  skipped), `"none"` skips them all.

Skipped slots are counted, never fired later. Only the last `LOOKBACK` (a day) of an outage is looked at slot by
slot: older slots are skipped without being counted, so a tick after a month down stays as cheap as after a day.

A schedule that starts (a new workflow, a changed expression, a resume) starts with the slots of the minute its
first tick runs in: it never fires slots from before it existed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from shared.functions.schedule import CronSchedule, ScheduleOptions

_JUST_BEFORE = timedelta(microseconds=1)
_MINUTE = timedelta(minutes=1)
LOOKBACK = timedelta(days=1)


@dataclass(frozen=True)
class Plan:
    """What one tick does with one schedule: fire these slots (ascending), skip `skipped`, then wait for
    `next_run`."""

    fire: tuple[datetime, ...]
    skipped: int
    next_run: datetime


def first_slot(cron: CronSchedule, now: datetime, last_run: datetime | None = None) -> datetime:
    """The first slot of a schedule that starts now: in the current minute or later, and after the minute of its
    last run (so an edited schedule never fires in a minute the old one already fired in)."""
    anchor = now.replace(second=0, microsecond=0) - _JUST_BEFORE
    if last_run is not None:  # not in the minute the last run fired in either (a six-field slot may be in it)
        anchor = max(anchor, last_run.replace(second=0, microsecond=0) + _MINUTE - _JUST_BEFORE)
    return cron.next_after(anchor)


def plan(options: ScheduleOptions, next_run: datetime, now: datetime) -> Plan | None:
    """The slots due at `now`, by the catch-up policy; None when nothing is due (the common case, and free)."""
    if next_run > now:
        return None
    cron = options.cron
    horizon = now - max(LOOKBACK, timedelta(seconds=options.grace_seconds))
    if next_run < horizon:
        next_run = cron.next_after(horizon - _JUST_BEFORE)
        if next_run > now:
            return Plan(fire=(), skipped=0, next_run=next_run)
    due = [next_run, *cron.slots_between(next_run, now)]
    cutoff = now - timedelta(seconds=options.grace_seconds)
    missed = [slot for slot in due if slot < cutoff]
    late = due[len(missed):]
    caught_up = _caught_up(options, missed)
    return Plan(
        fire=tuple(caught_up + late),
        skipped=len(missed) - len(caught_up),
        next_run=cron.next_after(now),
    )


def _caught_up(options: ScheduleOptions, missed: list[datetime]) -> list[datetime]:
    if not missed or options.catch_up == "none":
        return []
    if options.catch_up == "all":
        return missed[-options.max_catch_up:]
    return missed[-1:]
