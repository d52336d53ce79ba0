"""The scheduler tick against Azurite, driven by `now`: slots fire once, missed slots follow `catch_up`, a running
previous run follows `overlap`, and edits, removals, pauses and crashes never fire a slot twice or lose one.

Each test registers its own workflows (unique names) and uses a schedules table of its own, so slot-keyed execution
ids never meet another test's.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared import workflow
from shared.engine.core import Engine
from shared.errors import StorageError
from shared.executions.cleanup import _settle as settle_pending
from shared.executions.recovery import PassReport
from shared.executions.service import WorkflowCall, submit
from shared.executions.services import Services
from shared.executions.worker import process_message
from shared.functions.registry import FunctionRegistry, use_registry
from shared.models import GLOBAL_SCOPE, Caller, ExecutionRecord, ExecutionStatus, slot_execution_id, utc_now
from shared.schedules.service import ScheduleService
from shared.schedules.ticker import tick
from shared.storage import faults
from shared.storage.clients import open_tables
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionQueue
from shared.storage.schedules import ScheduleRow, ScheduleStore
from tests.support.queue_drain import drain


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


class World:
    """A registry the test adds scheduled workflows to, services over Azurite, and a schedules table of its own."""

    def __init__(self, services: Services, store: ScheduleStore, connection_string: str) -> None:
        self.services = services
        self.store = store
        self.connection_string = connection_string
        self.registry = services.registry

    def scheduled(self, schedule: str, **options: Any) -> str:
        """Register a workflow with this schedule under a fresh name; returns the name."""
        name = f"sched_{uuid.uuid4().hex[:10]}"
        with use_registry(self.registry):

            @workflow(name=name, schedule=schedule, **options)
            async def scheduled_workflow(context, region: str = "eu", batch: int = 10):
                return {"region": region, "batch": batch}

        return name

    def unschedule(self, name: str, schedule: str | None = None, **options: Any) -> None:
        """Re-register `name` with another schedule (or none), as a redeploy would."""
        self.registry._functions.pop(name)  # the redeployed app's registry no longer has the old definition
        with use_registry(self.registry):

            @workflow(name=name, schedule=schedule, **options)
            async def scheduled_workflow(context, region: str = "eu", batch: int = 10):
                return {"region": region, "batch": batch}

    async def tick(self, now: str) -> Any:
        return await tick(self.services, self.store, at(now))

    async def row(self, name: str) -> Any:
        return await self.store.get(name)

    async def execution(self, name: str, slot: str) -> ExecutionRecord | None:
        return await self.services.store.get(GLOBAL_SCOPE, slot_execution_id(name, at(slot)))

    async def fired_slots(self, name: str, slots: list[str]) -> list[str]:
        return [slot for slot in slots if await self.execution(name, slot) is not None]


@pytest.fixture
async def world(storage_connection_string: str) -> AsyncIterator[World]:
    registry = FunctionRegistry()
    store = ExecutionStore.from_connection_string(storage_connection_string)
    queue = ExecutionQueue(storage_connection_string, name=f"sched-{uuid.uuid4().hex[:12]}")
    schedules = ScheduleStore(open_tables(storage_connection_string), table=f"Sched{uuid.uuid4().hex[:12]}")
    await store.ensure_tables()
    await queue.ensure()
    await schedules.ensure_table()
    services = Services(registry=registry, store=store, engine=Engine(registry, store), queue=queue)
    yield World(services, schedules, storage_connection_string)
    await schedules.close()
    await queue.close()
    await store.close()


def every(minutes: int, start: str, count: int) -> list[str]:
    first = at(start)
    return [(first + timedelta(minutes=minutes * i)).isoformat()[:19] for i in range(count)]


async def test_a_new_schedule_starts_at_its_next_slot_and_a_quiet_tick_writes_nothing(world: World) -> None:
    # Given a workflow scheduled every 15 minutes, first seen by a tick at 10:03
    name = world.scheduled("*/15 * * * *")
    report = await world.tick("2031-03-04T10:03:10")
    # Then its row exists with the next slot, 10:15, and nothing fired
    row = await world.row(name)
    assert (row.expression, row.timezone, row.next_run) == ("*/15 * * * *", "UTC", at("2031-03-04T10:15:00"))
    assert report.fired == [] and row.run_count == 0
    # When ticks run before 10:15
    for now in ("2031-03-04T10:04:00", "2031-03-04T10:14:59"):
        report = await world.tick(now)
        # Then they change nothing (no write: the row's ETag stays)
        assert not report.active
    assert (await world.row(name)).etag == row.etag


async def test_a_due_slot_fires_once_as_the_system_with_its_schedule_inputs_and_defaults(world: World) -> None:
    # Given a workflow scheduled at 06:00 with schedule_inputs for one of its parameters
    name = world.scheduled("0 6 * * *", schedule_inputs={"region": "us"})
    await world.tick("2031-03-04T05:50:00")
    # When the tick at 06:00:02 runs, and again (a retried timer run) at 06:00:40
    first = await world.tick("2031-03-04T06:00:02")
    again = await world.tick("2031-03-04T06:00:40")
    # Then one execution exists for the slot: Pending, queued, the system's, with the inputs over the defaults
    record = await world.execution(name, "2031-03-04T06:00:00")
    assert record is not None and first.fired == [record.id] and again.fired == []
    assert record.status is ExecutionStatus.PENDING
    assert record.trigger["kind"] == "schedule" and record.trigger["scheduled_for"] == "2031-03-04T06:00:00Z"
    assert record.caller["kind"] == "system" and record.scope == GLOBAL_SCOPE
    assert record.input_data == {"region": "us"}
    # And the row remembers it and waits for tomorrow
    row = await world.row(name)
    assert (row.last_run, row.last_execution_id, row.run_count) == (at("2031-03-04T06:00:00"), record.id, 1)
    assert row.next_run == at("2031-03-05T06:00:00") and row.last_error is None


async def _outage(world: World, **options: Any) -> tuple[str, Any, Any]:
    """A workflow every 10 minutes whose hosts were down from 10:00 to 11:05: the tick at 11:05 sees 7 missed
    slots (10:00 .. 11:00; the grace is 2 minutes)."""
    name = world.scheduled("*/10 * * * *", grace_seconds=120, **options)
    await world.tick("2031-05-06T09:55:00")
    report = await world.tick("2031-05-06T11:05:00")
    return name, report, await world.row(name)


SLOTS = every(10, "2031-05-06T10:00:00", 7)


async def test_catch_up_latest_fires_the_most_recent_missed_slot_and_counts_the_others(world: World) -> None:
    name, report, row = await _outage(world)  # catch_up="latest" is the default
    assert await world.fired_slots(name, SLOTS) == ["2031-05-06T11:00:00"]
    assert (report.skipped, row.skipped_count, row.run_count) == (6, 6, 1)
    assert row.next_run == at("2031-05-06T11:10:00")


async def test_catch_up_all_fires_each_missed_slot(world: World) -> None:
    name, report, row = await _outage(world, catch_up="all")
    assert await world.fired_slots(name, SLOTS) == SLOTS
    assert (len(report.fired), row.run_count, row.skipped_count) == (7, 7, 0)


async def test_catch_up_all_is_bounded_by_max_catch_up(world: World) -> None:
    name, _, row = await _outage(world, catch_up="all", max_catch_up=3)
    # Then the three most recent missed slots fire; the four older ones are skipped and counted
    assert await world.fired_slots(name, SLOTS) == SLOTS[-3:]
    assert (row.run_count, row.skipped_count) == (3, 4)


async def test_catch_up_none_skips_every_missed_slot(world: World) -> None:
    name, report, row = await _outage(world, catch_up="none")
    assert await world.fired_slots(name, SLOTS) == []
    assert (row.run_count, row.skipped_count, report.fired) == (0, 7, [])


async def test_a_late_slot_within_grace_fires_even_with_catch_up_none(world: World) -> None:
    # Given catch_up="none" and the hosts back at 11:01 (the 11:00 slot is 60 s late, within the 120 s grace)
    name = world.scheduled("*/10 * * * *", catch_up="none", grace_seconds=120)
    await world.tick("2031-05-07T09:55:00")
    await world.tick("2031-05-07T11:01:00")
    # Then 11:00 fires (late, not missed) and the six before it are skipped
    assert await world.fired_slots(name, every(10, "2031-05-07T10:00:00", 7)) == ["2031-05-07T11:00:00"]
    assert (await world.row(name)).skipped_count == 6


async def _previous_running(world: World, overlap: str) -> tuple[str, ExecutionRecord]:
    """A workflow every 5 minutes whose 10:00 run is still Running when the 10:05 slot comes."""
    name = world.scheduled("*/5 * * * *", overlap=overlap)
    await world.tick("2031-06-01T09:58:00")
    await world.tick("2031-06-01T10:00:01")
    previous = await world.execution(name, "2031-06-01T10:00:00")
    assert previous is not None
    running = await world.services.store.update(previous, status=ExecutionStatus.RUNNING)
    await world.tick("2031-06-01T10:05:01")
    return name, running


async def test_overlap_skip_skips_and_counts_a_slot_while_the_previous_run_is_going(world: World) -> None:
    name, _ = await _previous_running(world, "skip")
    assert await world.execution(name, "2031-06-01T10:05:00") is None
    row = await world.row(name)
    assert (row.run_count, row.skipped_count, row.next_run) == (1, 1, at("2031-06-01T10:10:00"))


async def test_overlap_allow_runs_anyway(world: World) -> None:
    name, previous = await _previous_running(world, "allow")
    assert await world.execution(name, "2031-06-01T10:05:00") is not None
    assert (await world.services.store.get(GLOBAL_SCOPE, previous.id)).status is ExecutionStatus.RUNNING


async def test_overlap_cancel_previous_cancels_the_running_one_first(world: World) -> None:
    name, previous = await _previous_running(world, "cancel_previous")
    assert await world.execution(name, "2031-06-01T10:05:00") is not None
    assert (await world.services.store.get(GLOBAL_SCOPE, previous.id)).status is ExecutionStatus.CANCELLING
    assert (await world.row(name)).run_count == 2


async def test_overlap_does_not_apply_once_the_previous_run_finished(world: World) -> None:
    name = world.scheduled("*/5 * * * *")
    await world.tick("2031-06-02T09:58:00")
    await world.tick("2031-06-02T10:00:01")
    previous = await world.execution(name, "2031-06-02T10:00:00")
    await world.services.store.finish(previous.finished(ExecutionStatus.SUCCESS, None, None, at("2031-06-02T10:01:00")),
                                      [], [])
    await world.tick("2031-06-02T10:05:01")
    assert await world.execution(name, "2031-06-02T10:05:00") is not None


async def test_an_edited_schedule_never_fires_the_old_and_the_new_one_for_the_same_minute(world: World) -> None:
    # Given an hourly workflow that fired its 10:00 slot (overlap allowed: no worker runs it here)
    name = world.scheduled("0 * * * *", overlap="allow")
    await world.tick("2031-07-01T09:30:00")
    await world.tick("2031-07-01T10:00:01")
    # When it is redeployed every 30 minutes, and the next tick runs in the same minute
    world.unschedule(name, "*/30 * * * *", overlap="allow")
    report = await world.tick("2031-07-01T10:00:30")
    # Then the row takes the new expression, and its next run is 10:30, not 10:00 again
    row = await world.row(name)
    assert (row.expression, row.next_run, report.changed) == ("*/30 * * * *", at("2031-07-01T10:30:00"), 1)
    assert report.fired == [] and row.run_count == 1
    await world.tick("2031-07-01T10:30:01")
    assert await world.fired_slots(name, ["2031-07-01T10:00:00", "2031-07-01T10:30:00"]) == [
        "2031-07-01T10:00:00", "2031-07-01T10:30:00"]


async def test_a_removed_schedule_is_retired_and_a_restored_one_starts_afresh(world: World) -> None:
    # Given a workflow every 10 minutes that ran at 08:00
    name = world.scheduled("*/10 * * * *")
    await world.tick("2031-07-02T07:55:00")
    await world.tick("2031-07-02T08:00:01")
    # When it loses its schedule
    world.unschedule(name, None)
    report = await world.tick("2031-07-02T08:01:00")
    # Then its row is retired (its history kept) and nothing fires while it has none
    row = await world.row(name)
    assert (row.retired, row.run_count, report.retired) == (True, 1, 1)
    await world.tick("2031-07-02T09:00:00")
    assert await world.fired_slots(name, every(10, "2031-07-02T08:10:00", 6)) == []
    # When the schedule comes back at 09:03
    world.unschedule(name, "*/10 * * * *")
    await world.tick("2031-07-02T09:03:00")
    # Then it starts from its next slot; the slots it had none are not caught up
    row = await world.row(name)
    assert (row.retired, row.next_run, row.skipped_count) == (False, at("2031-07-02T09:10:00"), 0)


async def test_a_paused_schedule_fires_nothing_and_resumes_without_catching_up(world: World) -> None:
    name = world.scheduled("*/10 * * * *")
    service = ScheduleService(world.services, world.store)
    await world.tick("2031-08-01T09:55:00")
    # When an admin pauses it, slots pass
    paused = await service.pause(name, at("2031-08-01T09:56:00"))
    assert paused.row.paused
    for now in ("2031-08-01T10:00:01", "2031-08-01T10:10:01", "2031-08-01T10:20:01"):
        await world.tick(now)
    assert await world.fired_slots(name, every(10, "2031-08-01T10:00:00", 3)) == []
    # Then resuming makes it fire from its next slot on, without the paused ones
    resumed = await service.resume(name, at("2031-08-01T10:24:00"))
    assert not resumed.row.paused and resumed.row.next_run == at("2031-08-01T10:30:00")
    await world.tick("2031-08-01T10:30:01")
    assert await world.fired_slots(name, every(10, "2031-08-01T10:00:00", 4)) == ["2031-08-01T10:30:00"]
    assert (await world.row(name)).skipped_count == 0



async def test_resuming_in_the_minute_of_a_paused_slot_does_not_fire_it(world: World) -> None:
    # Given a schedule at 10:30 paused before it, its slot passing while paused
    name = world.scheduled("30 10 * * *")
    service = ScheduleService(world.services, world.store)
    await world.tick("2031-08-02T10:00:00")
    await service.pause(name, at("2031-08-02T10:10:00"))
    await world.tick("2031-08-02T10:30:01")
    # When an admin resumes it 40 s after the slot, in the slot's minute
    resumed = await service.resume(name, at("2031-08-02T10:30:40"))
    # Then its next run is tomorrow's, and the ticks of that minute do not fire the paused slot
    assert resumed.row.next_run == at("2031-08-03T10:30:00")
    await world.tick("2031-08-02T10:30:42")
    await world.tick("2031-08-02T10:31:00")
    assert await world.fired_slots(name, ["2031-08-02T10:30:00"]) == []
    assert ((await world.row(name)).run_count, (await world.row(name)).skipped_count) == (0, 0)

async def test_a_tick_retried_after_a_crash_between_submit_and_row_write_fires_the_slot_once(world: World) -> None:
    # Given a workflow every minute, due at 12:00 (overlap allowed: no worker runs its 11:59 run here)
    name = world.scheduled("* * * * *", overlap="allow")
    await world.tick("2031-09-01T11:59:30")
    # When the tick submits the slot but cannot write the row (storage fails after the submit)
    row_write = {"match": f"table.{world.store.table_name}.replace", "fault": "error", "status": 500}
    with faults.injected([row_write]), pytest.raises(StorageError):
        await world.tick("2031-09-01T12:00:01")
    assert await world.execution(name, "2031-09-01T12:00:00") is not None
    # And the timer runs again
    report = await world.tick("2031-09-01T12:00:20")
    # Then the slot's execution is the same one (its id is the slot's; its message is sent again, harmlessly),
    # and it is recorded once
    slot_id = slot_execution_id(name, at("2031-09-01T12:00:00"))
    assert report.fired + report.already_fired == [slot_id]
    row = await world.row(name)
    assert (row.run_count, row.last_run, row.last_execution_id) == (2, at("2031-09-01T12:00:00"), slot_id)
    # And when the worker takes every message queued, the slot runs once
    done = await drain(world.connection_string, world.services.queue.name,
                       lambda message: process_message(world.services, message.get_body()))
    record = await world.execution(name, "2031-09-01T12:00:00")
    assert record.status is ExecutionStatus.SUCCESS and record.attempt == 1 and len(done) >= 3


async def test_a_slot_whose_submit_fails_stays_due_and_fires_next_tick(world: World) -> None:
    name = world.scheduled("* * * * *", overlap="allow")
    await world.tick("2031-09-02T11:59:30")
    # When the execution cannot be written at 12:00 (the executions table refuses)
    with faults.injected([{"match": "table.ConduitExecutions.create", "fault": "error", "status": 500}]):
        report = await world.tick("2031-09-02T12:00:01")
    row = await world.row(name)
    assert report.errors == [name] and row.next_run == at("2031-09-02T12:00:00") and "12:00" in row.last_error
    # And the listing shows that slot as the next run, with the error
    view = (await ScheduleService(world.services, world.store).get(_admin(), name, at("2031-09-02T12:00:30"))).to_api()
    assert view["next_runs"][:2] == ["2031-09-02T12:00:00Z", "2031-09-02T12:01:00Z"] and view["last_error"]
    # Then the next tick fires 12:00 (late, within grace) and 12:01
    await world.tick("2031-09-02T12:01:01")
    assert await world.fired_slots(name, ["2031-09-02T12:00:00", "2031-09-02T12:01:00"]) == [
        "2031-09-02T12:00:00", "2031-09-02T12:01:00"]
    assert (await world.row(name)).last_error is None


async def test_a_manual_trigger_runs_one_now_and_is_recorded(world: World) -> None:
    name = world.scheduled("0 3 * * *")
    service = ScheduleService(world.services, world.store)
    execution_id, view = await service.trigger(_admin(), name)
    record = await world.services.store.get(GLOBAL_SCOPE, execution_id)
    assert record is not None and record.trigger["kind"] == "schedule" and record.trigger["manual"] is True
    assert view.row.last_execution_id == execution_id and view.row.run_count == 1


def _admin() -> Caller:
    return Caller(user_id="ops@example.com", is_platform_admin=True)


async def test_a_slot_submitted_twice_concurrently_is_one_execution(world: World) -> None:
    # Given the same slot submitted by two schedulers at once (the id is the slot's)
    name = world.scheduled("0 * * * *")
    slot = at("2031-10-01T10:00:00")

    def call() -> WorkflowCall:
        return WorkflowCall(name, {}, trigger_payload={"kind": "schedule", "scheduled_for": "2031-10-01T10:00:00Z"},
                            wait=False, execution_id=slot_execution_id(name, slot))

    first, second = await asyncio.gather(submit(world.services, call()), submit(world.services, call()))
    # Then both name one execution
    assert first.execution_id == second.execution_id == slot_execution_id(name, slot)



async def test_a_month_long_outage_is_looked_at_for_its_last_day_only(world: World) -> None:
    # Given a workflow every minute whose hosts were down for 30 days
    name = world.scheduled("* * * * *", catch_up="latest", overlap="allow")
    await world.tick("2031-11-01T00:00:30")
    # When they come back
    await world.tick("2031-12-01T00:00:30")
    # Then the latest missed slot (23:58) and the two late ones within the grace (23:59, 00:00) fire, and the last
    # day's other slots are counted as skipped (1,440 slots in the day looked at)
    row = await world.row(name)
    fired = ["2031-11-30T23:58:00", "2031-11-30T23:59:00", "2031-12-01T00:00:00"]
    assert await world.fired_slots(name, ["2031-11-30T23:57:00", *fired]) == fired
    assert row.skipped_count == 1440 - 3 and row.next_run == at("2031-12-01T00:01:00")


async def test_many_due_schedules_look_at_their_previous_runs_together_and_skip_only_the_ones_still_going(
    world: World,
) -> None:
    # Given ten hourly workflows that fired at 10:00, five of whose runs finished while five are still Pending
    names = [world.scheduled("0 * * * *") for _ in range(10)]
    await world.tick("2031-10-02T09:30:00")
    await world.tick("2031-10-02T10:00:01")
    for name in names[:5]:
        record = await world.execution(name, "2031-10-02T10:00:00")
        finished = record.finished(ExecutionStatus.SUCCESS, None, None, at("2031-10-02T10:01:00"))
        await world.services.store.finish(finished, [], [])
    # When the 11:00 tick runs (ten due schedules: their previous runs are found by one range read)
    report = await world.tick("2031-10-02T11:00:01")
    # Then the five whose previous run finished fire, and the five still going are skipped and counted
    fired = [name for name in names if await world.execution(name, "2031-10-02T11:00:00") is not None]
    assert fired == names[:5] and report.skipped == 5
    assert [(await world.row(name)).skipped_count for name in names] == [0] * 5 + [1] * 5


async def test_rows_saved_together_are_saved_alone_when_another_instance_wrote_one_of_them(world: World) -> None:
    # Given a row another instance created, and one it changed since we read it
    taken = await world.store.create(ScheduleRow(workflow="taken/by#other?", expression="0 * * * *"))
    changed = await world.store.create(ScheduleRow(workflow="changed", expression="0 * * * *"))
    assert taken is not None and changed is not None
    await world.store.save(replace(changed, run_count=5))
    # When this instance saves new rows and its stale copy together
    rows = [ScheduleRow(workflow="taken/by#other?", expression="*/5 * * * *"),
            ScheduleRow(workflow="fresh", expression="*/5 * * * *"), replace(changed, run_count=1)]
    saved = await world.store.save_many(rows)
    # Then the rows nobody else wrote are saved; the others are left as the other instance wrote them
    assert [row is not None for row in saved] == [False, True, False]
    assert (await world.store.get("taken/by#other?")).expression == "0 * * * *"
    assert (await world.store.get("changed")).run_count == 5
    assert (await world.store.get("fresh")).expression == "*/5 * * * *"


async def test_an_edit_to_a_six_field_expression_never_fires_twice_in_the_minute_the_old_one_did(world: World) -> None:
    # Given a daily 06:00 schedule that fired at 06:00:00
    name = world.scheduled("0 6 * * *", overlap="allow")
    await world.tick("2031-03-04T05:59:00")
    await world.tick("2031-03-04T06:00:00")
    # When it is redeployed as 06:00:30 and ticks run at 06:00:40 and 06:01
    world.unschedule(name, "30 0 6 * * *", overlap="allow")
    await world.tick("2031-03-04T06:00:40")
    await world.tick("2031-03-04T06:01:00")
    # Then the new expression does not fire in the minute the old one fired in: its first run is tomorrow
    assert await world.fired_slots(name, ["2031-03-04T06:00:00", "2031-03-04T06:00:30"]) == ["2031-03-04T06:00:00"]
    assert (await world.row(name)).next_run == at("2031-03-05T06:00:30")


async def test_a_slot_caught_up_late_is_not_taken_for_a_lost_message_by_clean_up(world: World) -> None:
    # Given a daily schedule whose slot, 7 minutes ago on the real clock, is caught up now (its id carries the slot)
    now = utc_now().replace(microsecond=0)
    slot = now.replace(second=0) - timedelta(minutes=7)
    name = world.scheduled(f"{slot.minute} {slot.hour} * * *")
    await tick(world.services, world.store, slot - timedelta(minutes=5))
    await tick(world.services, world.store, now)
    record = await world.services.store.get(GLOBAL_SCOPE, slot_execution_id(name, slot))
    assert record is not None and record.status is ExecutionStatus.PENDING and record.created_at == slot
    # When clean-up settles it right after (more than CONDUIT_PENDING_GRACE_SECONDS after its slot)
    report = PassReport()
    await settle_pending(world.services, record, utc_now(), report)
    # Then it does not send its message again: it was submitted just now, whatever its slot
    assert report.requeued == [] and (await world.services.store.get(GLOBAL_SCOPE, record.id)).requeues == 0


async def test_a_schedule_retired_moments_ago_by_an_instance_without_it_goes_on_where_it_stood(world: World) -> None:
    # Given a workflow every 10 minutes that ran at 08:00, retired at 08:01 by an instance that lacks it (an old
    # version still running during a deploy)
    name = world.scheduled("*/10 * * * *", overlap="allow")
    await world.tick("2031-07-03T07:55:00")
    await world.tick("2031-07-03T08:00:01")
    world.unschedule(name, None)
    await world.tick("2031-07-03T08:01:00")
    # When the instances that know it tick again at 08:11, after the 08:10 slot passed while it was retired
    world.unschedule(name, "*/10 * * * *", overlap="allow")
    await world.tick("2031-07-03T08:11:00")
    # Then the 08:10 slot is not lost: the schedule went on from its next run (08:10, late within the grace)
    assert await world.fired_slots(name, ["2031-07-03T08:10:00"]) == ["2031-07-03T08:10:00"]
    row = await world.row(name)
    assert (row.retired, row.run_count, row.next_run) == (False, 2, at("2031-07-03T08:20:00"))
