"""The clean-up and recovery timers: they finish what nobody will, by each execution's own lease, deadline and age."""

import asyncio
import os
from datetime import timedelta

from azure.storage.queue.aio import QueueClient

from shared.executions.cleanup import MAX_REQUEUES, PENDING_GRACE, clean_up
from shared.executions.poison import fail_poisoned
from shared.executions.recovery import recover
from shared.executions.service import QUEUED
from shared.executions.worker import MAX_ATTEMPTS
from shared.models import ExecutionRecord, ExecutionStatus, new_execution_id, utc_now
from shared.runtime import get_runtime
from shared.storage import EXECUTIONS_TABLE, open_tables
from shared.storage.queues import EXECUTIONS_QUEUE, ExecutionMessage
from tests.http.conftest import Api
from tests.support.queue_drain import drain

SCOPE = "org-cleanup"


async def _record(status: ExecutionStatus, *, age: timedelta, lease_left: timedelta | None, timeout: int = 60,
                  requeues: int = 0, scope: str = SCOPE, queued: bool = True, attempt: int = 1) -> ExecutionRecord:
    runtime = await get_runtime()
    now = utc_now()
    started = now - age
    record = ExecutionRecord(
        id=new_execution_id(int(started.timestamp() * 1000)),
        scope=scope,
        workflow_name="later",
        status=status,
        trigger={"kind": "test", "mode": QUEUED} if queued else {"kind": "http"},
        input_data={"value": "x"},
        started_at=None if status is ExecutionStatus.PENDING else started,
        timeout_seconds=timeout,
        lease_owner=None if lease_left is None else "dead-host:1",
        lease_expires_at=None if lease_left is None else now + lease_left,
        deadline_at=started + timedelta(seconds=timeout + 60),
        requeues=requeues,
        attempt=attempt,
    )
    return await runtime.store.create(record)


async def _status(record: ExecutionRecord) -> ExecutionRecord:
    runtime = await get_runtime()
    fresh = await runtime.store.get(record.scope, record.id)
    assert fresh is not None
    return fresh


async def _drain_queue(app_functions) -> None:
    await drain(os.environ["AzureWebJobsStorage"], EXECUTIONS_QUEUE, app_functions["run_queued_execution"])


async def test_cleanup_settles_stuck_executions_by_their_own_deadlines(app_functions, api: Api) -> None:
    # Given: a run whose worker died and whose deadline passed; a run whose worker died but which still has time; one
    # with a live lease; a cancel nobody is acting on; Pending executions whose messages are gone, one of them a
    # month old (older than any look-back); and one requeued a moment ago
    overdue = await _record(ExecutionStatus.RUNNING, age=timedelta(minutes=10), lease_left=-timedelta(minutes=5))
    in_time = await _record(ExecutionStatus.RUNNING, age=timedelta(minutes=10), lease_left=-timedelta(minutes=1),
                            timeout=3600)
    alive = await _record(ExecutionStatus.RUNNING, age=timedelta(hours=2), lease_left=timedelta(seconds=20))
    abandoned_cancel = await _record(ExecutionStatus.CANCELLING, age=timedelta(minutes=3),
                                     lease_left=-timedelta(seconds=1))
    lost = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE + timedelta(minutes=1), lease_left=None)
    ancient = await _record(ExecutionStatus.PENDING, age=timedelta(days=30), lease_left=None)
    lost_for_good = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE + timedelta(minutes=1), lease_left=None,
                                  requeues=MAX_REQUEUES)
    fresh_pending = await _record(ExecutionStatus.PENDING, age=timedelta(seconds=5), lease_left=None)
    just_requeued = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE * 2, lease_left=None, requeues=1)
    runtime = await get_runtime()
    await runtime.store.update(just_requeued, requeued_at=utc_now() - timedelta(seconds=5))
    await _drain_queue(app_functions)

    # When the clean-up runs
    report = await clean_up(await get_runtime())

    # Then each is settled by its own lease, deadline and age
    assert overdue.id in report.timed_out and (await _status(overdue)).status is ExecutionStatus.TIMEOUT
    assert "deadline" in ((await _status(overdue)).error_message or "")
    assert in_time.id in report.requeued  # its host died: sent again for a takeover, as the recovery pass does
    assert (await _status(alive)).status is ExecutionStatus.RUNNING
    assert (await _status(abandoned_cancel)).status is ExecutionStatus.CANCELLED
    for requeued in (lost, ancient):
        stored = await _status(requeued)
        assert requeued.id in report.requeued and stored.status is ExecutionStatus.PENDING and stored.requeues == 1
        assert stored.requeued_at is not None
    failed = await _status(lost_for_good)
    assert failed.status is ExecutionStatus.FAILED and failed.error_type == "QueueMessageLost"
    assert (await _status(fresh_pending)).status is ExecutionStatus.PENDING and fresh_pending.id not in report.requeued
    assert just_requeued.id not in report.requeued  # at most once per grace period

    # And the requeued executions run when the queue is processed
    await _drain_queue(app_functions)
    assert (await _status(lost)).status is ExecutionStatus.SUCCESS
    assert (await _status(ancient)).status is ExecutionStatus.SUCCESS
    taken_over = await _status(in_time)
    assert taken_over.status is ExecutionStatus.SUCCESS and taken_over.attempt == 2

    # And a second pass changes nothing that is already terminal
    second = await clean_up(await get_runtime())
    assert overdue.id not in second.timed_out and lost_for_good.id not in second.failed


async def test_a_lost_message_is_recovered_while_other_messages_are_in_flight(app_functions, api: Api) -> None:
    # Given other executions whose messages wait in the queue, one of them received and in flight (invisible)
    others = [(await api.execute("later", {"value": f"other-{n}"}))[1]["execution_id"] for n in range(3)]
    async with QueueClient.from_connection_string(os.environ["AzureWebJobsStorage"], EXECUTIONS_QUEUE) as queue:
        [_ async for _ in queue.receive_messages(messages_per_page=1, visibility_timeout=2)]
        assert (await queue.get_queue_properties()).approximate_message_count >= 3
    # And a Pending execution older than the grace period whose message was lost
    lost = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE + timedelta(seconds=30), lease_left=None)
    # When the clean-up runs
    report = await clean_up(await get_runtime())
    # Then the lost one is sent again although the queue is not empty, and it runs
    assert lost.id in report.requeued
    await _drain_queue(app_functions)
    assert (await _status(lost)).status is ExecutionStatus.SUCCESS
    # And the others run too, the in-flight one once its visibility lapses
    await asyncio.sleep(2.5)
    await _drain_queue(app_functions)
    for other in others:
        assert (await api.execution(other))[1]["status"] == "Success"


async def test_one_bad_scope_does_not_abort_the_pass(app_functions, api: Api, storage_connection_string) -> None:
    # Given a scope holding a row that cannot be read as a record, and another scope with a lost message
    bad_scope, good_scope = f"org-bad-{new_execution_id()[:8]}", f"org-good-{new_execution_id()[:8]}"
    broken = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE * 2, lease_left=None, scope=bad_scope)
    async with open_tables(storage_connection_string) as service, service.get_table_client(EXECUTIONS_TABLE) as table:
        await table.update_entity({"PartitionKey": bad_scope, "RowKey": broken.id, "Trigger": "{not json"})
    lost = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE * 2, lease_left=None, scope=good_scope)
    # When the clean-up runs
    report = await clean_up(await get_runtime())
    # Then the bad scope is reported as an error, and the good scope is still settled
    assert bad_scope in report.errors and lost.id in report.requeued
    assert "errors" in report.summary()
    await _drain_queue(app_functions)


async def test_recovery_takes_over_what_a_dead_host_left(app_functions, api: Api) -> None:
    # Given queued executions whose host died (lease expired), long before their deadlines; one that has used all
    # its attempts; a synchronous one whose caller already got an error; and a cancel nobody acts on
    scope = f"org-recover-{new_execution_id()[:8]}"
    dead = timedelta(seconds=-1)
    orphan = await _record(ExecutionStatus.RUNNING, age=timedelta(seconds=10), lease_left=dead, timeout=120,
                           scope=scope)
    exhausted = await _record(ExecutionStatus.RUNNING, age=timedelta(seconds=10), lease_left=dead, timeout=120,
                              scope=scope, attempt=MAX_ATTEMPTS)
    sync_run = await _record(ExecutionStatus.RUNNING, age=timedelta(seconds=10), lease_left=dead, timeout=120,
                             scope=scope, queued=False)
    cancelling = await _record(ExecutionStatus.CANCELLING, age=timedelta(seconds=10), lease_left=dead, scope=scope)
    # When the recovery pass runs, twice in a row
    report = await recover(await get_runtime())
    again = await recover(await get_runtime())
    # Then the orphan is sent again once (not twice within a lease), the others are finished with their reasons
    assert orphan.id in report.requeued and orphan.id not in again.requeued
    died = await _status(exhausted)
    assert died.status is ExecutionStatus.FAILED and died.error_type == "HostDied"
    assert f"attempt {MAX_ATTEMPTS} of {MAX_ATTEMPTS}" in (died.error_message or "")
    sync_died = await _status(sync_run)
    assert sync_died.status is ExecutionStatus.FAILED and sync_died.error_type == "HostDied"
    assert "synchronous" in (sync_died.error_message or "")
    assert (await _status(cancelling)).status is ExecutionStatus.CANCELLED
    # And a worker takes the orphan over as attempt 2
    await _drain_queue(app_functions)
    taken_over = await _status(orphan)
    assert taken_over.status is ExecutionStatus.SUCCESS and taken_over.attempt == 2


async def test_a_takeover_after_the_last_attempt_fails_with_host_died(app_functions, api: Api) -> None:
    # Given an execution whose host died in its last allowed attempt, and its message delivered again
    exhausted = await _record(ExecutionStatus.RUNNING, age=timedelta(seconds=10), lease_left=timedelta(seconds=-1),
                              timeout=120, attempt=MAX_ATTEMPTS)
    runtime = await get_runtime()
    await runtime.queue.send(ExecutionMessage(exhausted.id, exhausted.scope))
    # When a worker picks it up
    await _drain_queue(app_functions)
    # Then it is not run again: Failed, HostDied, and the reason says the host died while running it
    record = await _status(exhausted)
    assert record.status is ExecutionStatus.FAILED and record.error_type == "HostDied"
    assert record.attempt == MAX_ATTEMPTS and "died while running it" in (record.error_message or "")
    # And a poisoned message of such an execution says the same
    poisoned = await _record(ExecutionStatus.RUNNING, age=timedelta(seconds=10), lease_left=timedelta(seconds=-1),
                             timeout=120, attempt=2)
    await fail_poisoned(await get_runtime(), ExecutionMessage(poisoned.id, poisoned.scope).encode())
    record = await _status(poisoned)
    assert record.status is ExecutionStatus.FAILED and record.error_type == "HostDied"
    assert "workflow-executions-poison" in (record.error_message or "")
