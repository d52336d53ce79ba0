"""The scopes registry and idempotency keys, on a real Azurite."""

from __future__ import annotations

import asyncio
import hashlib
import uuid
from datetime import timedelta

import pytest

from shared.errors import ConflictError
from shared.models import ExecutionStatus, new_execution_id, utc_now
from shared.storage import IDEMPOTENCY_TABLE, ExecutionStore, open_tables
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


async def submit(store: ExecutionStore, scope: str, key: str = KEY, **options):
    """What a submit does: claim the key with a new id, and create the record only when the claim is its own."""
    execution_id = new_execution_id()
    existing = await store.claim_idempotency_key(scope, key, execution_id, **options)
    if existing is not None:
        return existing
    return await store.create(new_record(id=execution_id, scope=scope, status=ExecutionStatus.PENDING))


async def test_the_same_key_twice_answers_with_the_first_execution(store, counted_store, counter):
    # Given a submit with an idempotency key
    scope = f"org-{uuid.uuid4()}"
    first = await submit(store, scope)
    counter.reset()
    # When the same key is submitted again in the scope
    again = await counted_store.claim_idempotency_key(scope, KEY, new_execution_id())
    # Then the first execution answers, found with a failed create, a read of the claim and a read of the record
    assert again == first and counter.count == 3


async def test_keys_of_different_scopes_are_independent(store):
    # Given the same key submitted in two scopes / Then two executions
    first = await submit(store, f"org-{uuid.uuid4()}")
    second = await submit(store, f"org-{uuid.uuid4()}")
    assert first.id != second.id
    # And other keys in one scope are independent too
    assert (await submit(store, first.scope, key="other")).id != first.id


async def test_an_expired_key_is_taken_over_by_the_new_execution(store):
    # Given a key claimed by a first execution
    scope = f"org-{uuid.uuid4()}"
    first = await submit(store, scope)
    # When it is submitted again after its window
    second = await submit(store, scope, window=timedelta(0))
    # Then a new execution runs, and it now holds the key
    assert second.id != first.id
    assert (await submit(store, scope)).id == second.id


async def test_a_dangling_claim_is_taken_over_once_the_grace_is_over(store):
    # Given a claim whose submit failed before creating its record
    scope, lost = f"org-{uuid.uuid4()}", new_execution_id()
    assert await store.claim_idempotency_key(scope, KEY, lost) is None
    # When the key is submitted again within the grace / Then it is still being submitted: retry later
    with pytest.raises(ConflictError, match="still being submitted"):
        await store.claim_idempotency_key(scope, KEY, new_execution_id())
    # When it is submitted again after the grace / Then a new execution takes the key
    retried = await submit(store, scope, grace=timedelta(0))
    assert retried.id != lost
    assert (await submit(store, scope)).id == retried.id


async def test_a_repeated_claim_by_the_same_execution_is_its_own(store):
    # Given a claim / When the same execution claims again (a retried call) / Then it still holds the key
    scope, execution_id = f"org-{uuid.uuid4()}", new_execution_id()
    assert await store.claim_idempotency_key(scope, KEY, execution_id) is None
    assert await store.claim_idempotency_key(scope, KEY, execution_id) is None


async def test_concurrent_takeovers_of_an_expired_key_have_one_winner(store, storage_connection_string):
    # Given a key whose claim expired two days ago
    scope = f"org-{uuid.uuid4()}"
    old = {"ExecutionId": new_execution_id(), "CreatedAt": utc_now() - timedelta(days=2)}
    row = {"PartitionKey": scope, "RowKey": hashlib.sha256(KEY.encode()).hexdigest()}
    async with open_tables(storage_connection_string) as service, service.get_table_client(IDEMPOTENCY_TABLE) as table:
        await table.create_entity(row | old)
    # When four submits claim it at once
    ids = [new_execution_id() for _ in range(4)]
    outcomes = await asyncio.gather(*(store.claim_idempotency_key(scope, KEY, i) for i in ids), return_exceptions=True)
    # Then exactly one holds it; the others are told it is being submitted
    winners = [i for i, outcome in zip(ids, outcomes, strict=True) if outcome is None]
    assert len(winners) == 1
    assert all(isinstance(outcome, ConflictError) for outcome in outcomes if outcome is not None)
    # And once the winner's record exists, every later submit gets it
    await store.create(new_record(id=winners[0], scope=scope))
    assert (await store.claim_idempotency_key(scope, KEY, new_execution_id())).id == winners[0]


@pytest.mark.parametrize(("scope", "key"), [("bad/scope", KEY), ("GLOBAL", ""), ("GLOBAL", None)])
async def test_bad_scopes_and_keys_are_value_errors(store, scope, key):
    with pytest.raises(ValueError):
        await store.claim_idempotency_key(scope, key, new_execution_id())
