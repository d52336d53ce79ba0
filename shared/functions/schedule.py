"""`@workflow(schedule=...)`: the cron schedule, checked at import, and the instants it fires at.

A schedule is five-field cron (`minute hour day month weekday`, minute resolution) or six-field NCRONTAB (a seconds
field first, as Azure's timer triggers) that fires at most once a minute. It is read in `timezone` (UTC unless the
workflow names an IANA zone); croniter walks the zone's wall clock and each wall time becomes the first instant at
which that wall time has been reached:

- a wall time that exists once is that instant;
- one that exists twice (fall back) is its first occurrence only, so it fires once;
- one that does not exist (spring forward) is the first instant after the gap, so it fires once, and a slot that
  lands on that same instant (03:00 after a 02:00-03:00 gap) is that same slot, not a second one.

This rule is monotonic (a later wall time never maps to an earlier instant), which is what lets `next_after` start
croniter at the moment's own wall time. Every slot is returned as an aware UTC datetime.
"""

from __future__ import annotations

import copy
import functools
import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, tzinfo
from itertools import islice, takewhile
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from croniter import croniter

CATCH_UP = ("latest", "all", "none")
OVERLAP = ("skip", "allow", "cancel_previous")
DEFAULT_MAX_CATCH_UP = 10
DEFAULT_GRACE_SECONDS = 120
MAX_CATCH_UP = 1000
MAX_GRACE_SECONDS = 86_400
EXAMPLE = "'0 6 * * 1-5' (06:00 on weekdays) or, with seconds first, '0 0 6 * * 1-5'"
ZONE_EXAMPLE = "'Europe/Amsterdam'"
_ONE_SECOND_FIELD = re.compile(r"[0-9]{1,2}")


@dataclass(frozen=True)
class CronSchedule:
    """A checked cron expression (normalised to single spaces) read in an IANA time zone. Build it with `parse`."""

    expression: str
    timezone: str = "UTC"

    @classmethod
    def parse(cls, expression: object, timezone: object = None) -> CronSchedule:
        """The schedule, or ValueError saying what is wrong with the expression or the zone and how to write it."""
        return cls(_checked_expression(expression), _checked_zone(timezone))

    def next_after(self, moment: datetime) -> datetime:
        """The first slot strictly after `moment` (aware), in UTC."""
        return next(self._slots_after(moment))

    def slots_between(self, after: datetime, until: datetime) -> list[datetime]:
        """Every slot `s` with `after < s <= until`, ascending, each instant once, in UTC."""
        _require_aware(until)
        return list(takewhile(lambda slot: slot <= until, self._slots_after(after)))

    def next_runs(self, after: datetime, count: int = 5) -> list[datetime]:
        """The next `count` slots strictly after `after`, in UTC."""
        return list(islice(self._slots_after(after), count))

    def _slots_after(self, moment: datetime) -> Iterator[datetime]:
        _require_aware(moment)
        zone = _zone(self.timezone)
        if zone is None:
            for wall in _wall_times(self.expression, moment.astimezone(UTC).replace(tzinfo=None)):
                yield wall.replace(tzinfo=UTC)
            return
        # Wall times up to the moment's own all map to instants <= moment; a later one can still map to <= moment
        # during a repeated hour (its first occurrence has passed), and to the instant just yielded after a gap.
        latest = moment
        for wall in _wall_times(self.expression, moment.astimezone(zone).replace(tzinfo=None)):
            slot = first_instant(wall, zone)
            if slot > latest:
                latest = slot
                yield slot


def first_instant(wall: datetime, zone: tzinfo) -> datetime:
    """The first instant (UTC) at which the zone's clock has reached the naive wall time `wall`."""
    earlier = wall.replace(tzinfo=zone, fold=0).astimezone(UTC)  # fold=0: the offset in force before a transition
    later = wall.replace(tzinfo=zone, fold=1).astimezone(UTC)
    if earlier <= later:  # one instant, or two (fall back): the first
        return earlier
    return _gap_end(later, earlier, zone)  # no instant (spring forward): fold=1 falls before the gap, fold=0 after


def _gap_end(before: datetime, after: datetime, zone: tzinfo) -> datetime:
    """The transition instant in (before, after]: where the zone's offset becomes the one in force at `after`.

    zoneinfo has no public list of transitions; they fall on whole seconds and the window is the gap's length (an
    hour or less), so a binary search over seconds takes about a dozen steps, and only for a wall time in a gap."""
    offset_after = after.astimezone(zone).utcoffset()
    low, high = int(before.timestamp()), int(after.timestamp())
    while high - low > 1:
        middle = (low + high) // 2
        if datetime.fromtimestamp(middle, zone).utcoffset() == offset_after:
            high = middle
        else:
            low = middle
    return datetime.fromtimestamp(high, UTC)


def _wall_times(expression: str, start: datetime) -> Iterator[datetime]:
    """The expression's naive wall times strictly after the naive `start`, from a copy of its parsed template."""
    walker = copy.copy(_template(expression))
    walker.set_current(start, force=True)
    while True:
        yield walker.get_next(datetime)


@functools.lru_cache(maxsize=1024)
def _zone(name: str) -> tzinfo | None:
    """The zone to map wall times through; None for UTC, whose wall times are its instants."""
    return None if name == "UTC" else ZoneInfo(name)


@functools.lru_cache(maxsize=4096)
def _template(expression: str) -> croniter:
    # Parsing costs more than a step (hundreds of microseconds here): parse once, copy per walk (a walk mutates it).
    return croniter(expression, datetime(2000, 1, 1), second_at_beginning=len(expression.split()) == 6)


def _require_aware(moment: datetime) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"a schedule needs an aware datetime (with a time zone), got the naive {moment!r}")


def _checked_expression(expression: object) -> str:
    if not isinstance(expression, str):
        raise ValueError(f"schedule must be a cron expression (text), got {type(expression).__name__}")
    fields = expression.split()
    if len(fields) not in (5, 6):
        raise ValueError(
            f"schedule {expression!r} has {len(fields)} fields; use five (minute hour day month weekday) or six with "
            f"seconds first, e.g. {EXAMPLE}"
        )
    normalised, six = " ".join(fields), len(fields) == 6
    # strict: a date that never comes (30 February) is an error, not a schedule that silently never fires
    if not croniter.is_valid(normalised, strict=True, second_at_beginning=six):
        raise ValueError(f"schedule {expression!r} is not a valid cron expression, e.g. {EXAMPLE}")
    if six and not (_ONE_SECOND_FIELD.fullmatch(fields[0]) and int(fields[0]) <= 59):
        raise ValueError(
            f"schedule {expression!r} fires more often than once a minute: its first field (seconds) must be one "
            f"number from 0 to 59, e.g. '0 */5 * * * *' (every five minutes)"
        )
    return normalised


def _checked_zone(timezone: object) -> str:
    if timezone is None:
        return "UTC"
    if not isinstance(timezone, str):
        raise ValueError(
            f"schedule_timezone must be an IANA time zone name (text) such as {ZONE_EXAMPLE}, got "
            f"{type(timezone).__name__}"
        )
    try:
        if timezone == "localtime":  # the server's own zone, a file the host may or may not have: no IANA zone
            raise ValueError(timezone)
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise ValueError(
            f"schedule_timezone {timezone!r} is not an IANA time zone; use a name such as {ZONE_EXAMPLE} or 'UTC'"
        ) from None
    return timezone


@dataclass(frozen=True)
class ScheduleOptions:
    """Everything `@workflow` says about its schedule: when it fires, with what input, and what a missed slot or a
    still-running previous run does (the planner and ticker in shared.schedules act on it)."""

    cron: CronSchedule
    inputs: Mapping[str, Any] = field(default_factory=dict)
    catch_up: str = "latest"
    max_catch_up: int = DEFAULT_MAX_CATCH_UP
    grace_seconds: int = DEFAULT_GRACE_SECONDS
    overlap: str = "skip"

    def __post_init__(self) -> None:
        object.__setattr__(self, "inputs", copy.deepcopy(dict(self.inputs)))  # the caller's dict may change later

    def to_api(self) -> dict[str, Any]:
        return {
            "expression": self.cron.expression,
            "timezone": self.cron.timezone,
            "inputs": copy.deepcopy(dict(self.inputs)),
            "catch_up": self.catch_up,
            "max_catch_up": self.max_catch_up,
            "grace_seconds": self.grace_seconds,
            "overlap": self.overlap,
        }


def check_schedule_options(
    schedule: object,
    schedule_timezone: object = None,
    schedule_inputs: object = None,
    catch_up: object = "latest",
    max_catch_up: object = DEFAULT_MAX_CATCH_UP,
    grace_seconds: object = DEFAULT_GRACE_SECONDS,
    overlap: object = "skip",
) -> ScheduleOptions | None:
    """The decorator's schedule arguments as one `ScheduleOptions` (None without a schedule), or ValueError naming
    the argument that is wrong. Whether `schedule_inputs` fit the workflow's parameters is checked by the caller,
    which has the input model."""
    if schedule is None:
        _refuse_without_schedule(schedule_timezone=schedule_timezone, schedule_inputs=schedule_inputs,
                                 catch_up=catch_up, max_catch_up=max_catch_up, grace_seconds=grace_seconds,
                                 overlap=overlap)
        return None
    return ScheduleOptions(
        cron=CronSchedule.parse(schedule, schedule_timezone),
        inputs=_checked_inputs(schedule_inputs),
        catch_up=_checked_choice("catch_up", catch_up, CATCH_UP),
        max_catch_up=_checked_whole("max_catch_up", max_catch_up, 1, MAX_CATCH_UP),
        grace_seconds=_checked_whole("grace_seconds", grace_seconds, 0, MAX_GRACE_SECONDS),
        overlap=_checked_choice("overlap", overlap, OVERLAP),
    )


_WITHOUT_SCHEDULE = {"schedule_timezone": None, "schedule_inputs": None, "catch_up": "latest",
                     "max_catch_up": DEFAULT_MAX_CATCH_UP, "grace_seconds": DEFAULT_GRACE_SECONDS, "overlap": "skip"}


def _refuse_without_schedule(**given: object) -> None:
    for name, value in given.items():
        if value != _WITHOUT_SCHEDULE[name] or type(value) is not type(_WITHOUT_SCHEDULE[name]):
            raise ValueError(f"{name} is given but there is no schedule; add schedule=... (a cron expression) or "
                             f"remove {name}")


def _checked_choice(name: str, value: object, choices: tuple[str, ...]) -> str:
    if not isinstance(value, str) or value not in choices:
        raise ValueError(f"{name} must be one of {', '.join(repr(c) for c in choices)}, got {value!r}")
    return value


def _checked_whole(name: str, value: object, low: int, high: int) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or not low <= value <= high:
        raise ValueError(f"{name} must be a whole number from {low} to {high}, got {value!r}")
    return value


def _checked_inputs(inputs: object) -> dict[str, Any]:
    """A dict of JSON values by parameter name: a scheduled run's input travels through the queue as JSON."""
    if inputs is None:
        return {}
    if not isinstance(inputs, dict):
        raise ValueError(f"schedule_inputs must be a dict of parameter name -> value, got {type(inputs).__name__}")
    for key in inputs:
        if not isinstance(key, str):
            raise ValueError(f"schedule_inputs keys are parameter names (text), got {key!r}")
    for key, value in inputs.items():
        try:
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError, RecursionError):
            raise ValueError(
                f"schedule_inputs['{key}'] must be JSON (text, a finite number, true/false, null, a list or an "
                f"object), got {type(value).__name__}; write a date or time as ISO text, e.g. '2027-01-31'"
            ) from None
    return inputs
