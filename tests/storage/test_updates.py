"""The asynchronous lifecycle in storage: new record fields, ETag-conditional updates, leases, cancels and steps."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import (
    ConflictError,
    ExecutionAlreadyFinishedError,
    ExecutionNotFoundError,
    StaleRecordError,
)
from shared.models import ExecutionStatus, new_execution_id
from tests.storage.factories import details_rows, finished, lines, new_record, raw_record

NOW = datetime(2025, 6, 1, 12, 0, 0, 250000, tzinfo=UTC)


def pending(**changes: object):
    return new_record(status=ExecutionStatus.PENDING, started_at=None, attempt=1, timeout_seconds=300, **changes)


def claim_changes(owner: str = "worker-1") -> dict:
    return {
        "status": ExecutionStatus.RUNNING,
        "started_at": NOW,
        "lease_owner": owner,
        "lease_expires_at": NOW + timedelta(seconds=60),
        "deadline_at": NOW + timedelta(seconds=300),
    }


async def test_new_fields_round_trip_through_create_and_get(store):
    # Given a record with every new field set
    record = new_record(
        timeout_seconds=900,
        lease_owner="worker-7",
        lease_expires_at=NOW,
        deadline_at=NOW + timedelta(minutes=15),
        requeues=2,
        attempt=3,
    )
    # When it is created and read back / Then every field is as written
    created = await store.create(record)
    assert await store.get(record.scope, record.id) == created
    assert replace(created, etag=None) == record


async def test_update_claims_a_pending_record_with_one_request(store, counted_store, counter):
    # Given a Pending execution
    created = await counted_store.create(pending())
    counter.reset()
    # When a worker claims it with a lease
    claimed = await counted_store.update(created, **claim_changes())
    # Then that was one request, the ETag changed, and what update returned is what is stored
    assert counter.count == 1
    assert claimed.etag and claimed.etag != created.etag
    assert await store.get(created.scope, created.id) == claimed
    assert (claimed.status, claimed.lease_owner, claimed.started_at) == (ExecutionStatus.RUNNING, "worker-1", NOW)
    assert claimed.timeout_seconds == 300 and claimed.input_data == created.input_data


async def test_update_with_a_stale_etag_raises_stale_record_error_and_keeps_the_winner(store):
    # Given a Pending execution claimed by worker-1
    created = await store.create(pending())
    claimed = await store.update(created, **claim_changes("worker-1"))
    # When worker-2 tries to claim it with the ETag it read before / Then StaleRecordError
    with pytest.raises(StaleRecordError, match="changed since it was read"):
        await store.update(created, **claim_changes("worker-2"))
    # And worker-1 keeps the lease
    assert (await store.get(created.scope, created.id)) == claimed


async def test_update_after_a_finish_raises_already_finished(store):
    # Given an execution that finished as Success after it was read
    created = await store.create(new_record())
    await store.finish(finished(created), [])
    # When a cancel request flips the stale copy to Cancelling / Then it is told the execution already finished
    with pytest.raises(ExecutionAlreadyFinishedError) as caught:
        await store.update(created, status=ExecutionStatus.CANCELLING)
    assert caught.value.status == "Success"
    assert (await store.get(created.scope, created.id)).status == ExecutionStatus.SUCCESS


async def test_update_of_a_record_known_to_be_terminal_sends_nothing(counted_store, counter):
    # Given the record a finish returned
    done = await counted_store.finish(finished(await counted_store.create(new_record())), [])
    counter.reset()
    # When it is updated / Then it is refused without a request
    with pytest.raises(ExecutionAlreadyFinishedError):
        await counted_store.update(done, status=ExecutionStatus.RUNNING)
    assert counter.count == 0


@pytest.mark.parametrize(
    "changes",
    [{"output_data": 1}, {"timeout_seconds": 5}, {"etag": "x"}, {}, {"status": None}, {"attempt": "2"}],
    ids=["output", "timeout", "etag", "nothing", "no-status", "str-attempt"],
)
async def test_update_refuses_other_fields_and_bad_values(store, changes):
    # Given a stored record / When update is asked to change something it does not change / Then ValueError
    created = await store.create(pending())
    with pytest.raises(ValueError):
        await store.update(created, **changes)
    assert await store.get(created.scope, created.id) == created


async def test_update_of_a_deleted_record_raises_not_found(store):
    # Given a record that was never stored, with an ETag / When updated / Then not found
    ghost = replace(pending(), etag="W/\"datetime'2025-01-01T00%3A00%3A00Z'\"")
    with pytest.raises(ExecutionNotFoundError):
        await store.update(ghost, requeues=1)


async def test_update_clears_lease_and_error_fields(store, storage_connection_string):
    # Given a claimed execution with an error message
    claimed = await store.update(await store.create(pending()), **claim_changes(), error_message="retrying")
    # When the lease and the message are cleared with None
    released = await store.update(claimed, lease_owner=None, lease_expires_at=None, error_message=None, requeues=1)
    # Then they read back as None (stored as the empty string: a None is left out of a MERGE by the SDK)
    got = await store.get(claimed.scope, claimed.id)
    assert got == released
    assert (got.lease_owner, got.lease_expires_at, got.error_message, got.requeues) == (None, None, None, 1)
    assert got.deadline_at == NOW + timedelta(seconds=300)
    raw = await raw_record(storage_connection_string, got)
    assert (raw["LeaseOwner"], raw["LeaseExpiresAt"], raw["ErrorMessage"]) == ("", "", "")


async def test_finish_clears_the_lease_it_is_given_as_none(store):
    # Given a claimed execution
    claimed = await store.update(await store.create(pending()), **claim_changes())
    # When the engine finishes it with lease_owner=None
    done = await store.finish(finished(claimed, lease_owner=None, lease_expires_at=None), lines(2))
    # Then the lease is gone and the rest is kept
    got = await store.get(claimed.scope, claimed.id)
    assert got == done
    assert (got.lease_owner, got.lease_expires_at, got.status) == (None, None, ExecutionStatus.SUCCESS)
    assert (got.timeout_seconds, got.deadline_at) == (300, NOW + timedelta(seconds=300))


async def test_finish_of_a_stale_running_record_raises_stale_record_error(store):
    # Given a running execution whose lease was renewed after this copy was read
    claimed = await store.update(await store.create(pending()), **claim_changes())
    await store.update(claimed, lease_expires_at=NOW + timedelta(minutes=5))
    # When the stale copy is finished / Then StaleRecordError (a ConflictError), not already-finished
    with pytest.raises(StaleRecordError):
        await store.finish(finished(claimed), [])
    assert (await store.get(claimed.scope, claimed.id)).status == ExecutionStatus.RUNNING
    assert issubclass(StaleRecordError, ConflictError)


async def test_a_pending_execution_cancelled_before_it_ran_finishes_without_a_start(store):
    # Given a Pending execution that never started
    created = await store.create(pending())
    # When it is cancelled: Pending -> Cancelled, the way the worker does it
    cancelled = created.finished(ExecutionStatus.CANCELLED, "Cancelled before it started", "Cancelled", NOW)
    done = await store.finish(cancelled, logs=[], steps=[])
    # Then it is stored as Cancelled with no start time
    got = await store.get(created.scope, created.id)
    assert got == done
    assert (got.status, got.started_at, got.completed_at, got.error_type) == (
        ExecutionStatus.CANCELLED,
        None,
        NOW,
        "Cancelled",
    )


async def test_running_execution_is_cancelled_through_cancelling(store):
    # Given a running execution
    claimed = await store.update(await store.create(pending()), **claim_changes())
    # When a cancel request flips it to Cancelling and its worker then finishes it as Cancelled
    cancelling = await store.update(claimed, status=ExecutionStatus.CANCELLING)
    final = cancelling.finished(ExecutionStatus.CANCELLED, "Cancelled by ana", "Cancelled", NOW + timedelta(seconds=3))
    await store.finish(final, [])
    # Then it ends Cancelled, with its start time and the duration since then
    got = await store.get(claimed.scope, claimed.id)
    assert (got.status, got.started_at, got.duration_ms, got.lease_owner) == (
        ExecutionStatus.CANCELLED,
        NOW,
        3000,
        None,
    )


async def test_steps_round_trip_in_execution_order(store):
    # Given steps given out of order, with nested values and non-ASCII text
    steps = [
        {"execution_order": 10, "name": "notify", "status": "Success", "output": {"to": ["ana@example.com"]}},
        {"execution_order": 2, "name": "créer 😀", "status": "Failed", "error": "x" * 40_000},
        {"execution_order": 0, "name": "start", "status": "Success", "output": None},
    ]
    created = await store.create(new_record())
    # When the execution finishes with them / Then they read back in execution order, intact
    await store.finish(finished(created), lines(1), steps)
    assert await store.get_steps(created.id) == sorted(steps, key=lambda step: step["execution_order"])
    assert await store.get_logs(created.id) == lines(1)


async def test_unknown_or_malformed_ids_have_no_steps(store):
    # Given ids without steps / When their steps are read / Then none, not an SDK error
    assert await store.get_steps(new_execution_id()) == []
    assert await store.get_steps("a/b") == []


async def test_small_finish_with_logs_and_two_steps_is_one_details_request(counted_store, counter):
    # Given a created execution (its scope already registered)
    created = await counted_store.create(new_record())
    counter.reset()
    steps = [{"execution_order": i, "name": f"step {i}", "status": "Success"} for i in (1, 2)]
    # When it finishes with 20 log lines and 2 steps
    await counted_store.finish(finished(created), lines(20), steps)
    # Then that took one details write (log page and step rows together) and one conditional update
    assert counter.count == 1 + 1
    assert await counted_store.get_steps(created.id) == steps


@pytest.mark.parametrize(
    ("steps", "error"),
    [
        ([{"name": "no order"}], ValueError),
        ([{"execution_order": -1}], ValueError),
        ([{"execution_order": "1"}], ValueError),
    ],
    ids=["missing-order", "negative", "str-order"],
)
async def test_bad_steps_are_refused_before_anything_is_written(store, storage_connection_string, steps, error):
    # Given a running execution / When it finishes with a step that cannot be stored / Then refused, nothing written
    created = await store.create(new_record())
    with pytest.raises(error):
        await store.finish(finished(created), lines(3), steps)
    assert await details_rows(storage_connection_string, created.id) == []
    assert (await store.get(created.scope, created.id)).etag == created.etag
