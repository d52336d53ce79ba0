"""The scopes registry and idempotency keys, on a real Azurite."""

from __future__ import annotations

import asyncio
import uuid
from datetime import timedelta

import pytest

from shared.errors import ConflictError
from shared.models import ExecutionStatus, utc_now
from shared.storage import EXECUTIONS_TABLE, ExecutionStore, open_tables
from shared.storage.idempotency import key_row_key
from tests.storage.factories import new_record

KEY = "order-4711"


async def test_scopes_lists_every_scope_that_had_an_execution(store):
    # Given executions created in two new scopes, two in the first
    first, second = f"org-{uuid.uuid4()}", f"org-{uuid.uuid4()}"
    for scope in (first, first, second):
        await store.create(new_record(scope=scope))
    # When the scopes are listed / Then both are there, once each
    scopes = await store.scopes()
    assert {first, second} <= set(scopes) and len(scopes) == len(set(scopes))


async def test_a_scope_costs_one_request_per_process_not_per_execution(
    storage_connection_string, counted_store, counter
):
    # Given a scope this process has not seen
    scope = f"org-{uuid.uuid4()}"
    # When three executions are created in it, the first two at the same time
    await asyncio.gather(*(counted_store.create(new_record(scope=scope)) for _ in range(2)))
    await counted_store.create(new_record(scope=scope))
    # Then that took one registration and three creates
    assert counter.count == 1 + 3
    # And another process registers it again harmlessly (409 ignored)
    async with ExecutionStore.from_connection_string(storage_connection_string) as other:
        await other.create(new_record(scope=scope))
        assert (await other.scopes()).count(scope) == 1


def pending(scope: str, workflow: str = "onboard_user", **changes: object):
    return new_record(scope=scope, workflow_name=workflow, status=ExecutionStatus.PENDING, started_at=None,
                      **changes)


async def submit(store: ExecutionStore, scope: str, key: str = KEY, workflow: str = "onboard_user", **options):
    """What an async submit does: create the record with its key in one transaction; the record that holds the key."""
    created = await store.create_with_key(pending(scope, workflow), key, **options)
    return created.record


async def test_the_same_key_twice_answers_with_the_first_execution(store, counted_store, counter):
    # Given a submit with an idempotency key, which cost one request (the transaction) besides the scope's
    scope = f"org-{uuid.uuid4()}"
    await store.create(pending(scope))  # the scope is known to this process from now on
    counter.reset()
    first = await counted_store.create_with_key(pending(scope), KEY)
    assert not first.duplicate and counter.reset() == 2  # the scope's registration in this new store, the batch
    # When the same key is submitted again in the scope
    again = await counted_store.create_with_key(pending(scope), KEY)
    # Then the first execution answers: a failed transaction, a read of the key and a read of the record
    assert again.duplicate and again.record.id == first.record.id and counter.count == 3


async def test_keys_of_different_scopes_are_independent(store):
    # Given the same key submitted in two scopes / Then two executions
    first = await submit(store, f"org-{uuid.uuid4()}")
    second = await submit(store, f"org-{uuid.uuid4()}")
    assert first.id != second.id
    # And other keys in one scope are independent too
    assert (await submit(store, first.scope, key="other")).id != first.id


async def test_a_key_is_bound_to_its_workflow(store):
    # Given a key used for one workflow
    scope = f"org-{uuid.uuid4()}"
    first = await submit(store, scope)
    # When it is used for another workflow within the window / Then 409 naming the workflow, and nothing is created
    with pytest.raises(ConflictError, match="already used for workflow 'onboard_user'") as raised:
        await submit(store, scope, workflow="offboard_user")
    assert raised.value.details == {"workflow": "onboard_user", "execution_id": first.id}
    listed, _ = await store.list_executions(scope)
    assert [record.id for record in listed] == [first.id]


async def test_an_expired_key_is_taken_over_by_the_new_execution(store):
    # Given a key held by a first execution
    scope = f"org-{uuid.uuid4()}"
    first = await submit(store, scope)
    # When it is submitted again after its window
    second = await submit(store, scope, window=timedelta(0))
    # Then a new execution was created, and it now holds the key (also for another workflow, once expired)
    assert second.id != first.id
    assert (await submit(store, scope)).id == second.id
    third = await submit(store, scope, workflow="offboard_user", window=timedelta(0))
    assert third.id not in (first.id, second.id) and third.workflow_name == "offboard_user"


async def test_key_rows_are_never_listed(store):
    # Given executions created with keys and without
    scope = f"org-{uuid.uuid4()}"
    with_keys = [await submit(store, scope, key=f"k{i}") for i in range(3)]
    plain = await store.create(pending(scope))
    # When the scope is listed, whole and filtered / Then only executions come back
    listed, token = await store.list_executions(scope, limit=100)
    assert {record.id for record in listed} == {plain.id, *(record.id for record in with_keys)} and token is None
    assert len((await store.list_executions(scope, workflow="onboard_user", limit=100))[0]) == 4
    assert len(await store.active_executions(scope)) == 4


async def test_concurrent_takeovers_of_an_expired_key_have_one_winner(store, storage_connection_string):
    # Given a key whose row expired two days ago
    scope = f"org-{uuid.uuid4()}"
    old = await submit(store, scope)
    async with open_tables(storage_connection_string) as service, service.get_table_client(EXECUTIONS_TABLE) as table:
        await table.update_entity({"PartitionKey": scope, "RowKey": key_row_key(KEY),
                                   "KeyCreatedAt": utc_now() - timedelta(days=2)})
    # When four submits of the key arrive at once
    outcomes = await asyncio.gather(*(store.create_with_key(pending(scope), KEY) for _ in range(4)))
    # Then exactly one created an execution, and every other one answers with it
    winners = [outcome.record.id for outcome in outcomes if not outcome.duplicate]
    assert len(winners) == 1 and winners[0] != old.id
    assert {outcome.record.id for outcome in outcomes} == {winners[0]}


@pytest.mark.parametrize(("scope", "key"), [("bad/scope", KEY), ("GLOBAL", ""), ("GLOBAL", None)])
async def test_bad_scopes_and_keys_are_value_errors(store, scope, key):
    with pytest.raises(ValueError):
        await store.create_with_key(new_record(scope=scope), key)
