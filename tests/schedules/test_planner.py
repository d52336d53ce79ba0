"""The planner is pure arithmetic on `now`: these tests drive a schedule through months of ticks in milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shared.functions.schedule import CronSchedule, ScheduleOptions
from shared.schedules.planner import first_slot, plan


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def options(expression: str, timezone: str = "UTC", **policy: object) -> ScheduleOptions:
    return ScheduleOptions(cron=CronSchedule.parse(expression, timezone), **policy)  # type: ignore[arg-type]


def run_ticks(schedule: ScheduleOptions, start: datetime, end: datetime, every: timedelta) -> list[datetime]:
    """Tick from `start` to `end` as the timer would, firing what each tick's plan says; every slot fired."""
    next_run = first_slot(schedule.cron, start)
    fired: list[datetime] = []
    now = start
    while now <= end:
        due = plan(schedule, next_run, now)
        if due is not None:
            fired += due.fire
            next_run = due.next_run
        now += every
    return fired


@pytest.mark.parametrize("timezone", ["America/New_York", "Europe/Berlin"])
def test_four_months_of_ticks_fire_each_daily_slot_once_across_daylight_saving(timezone: str) -> None:
    # Given a daily 02:30 local schedule, ticked every minute from January to the end of April (spring forward)
    schedule = options("30 2 * * *", timezone)
    fired = run_ticks(schedule, at("2027-01-01T00:00:00"), at("2027-04-30T23:59:00"), timedelta(minutes=1))
    # Then it fired once a day: 120 days, no day twice, none missing, ascending
    days = [slot.astimezone(ZoneInfo(timezone)).date() for slot in fired]
    assert len(fired) == 120 and len(set(days)) == 120 and fired == sorted(fired)
    # And on the day 02:30 does not exist it fired at 03:00 local, the first valid instant
    transition = {"America/New_York": "2027-03-14T07:00:00", "Europe/Berlin": "2027-03-28T01:00:00"}[timezone]
    assert at(transition) in fired


def test_a_fall_back_repeated_time_fires_once_in_months_of_ticks() -> None:
    schedule = options("30 1 * * *", "America/New_York")
    fired = run_ticks(schedule, at("2027-10-01T00:00:00"), at("2027-11-30T23:59:00"), timedelta(minutes=1))
    # 01:30 on 7 November happens twice (EDT, then EST): it fires once, at the first (05:30 UTC)
    assert len(fired) == 61 and at("2027-11-07T05:30:00") in fired and at("2027-11-07T06:30:00") not in fired


def test_ticks_every_five_minutes_still_fire_every_minute_slot_as_late_ones() -> None:
    # Given an every-minute schedule whose timer runs only every 5 minutes, with a 5-minute grace
    schedule = options("* * * * *", grace_seconds=300)
    fired = run_ticks(schedule, at("2027-06-01T00:00:00"), at("2027-06-01T01:00:00"), timedelta(minutes=5))
    # With a 5-minute grace every slot is merely late, so every one fires, once
    assert fired == [at("2027-06-01T00:00:00") + timedelta(minutes=i) for i in range(61)]


def test_a_month_end_and_a_leap_day_are_slots_like_any_other() -> None:
    schedule = options("0 12 29 2 *")
    fired = run_ticks(schedule, at("2027-01-01T00:00:00"), at("2029-01-01T00:00:00"), timedelta(hours=6))
    assert fired == [at("2028-02-29T12:00:00")]
    last_of_month = options("0 0 L * *")
    fired = run_ticks(last_of_month, at("2028-01-01T00:00:00"), at("2028-04-01T00:00:00"), timedelta(hours=1))
    assert fired == [at("2028-01-31T00:00:00"), at("2028-02-29T00:00:00"), at("2028-03-31T00:00:00")]


@pytest.mark.parametrize(
    ("policy", "fired", "skipped"),
    [
        ({"catch_up": "latest"}, ["11:00"], 6),
        ({"catch_up": "all"}, ["10:00", "10:10", "10:20", "10:30", "10:40", "10:50", "11:00"], 0),
        ({"catch_up": "all", "max_catch_up": 2}, ["10:50", "11:00"], 5),
        ({"catch_up": "none"}, [], 7),
    ],
)
def test_missed_slots_follow_catch_up(policy: dict[str, object], fired: list[str], skipped: int) -> None:
    # Given slots every 10 minutes not handled since 10:00, and a tick at 11:05 (the grace is 2 minutes)
    schedule = options("*/10 * * * *", grace_seconds=120, **policy)
    due = plan(schedule, at("2027-05-06T10:00:00"), at("2027-05-06T11:05:00"))
    assert due is not None
    assert [slot.strftime("%H:%M") for slot in due.fire] == fired
    assert (due.skipped, due.next_run) == (skipped, at("2027-05-06T11:10:00"))


def test_nothing_due_plans_nothing() -> None:
    assert plan(options("0 * * * *"), at("2027-05-06T11:00:00"), at("2027-05-06T10:59:59")) is None


def test_a_new_schedule_starts_in_the_current_minute_and_after_its_last_run() -> None:
    cron = CronSchedule.parse("*/30 * * * *")
    # First seen at 10:00:40: the 10:00 slot counts (it is this minute's); at 10:01 it is the 10:30 one
    assert first_slot(cron, at("2027-05-06T10:00:40")) == at("2027-05-06T10:00:00")
    assert first_slot(cron, at("2027-05-06T10:01:00")) == at("2027-05-06T10:30:00")
    # An edited schedule whose old expression already fired 10:00 does not fire it again
    assert first_slot(cron, at("2027-05-06T10:00:40"), last_run=at("2027-05-06T10:00:00")) == at("2027-05-06T10:30:00")
