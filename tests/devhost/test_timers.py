"""devhost's timer trigger, end to end, plus the schedule rules it relies on."""

from __future__ import annotations

import uuid
from collections import Counter
from datetime import UTC, datetime, timedelta

import pytest

from devhost import locks
from devhost.locks import SlotClaims
from devhost.settings import SettingsError
from devhost.timers import Schedule
from tests.devhost.conftest import wait_until


def test_six_field_schedule_fires_every_two_seconds_on_time(make_app, start_devhost) -> None:
    # Given a timer on a six-field schedule (every 2 seconds)
    app = make_app(TICK_SCHEDULE="*/2 * * * * *")
    start_devhost(app, http=False)
    # When a few slots pass
    ticks = wait_until(lambda: len(app.read("tick")) >= 2 and app.read("tick"), timeout=10)
    # Then it fired on time (past_due False), once for each of two consecutive slots two seconds apart: each run's
    # schedule status names the slot after its own
    assert [t["past_due"] for t in ticks[:2]] == [False, False]
    slots = [datetime.fromisoformat(t["next"]) - timedelta(seconds=2) for t in ticks[:2]]
    assert slots[1] - slots[0] == timedelta(seconds=2)
    # And each ran at its slot: not before it, and (a generous bound, for a busy machine) not long after it
    for tick, slot in zip(ticks[:2], slots, strict=True):
        assert slot.timestamp() - 0.5 <= tick["at"] <= slot.timestamp() + 10
    # And the run_on_startup timer fired once when the host started, although its schedule is yearly
    assert [s["past_due"] for s in app.read("startup")] == [False]


def test_two_hosts_fire_each_slot_once(make_app, start_devhost) -> None:
    # Given two hosts of the same app on the same storage, with a timer every second
    app = make_app(TICK_SCHEDULE="* * * * * *")
    start_devhost(app, http=False)
    start_devhost(app, http=False)
    # When several slots pass
    ticks = wait_until(lambda: len(app.read("tick")) >= 4 and app.read("tick"), timeout=10)
    # Then no slot ran twice
    per_slot = Counter(t["next"] for t in ticks)
    assert max(per_slot.values()) == 1


def test_two_hosts_starting_together_fire_the_start_up_run_once(make_app, start_devhost) -> None:
    # Given two hosts of the same app on the same storage, started one right after the other
    app = make_app()
    start_devhost(app, http=False)
    second = start_devhost(app, http=False)
    # When both have started
    second.wait_for_log(r"Function 'on_startup' skipped its start-up run: .* ran it\.")
    # Then the run_on_startup timer ran once, on the first host
    wait_until(lambda: app.read("startup"), timeout=10)
    assert len(app.read("startup")) == 1


async def test_a_start_up_run_is_claimed_again_once_the_last_one_is_older_than_the_window(
    storage_connection_string: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    claims = SlotClaims(storage_connection_string, table_name=f"DevhostSlots{uuid.uuid4().hex[:8]}")
    await claims.open()
    try:
        # Given one host claimed the start-up run
        assert await claims.claim_startup("host.fn", "host-a") is None
        # When another host starts within the window, it is told who ran it and does not run it
        assert "host-a" in (await claims.claim_startup("host.fn", "host-b") or "")
        # When the window has passed (here: shrunk to nothing), the next start claims it again, once
        monkeypatch.setattr(locks, "STARTUP_WINDOW", timedelta(0))
        assert await claims.claim_startup("host.fn", "host-c") is None
        monkeypatch.setattr(locks, "STARTUP_WINDOW", timedelta(minutes=1))
        assert "host-c" in (await claims.claim_startup("host.fn", "host-d") or "")
    finally:
        await claims.close()


def test_five_and_six_field_schedules_are_utc_ncrontab() -> None:
    moment = datetime(2024, 1, 1, 9, 29, 59, tzinfo=UTC)
    assert Schedule("0 30 9 * * 1-5").next_after(moment) == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    assert Schedule("*/15 * * * *").next_after(moment) == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    assert Schedule("0 30 9 * Jan Mon").next_after(moment) == datetime(2024, 1, 1, 9, 30, tzinfo=UTC)
    assert Schedule("*/2 * * * * *").latest_at_or_before(moment) == datetime(2024, 1, 1, 9, 29, 58, tzinfo=UTC)


def test_bad_schedule_is_reported() -> None:
    with pytest.raises(SettingsError, match="NCRONTAB"):
        Schedule("every minute")
