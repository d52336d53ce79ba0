"""The slots a cron schedule fires at (shared.functions.schedule.CronSchedule): month ends, leap days, seconds, and
both daylight-saving transitions in a northern and a southern time zone. Pure computation: `now` is a parameter."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from itertools import pairwise

import pytest

from shared.functions.schedule import CronSchedule

NEW_YORK, SYDNEY = "America/New_York", "Australia/Sydney"


def utc(text: str) -> datetime:
    """'2027-03-14 07:00' as an aware UTC datetime."""
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


def shown(slots: list[datetime]) -> list[str]:
    return [slot.strftime("%Y-%m-%d %H:%M:%S") for slot in slots]


def test_a_day_that_only_some_months_have_skips_the_others() -> None:
    # Given midnight on the 31st, from the first of January
    schedule = CronSchedule.parse("0 0 31 * *")
    # When the next runs are listed
    runs = schedule.next_runs(utc("2027-01-01 00:00"), 5)
    # Then February, April and June (no 31st) are skipped, not run on another day
    assert shown(runs) == ["2027-01-31 00:00:00", "2027-03-31 00:00:00", "2027-05-31 00:00:00",
                           "2027-07-31 00:00:00", "2027-08-31 00:00:00"]


def test_the_last_minute_of_a_month_rolls_into_the_next_month_and_year() -> None:
    # Given a schedule firing at 23:59 and 00:00
    schedule = CronSchedule.parse("59,0 23,0 * * *")
    # When the slots around New Year are asked for
    slots = schedule.slots_between(utc("2027-12-31 23:00"), utc("2028-01-01 00:30"))
    # Then they run on through the month and year boundary in order
    assert shown(slots) == ["2027-12-31 23:59:00", "2028-01-01 00:00:00"]


def test_the_29th_of_february_fires_only_in_a_leap_year() -> None:
    # Given noon on 29 February, asked for from early 2027 (not a leap year)
    schedule = CronSchedule.parse("0 12 29 2 *")
    # When the next runs are listed
    runs = schedule.next_runs(utc("2027-01-15 00:00"), 2)
    # Then the first is in 2028, the next in 2032
    assert shown(runs) == ["2028-02-29 12:00:00", "2032-02-29 12:00:00"]


def test_a_six_field_expression_fires_at_its_second() -> None:
    # Given NCRONTAB with seconds first: 30 seconds past every fifth minute
    schedule = CronSchedule.parse("30 */5 * * * *")
    # When the next runs are listed from a moment just past one of them
    runs = schedule.next_runs(utc("2027-06-01 10:05:30"), 3)
    # Then each is at second 30, strictly after the moment
    assert shown(runs) == ["2027-06-01 10:10:30", "2027-06-01 10:15:30", "2027-06-01 10:20:30"]
    assert CronSchedule.parse("0 0 6 * * *").next_after(utc("2027-06-01 06:00:00")) == utc("2027-06-02 06:00")


def test_next_after_is_strictly_after_even_within_the_same_second() -> None:
    # Given an every-minute schedule
    schedule = CronSchedule.parse("* * * * *")
    # Then a moment exactly on a slot gives the next slot, and a moment a fraction before a slot gives that slot
    assert schedule.next_after(utc("2027-06-01 10:00")) == utc("2027-06-01 10:01")
    assert schedule.next_after(utc("2027-06-01 09:59:59.900000")) == utc("2027-06-01 10:00")
    # And a moment in another zone is the same instant
    berlin = datetime.fromisoformat("2027-06-01T12:00:00+02:00")
    assert schedule.next_after(berlin) == utc("2027-06-01 10:01")


def test_slots_between_excludes_its_start_and_includes_its_end() -> None:
    # Given every 15 minutes
    schedule = CronSchedule.parse("*/15 * * * *")
    # When the window starts and ends exactly on slots
    slots = schedule.slots_between(utc("2027-06-01 10:00"), utc("2027-06-01 10:45"))
    # Then the start's slot is left out (it already fired) and the end's is in
    assert shown(slots) == ["2027-06-01 10:15:00", "2027-06-01 10:30:00", "2027-06-01 10:45:00"]
    # And a window holding no slot is empty, also an empty window
    assert schedule.slots_between(utc("2027-06-01 10:01"), utc("2027-06-01 10:14:59")) == []
    assert schedule.slots_between(utc("2027-06-01 10:15"), utc("2027-06-01 10:15")) == []


def test_slots_are_aware_utc_and_a_naive_moment_is_refused() -> None:
    schedule = CronSchedule.parse("0 9 * * *", "Europe/Berlin")
    # Given a slot computed for a Berlin schedule; then it is an aware UTC datetime
    slot = schedule.next_after(utc("2027-01-10 00:00"))
    assert slot == utc("2027-01-10 08:00") and slot.tzinfo is UTC
    # And a naive moment (which zone?) is an error, not a guess
    with pytest.raises(ValueError, match="aware datetime"):
        schedule.next_after(datetime(2027, 1, 10))


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # New York springs forward at 02:00 EST (07:00 UTC) on 14 March 2027: 02:30 does not exist that day
        (NEW_YORK, "2027-03-12 12:00", ["2027-03-13 07:30:00", "2027-03-14 07:00:00", "2027-03-15 06:30:00"]),
        # Sydney springs forward at 02:00 AEST (16:00 UTC on 2 October) on 3 October 2027
        (SYDNEY, "2027-10-01 00:00", ["2027-10-01 16:30:00", "2027-10-02 16:00:00", "2027-10-03 15:30:00"]),
    ],
)
def test_a_local_time_in_the_spring_forward_gap_fires_once_at_the_end_of_the_gap(
    zone: str, after: str, expected: list[str]
) -> None:
    # Given 02:30 every day in a zone, and a day on which the clocks jump from 02:00 to 03:00
    schedule = CronSchedule.parse("30 2 * * *", zone)
    # When the runs around that day are listed
    runs = schedule.next_runs(utc(after), 3)
    # Then that day's run is once, at the first valid instant after the gap (03:00 daylight time)
    assert shown(runs) == expected


@pytest.mark.parametrize(
    ("zone", "after", "expected"),
    [
        # New York falls back at 02:00 EDT (06:00 UTC) on 7 November 2027: 01:30 happens at 05:30 and 06:30 UTC
        (NEW_YORK, "2027-11-05 12:00", ["2027-11-06 05:30:00", "2027-11-07 05:30:00", "2027-11-08 06:30:00"]),
        # Sydney falls back at 03:00 AEDT (16:00 UTC on 3 April) on 4 April 2027: 02:30 happens at 15:30 and 16:30
        (SYDNEY, "2027-04-02 00:00", ["2027-04-02 15:30:00", "2027-04-03 15:30:00", "2027-04-04 16:30:00"]),
    ],
)
def test_a_local_time_that_happens_twice_fires_once_at_its_first_occurrence(
    zone: str, after: str, expected: list[str]
) -> None:
    # Given a daily time inside the hour that is repeated when the clocks go back
    expression = "30 1 * * *" if zone == NEW_YORK else "30 2 * * *"
    schedule = CronSchedule.parse(expression, zone)
    # When the runs around that day are listed
    runs = schedule.next_runs(utc(after), 3)
    # Then that day's run is once, at the first of the two instants
    assert shown(runs) == expected


@pytest.mark.parametrize(
    ("zone", "after", "until", "expected"),
    [
        # New York spring forward: 01:30 EST, then 03:00 EDT (02:00 and 02:30 land there too: once), 03:30 EDT
        (NEW_YORK, "2027-03-14 06:00", "2027-03-14 07:30",
         ["2027-03-14 06:30:00", "2027-03-14 07:00:00", "2027-03-14 07:30:00"]),
        # New York fall back: 01:00 and 01:30 EDT fire, their EST repeats do not, then 02:00 EST
        (NEW_YORK, "2027-11-07 04:30", "2027-11-07 07:30",
         ["2027-11-07 05:00:00", "2027-11-07 05:30:00", "2027-11-07 07:00:00", "2027-11-07 07:30:00"]),
        # Sydney spring forward: 01:30 AEST, then 03:00 AEDT once
        (SYDNEY, "2027-10-02 15:00", "2027-10-02 16:30",
         ["2027-10-02 15:30:00", "2027-10-02 16:00:00", "2027-10-02 16:30:00"]),
        # Sydney fall back: 02:00 and 02:30 AEDT fire, their AEST repeats do not, then 03:00 AEST
        (SYDNEY, "2027-04-03 14:30", "2027-04-03 17:30",
         ["2027-04-03 15:00:00", "2027-04-03 15:30:00", "2027-04-03 17:00:00", "2027-04-03 17:30:00"]),
    ],
)
def test_every_half_hour_across_a_transition_has_no_duplicate_slot(
    zone: str, after: str, until: str, expected: list[str]
) -> None:
    # Given every half hour on the zone's wall clock
    schedule = CronSchedule.parse("*/30 * * * *", zone)
    # When the slots across the transition are listed
    slots = schedule.slots_between(utc(after), utc(until))
    # Then each instant is there once, ascending, at the expected times
    assert shown(slots) == expected


def test_next_after_a_moment_in_the_repeated_hour_skips_the_slots_already_fired() -> None:
    # Given every half hour in New York, and a moment in the repeated hour's second pass (01:15 EST, 06:15 UTC)
    schedule = CronSchedule.parse("*/30 * * * *", NEW_YORK)
    # When the next slot is asked for
    slot = schedule.next_after(utc("2027-11-07 06:15"))
    # Then it is 02:00 EST: 01:30 already fired at its first occurrence (05:30 UTC)
    assert slot == utc("2027-11-07 07:00")


@pytest.mark.parametrize(("expression", "zone"), [("*/20 0-4 * * *", NEW_YORK), ("0,30 1-3 * * *", SYDNEY),
                                                  ("15 2 * * *", "Europe/Berlin")])
def test_a_year_of_slots_is_ascending_unique_and_agrees_with_next_after(expression: str, zone: str) -> None:
    # Given a schedule around the transition hours, walked through a whole year
    schedule = CronSchedule.parse(expression, zone)
    slots = schedule.slots_between(utc("2027-01-01 00:00"), utc("2028-01-01 00:00"))
    # Then the slots strictly ascend (no instant twice) and each one's next_after is the one after it
    assert all(a < b for a, b in pairwise(slots))
    assert all(schedule.next_after(a) == b for a, b in pairwise(slots))
    # And a moment just before each slot leads to that slot
    assert all(schedule.next_after(slot - timedelta(seconds=1)) == slot for slot in slots[::7])


def test_next_runs_lists_the_next_five_by_default() -> None:
    schedule = CronSchedule.parse("0 9 * * MON-FRI", "Europe/Amsterdam")
    # Given a Friday afternoon; when the next runs are listed
    runs = schedule.next_runs(utc("2027-07-02 15:00"))
    # Then there are five, on weekdays at 09:00 Amsterdam summer time (07:00 UTC)
    assert shown(runs) == ["2027-07-05 07:00:00", "2027-07-06 07:00:00", "2027-07-07 07:00:00",
                           "2027-07-08 07:00:00", "2027-07-09 07:00:00"]


@pytest.mark.parametrize(
    ("expression", "zone", "problem"),
    [
        ("daily", None, "has 1 fields; use five (minute hour day month weekday) or six with seconds first"),
        ("0 0 0 * * * *", None, "has 7 fields"),
        ("61 * * * *", None, "is not a valid cron expression, e.g. '0 6 * * 1-5'"),
        ("0 0 30 2 *", None, "is not a valid cron expression"),  # 30 February never comes
        ("0 0 0 31 4 *", None, "is not a valid cron expression"),  # nor 31 April, with seconds
        ("*/30 * * * * *", None, "fires more often than once a minute"),
        ("0,30 * * * * *", None, "fires more often than once a minute"),
        (["0 * * * *"], None, "schedule must be a cron expression (text), got list"),
        ("0 6 * * *", "Mars/Olympus", "schedule_timezone 'Mars/Olympus' is not an IANA time zone; use a name such "
                                      "as 'Europe/Amsterdam'"),
        ("0 6 * * *", "../etc/passwd", "is not an IANA time zone"),
        ("0 6 * * *", "localtime", "is not an IANA time zone"),
        ("0 6 * * *", 1, "schedule_timezone must be an IANA time zone name (text) such as 'Europe/Amsterdam'"),
    ],
)
def test_a_bad_expression_or_zone_says_what_is_wrong(expression: object, zone: object, problem: str) -> None:
    with pytest.raises(ValueError) as caught:
        CronSchedule.parse(expression, zone)
    assert problem in str(caught.value)


def test_parse_normalises_spaces_and_defaults_to_utc() -> None:
    assert CronSchedule.parse("  0   6 * *\t1-5 ") == CronSchedule("0 6 * * 1-5", "UTC")
    assert CronSchedule.parse("0 0 6 * * *", "Europe/Berlin") == CronSchedule("0 0 6 * * *", "Europe/Berlin")
