"""The clean-up timer: it finishes what nobody will, by each execution's own lease and deadline."""

from datetime import timedelta

from shared.cleanup import MAX_REQUEUES, PENDING_GRACE, clean_up
from shared.models import ExecutionRecord, ExecutionStatus, new_execution_id, utc_now
from shared.runtime import get_runtime
from tests.http.conftest import Api

SCOPE = "org-cleanup"


async def _record(status: ExecutionStatus, *, age: timedelta, lease_left: timedelta | None, timeout: int = 60,
                  requeues: int = 0) -> ExecutionRecord:
    runtime = await get_runtime()
    now = utc_now()
    started = now - age
    record = ExecutionRecord(
        id=new_execution_id(int(started.timestamp() * 1000)),
        scope=SCOPE,
        workflow_name="later",
        status=status,
        trigger={"kind": "test"},
        input_data={"value": "x"},
        started_at=None if status is ExecutionStatus.PENDING else started,
        timeout_seconds=timeout,
        lease_owner=None if lease_left is None else "dead-host:1",
        lease_expires_at=None if lease_left is None else now + lease_left,
        deadline_at=started + timedelta(seconds=timeout + 60),
        requeues=requeues,
    )
    return await runtime.store.create(record)


async def _status(record: ExecutionRecord) -> ExecutionRecord:
    runtime = await get_runtime()
    fresh = await runtime.store.get(record.scope, record.id)
    assert fresh is not None
    return fresh


async def test_cleanup_settles_stuck_executions_by_their_own_deadlines(app_functions, api: Api) -> None:
    # Given: a run whose worker died and whose deadline passed; one whose worker died but which still has time;
    # one with a live lease; a cancel nobody is acting on; and Pending executions whose messages are gone
    overdue = await _record(ExecutionStatus.RUNNING, age=timedelta(minutes=10), lease_left=-timedelta(minutes=5))
    in_time = await _record(ExecutionStatus.RUNNING, age=timedelta(minutes=10), lease_left=-timedelta(minutes=1),
                            timeout=3600)
    alive = await _record(ExecutionStatus.RUNNING, age=timedelta(hours=2), lease_left=timedelta(seconds=20))
    abandoned_cancel = await _record(ExecutionStatus.CANCELLING, age=timedelta(minutes=3),
                                     lease_left=-timedelta(seconds=1))
    lost = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE + timedelta(minutes=1), lease_left=None)
    lost_for_good = await _record(ExecutionStatus.PENDING, age=PENDING_GRACE + timedelta(minutes=1), lease_left=None,
                                  requeues=MAX_REQUEUES)
    fresh_pending = await _record(ExecutionStatus.PENDING, age=timedelta(seconds=5), lease_left=None)
    await _drain_queue(app_functions)

    # When the clean-up runs
    report = await clean_up()

    # Then each is settled by its own lease and deadline
    assert overdue.id in report.timed_out and (await _status(overdue)).status is ExecutionStatus.TIMEOUT
    assert (await _status(in_time)).status is ExecutionStatus.RUNNING
    assert (await _status(alive)).status is ExecutionStatus.RUNNING
    assert (await _status(abandoned_cancel)).status is ExecutionStatus.CANCELLED
    requeued = await _status(lost)
    assert lost.id in report.requeued and requeued.status is ExecutionStatus.PENDING and requeued.requeues == 1
    failed = await _status(lost_for_good)
    assert failed.status is ExecutionStatus.FAILED and failed.error_type == "QueueMessageLost"
    assert (await _status(fresh_pending)).status is ExecutionStatus.PENDING
    timed_out = await _status(overdue)
    assert "deadline" in (timed_out.error_message or "")

    # And the requeued execution runs when the queue is processed
    await _drain_queue(app_functions)
    assert (await _status(lost)).status is ExecutionStatus.SUCCESS

    # And a second pass changes nothing that is already terminal
    second = await clean_up()
    assert overdue.id not in second.timed_out and lost_for_good.id not in second.failed


async def _drain_queue(app_functions) -> None:
    import os

    from shared.queueing import EXECUTIONS_QUEUE
    from tests.support.queue_drain import drain

    await drain(os.environ["AzureWebJobsStorage"], EXECUTIONS_QUEUE, app_functions["run_queued_execution"])
