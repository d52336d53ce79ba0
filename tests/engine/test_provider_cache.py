"""The engine's provider cache against real Azurite: tiers, expiry, no_cache, stale-while-revalidate, scopes, users,
single flight (in one process and across two cache instances), invalidation, storage trouble and request counts.

Each test works in a scope of its own, so entries other tests left in the shared table never meet it.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest

from shared import ExecutionContext, UserError, data_provider, param
from shared.engine.caching import ProviderCache, inputs_digest
from shared.engine.core import Engine
from shared.errors import ProviderFailedError, ProviderRefusedError, ProviderTimeoutError
from shared.functions.registry import FunctionRegistry, use_registry
from shared.providers.cache import invalidate_provider_cache, purge_provider_cache
from shared.providers.service import ProviderCall, provider_options
from shared.storage import faults
from shared.storage.clients import RequestCounter
from shared.storage.provider_cache import ENTRY_PREFIX, ProviderCacheStore, key_digest, partition_of

registry = FunctionRegistry()
runs: Counter[str] = Counter()  # (provider|scope|user|inputs) -> how often the provider really ran
refresh_gate = asyncio.Event()


def count(context: ExecutionContext, name: str, *parts: object) -> int:
    key = "|".join([name, context.scope, context.caller.user_id, *map(str, parts)])
    runs[key] += 1
    return runs[key]


with use_registry(registry):

    @data_provider(name="numbers", cache_ttl_seconds=1)
    @param("start", type="int", required=True)
    async def numbers(context: ExecutionContext, start: int) -> list[dict]:
        n = count(context, "numbers", start)
        return [{"label": f"run {n} from {start}", "value": start + n}]

    @data_provider(name="long_lived", cache_ttl_seconds=300)
    @param("tag", type="string", required=True)
    async def long_lived(context: ExecutionContext, tag: str) -> list[dict]:
        n = count(context, "long_lived", tag)
        await asyncio.sleep(0.3)  # long enough for concurrent callers to meet the run in progress
        return [{"label": f"{context.scope} run {n}", "value": n}]

    @data_provider(name="mine", cache_ttl_seconds=300, cache_scope="user")
    async def mine(context: ExecutionContext) -> list[dict]:
        n = count(context, "mine")
        return [{"label": f"{context.caller.user_id}'s run {n}", "value": context.caller.user_id}]

    @data_provider(name="revalidated", cache_ttl_seconds=1, stale_while_revalidate_seconds=60)
    async def revalidated(context: ExecutionContext) -> list[dict]:
        n = count(context, "revalidated")
        if n > 1:
            await asyncio.wait_for(refresh_gate.wait(), 20)  # the refresh holds until the test lets it go
        return [{"label": f"run {n}", "value": n}]

    @data_provider(name="sized", cache_ttl_seconds=300)
    @param("tag", type="string", required=True)
    async def sized(context: ExecutionContext, tag: str) -> list[dict]:
        return [{"label": "L" * 1_000, "value": len(tag)}]

    @data_provider(name="uncached", cache_ttl_seconds=0)
    async def uncached(context: ExecutionContext) -> list[dict]:
        return [{"label": f"run {count(context, 'uncached')}", "value": 1}]

    @data_provider(name="bad_shape", cache_ttl_seconds=300)
    async def bad_shape(context: ExecutionContext) -> dict:
        count(context, "bad_shape")
        return {"label": "not a list"}

    @data_provider(name="refusing", cache_ttl_seconds=300)
    async def refusing(context: ExecutionContext) -> list[dict]:
        count(context, "refusing")
        raise UserError("Pick a site first.")

    @data_provider(name="slow", cache_ttl_seconds=300, timeout_seconds=1)
    async def slow(context: ExecutionContext) -> list[dict]:
        count(context, "slow")
        await asyncio.sleep(10)
        return [{"label": "too late", "value": 1}]


def caller(scope: str, user: str = "admin"):
    from shared.models import Caller

    return Caller(user_id=user, is_platform_admin=True, scope=scope)


def new_scope() -> str:
    return f"org-{uuid.uuid4().hex[:10]}"


def ran(name: str, scope: str, *parts: object, user: str = "admin") -> int:
    return runs["|".join([name, scope, user, *map(str, parts)])]


async def options(engine: Engine, name: str, scope: str, inputs: dict | None = None, *, user: str = "admin",
                  no_cache: bool = False, debug: bool = False) -> dict:
    return await provider_options(engine, ProviderCall(name, caller(scope, user), inputs or {}, no_cache, debug))


class Instance:
    """One engine with its provider cache over the test Azurite: what one host process has."""

    def __init__(self, connection_string: str, **cache_options) -> None:
        self.counter = RequestCounter()
        self.cache = ProviderCache(ProviderCacheStore.open(connection_string, counter=self.counter), **cache_options)
        self.engine = Engine(registry, cache=self.cache)

    async def close(self) -> None:
        await self.cache.close()
        self.engine.close()


@pytest.fixture
async def instances(storage_connection_string: str) -> AsyncIterator[list[Instance]]:
    """Two instances sharing the table (as two hosts do), the table ensured."""
    made = [Instance(storage_connection_string, generation_seconds=0.5) for _ in range(2)]
    await made[0].cache.ensure_table()
    yield made
    for instance in made:
        await instance.close()


async def test_a_hit_answers_without_running_and_an_entry_expires_after_its_ttl(instances) -> None:
    # Given a provider cached for 1 s
    engine, scope = instances[0].engine, new_scope()
    # When it is asked twice for one input, the second time as the text a query string carries
    first = await options(engine, "numbers", scope, {"start": 1})
    second = await options(engine, "numbers", scope, {"start": "1"})
    # Then it ran once: "1" and 1 are one key after coercion, and the hit says when it expires
    assert ran("numbers", scope, 1) == 1
    assert (first["cached"], second["cached"]) == (False, True)
    assert second["options"] == first["options"] and second["cache_expires_at"] == first["cache_expires_at"]
    assert datetime.fromisoformat(first["cache_expires_at"]) <= datetime.now(UTC) + timedelta(seconds=1.5)
    # When the entry has expired
    await asyncio.sleep(1.2)
    third = await options(engine, "numbers", scope, {"start": 1})
    # Then the provider runs again
    assert third["cached"] is False and third["options"][0]["label"] == "run 2 from 1"
    assert ran("numbers", scope, 1) == 2


async def test_ttl_zero_is_never_cached(instances) -> None:
    engine, scope = instances[0].engine, new_scope()
    answers = [await options(engine, "uncached", scope) for _ in range(3)]
    assert [a["cached"] for a in answers] == [False] * 3 and [a["cache_expires_at"] for a in answers] == [None] * 3
    assert ran("uncached", scope) == 3


async def test_no_cache_skips_the_read_and_refreshes_the_entry(instances) -> None:
    # Given cached options
    engine, scope = instances[0].engine, new_scope()
    await options(engine, "long_lived", scope, {"tag": "a"})
    # When one call asks for no_cache
    fresh = await options(engine, "long_lived", scope, {"tag": "a"}, no_cache=True)
    # Then the provider ran again, and the next plain call is served the refreshed options
    assert fresh["cached"] is False and fresh["options"][0]["value"] == 2
    after = await options(engine, "long_lived", scope, {"tag": "a"})
    assert after["cached"] is True and after["options"] == fresh["options"]
    # ... on another instance too (the shared tier was refreshed)
    other = await options(instances[1].engine, "long_lived", scope, {"tag": "a"})
    assert other["cached"] is True and other["options"] == fresh["options"]
    assert ran("long_lived", scope, "a") == 2


async def test_stale_options_are_served_at_once_while_exactly_one_refresh_runs(instances) -> None:
    # Given options cached for 1 s with a 60 s stale-while-revalidate window, now expired
    refresh_gate.clear()
    engine, scope = instances[0].engine, new_scope()
    first = await options(engine, "revalidated", scope)
    await asyncio.sleep(1.2)
    # When calls come while the refresh they started is held
    stale = [await options(engine, "revalidated", scope)]
    deadline = time.monotonic() + 10
    while ran("revalidated", scope) < 2:  # the refresh runs in the background: wait until it has started
        assert time.monotonic() < deadline, "no refresh started"
        await asyncio.sleep(0.02)
    stale += [await options(engine, "revalidated", scope) for _ in range(5)]
    # Then each got the old options at once, marked stale, and only one refresh started
    assert all(a["stale"] and a["cached"] and a["options"] == first["options"] for a in stale)
    assert ran("revalidated", scope) == 2
    # When the refresh finishes, the next call is fresh
    refresh_gate.set()
    deadline = time.monotonic() + 10
    while (answer := await options(engine, "revalidated", scope))["stale"]:
        assert time.monotonic() < deadline, "the refresh never landed"
        await asyncio.sleep(0.05)
    assert answer["options"][0]["label"] == "run 2" and answer["cached"] is True
    assert ran("revalidated", scope) == 2


async def test_one_scope_s_options_are_never_served_to_another(instances) -> None:
    engine, scope_a, scope_b = instances[0].engine, new_scope(), new_scope()
    a = await options(engine, "long_lived", scope_a, {"tag": "x"})
    b = await options(engine, "long_lived", scope_b, {"tag": "x"})
    assert b["cached"] is False and b["options"][0]["label"] == f"{scope_b} run 1"
    assert (await options(engine, "long_lived", scope_a, {"tag": "x"}))["options"] == a["options"]
    assert a["options"][0]["label"] == f"{scope_a} run 1"


async def test_a_user_scoped_provider_keeps_each_user_s_options_apart(instances) -> None:
    engine, scope = instances[0].engine, new_scope()
    alice = await options(engine, "mine", scope, user="alice")
    bob = await options(engine, "mine", scope, user="bob")
    assert (alice["cached"], bob["cached"]) == (False, False)
    assert alice["options"][0]["value"] == "alice" and bob["options"][0]["value"] == "bob"
    again = await options(engine, "mine", scope, user="alice")
    assert again["cached"] is True and again["options"] == alice["options"]
    # An organization-scoped provider shares one entry between the users of a scope
    await options(engine, "long_lived", scope, {"tag": "u"}, user="alice")
    assert (await options(engine, "long_lived", scope, {"tag": "u"}, user="bob"))["cached"] is True


async def test_twenty_concurrent_misses_run_the_provider_once(instances) -> None:
    engine, scope = instances[0].engine, new_scope()
    answers = await asyncio.gather(*(options(engine, "long_lived", scope, {"tag": "sf"}) for _ in range(20)))
    assert ran("long_lived", scope, "sf") == 1
    assert len({str(a["options"]) for a in answers}) == 1


async def test_twenty_concurrent_no_cache_calls_run_the_provider_once(instances) -> None:
    # Given a cached key
    engine, scope = instances[0].engine, new_scope()
    await options(engine, "long_lived", scope, {"tag": "refresh"})
    # When 20 callers ask for fresh options at once (no_cache is open to every caller of a form's field)
    answers = await asyncio.gather(*(options(engine, "long_lived", scope, {"tag": "refresh"}, no_cache=True)
                                     for _ in range(20)))
    # Then the provider ran once more for all of them, and they got its fresh options
    assert ran("long_lived", scope, "refresh") == 2
    assert {a["options"][0]["value"] for a in answers} == {2} and not any(a["cached"] for a in answers)


async def test_concurrent_misses_on_two_instances_run_the_provider_once(instances) -> None:
    # Given two instances (as two hosts) with empty in-process tiers
    scope = new_scope()
    # When 10 callers on each ask for one key at once
    calls = [options(instance.engine, "long_lived", scope, {"tag": "two"}) for instance in instances for _ in range(10)]
    answers = await asyncio.gather(*calls)
    # Then one instance ran it under the key's lease; the other waited for its entry
    assert ran("long_lived", scope, "two") == 1
    assert len({str(a["options"]) for a in answers}) == 1


@pytest.mark.parametrize(("name", "error"), [("bad_shape", ProviderFailedError), ("refusing", ProviderRefusedError),
                                             ("slow", ProviderTimeoutError)])
async def test_a_provider_that_fails_is_not_cached(instances, name: str, error: type[Exception]) -> None:
    engine, scope = instances[0].engine, new_scope()
    for _ in range(2):
        with pytest.raises(error) as raised:
            await options(engine, name, scope)
    assert ran(name, scope) == 2
    expected = {"bad_shape": "returned invalid options", "refusing": "Pick a site first.", "slow": "timed out"}[name]
    assert expected in raised.value.message


async def test_invalidation_reaches_the_other_instance_within_its_generation_bound(instances) -> None:
    # Given both instances holding the options in their in-process tier
    first, second = instances
    scope = new_scope()
    await options(first.engine, "long_lived", scope, {"tag": "inv"})
    assert (await options(second.engine, "long_lived", scope, {"tag": "inv"}))["cached"] is True
    # When the provider is invalidated through the first
    answer = await invalidate_provider_cache(first.engine, caller(scope), "long_lived")
    assert answer["invalidated"] is True and answer["visible_everywhere_within_seconds"] == 0.5
    # Then the first runs it again at once, and the second within 0.5 s (it then reads the new entry)
    assert (await options(first.engine, "long_lived", scope, {"tag": "inv"}))["cached"] is False
    await asyncio.sleep(0.6)
    seen = await options(second.engine, "long_lived", scope, {"tag": "inv"})
    assert seen["options"][0]["value"] == 2
    assert ran("long_lived", scope, "inv") == 2


async def test_an_in_process_hit_costs_no_request_and_a_shared_tier_hit_one(storage_connection_string) -> None:
    # Given one instance that filled the entry, and a fresh one (a new host) that knows the generation
    filler = Instance(storage_connection_string, generation_seconds=60)
    fresh = Instance(storage_connection_string, generation_seconds=60)
    await filler.cache.ensure_table()
    scope = new_scope()
    try:
        await options(filler.engine, "long_lived", scope, {"tag": "warm"})
        await options(fresh.engine, "long_lived", scope, {"tag": "other"})  # reads the generation once
        await options(filler.engine, "long_lived", scope, {"tag": "counted"})
        filler.counter.reset(), fresh.counter.reset()
        # When the fresh instance asks for the entry, then asks again
        from_shared = await options(fresh.engine, "long_lived", scope, {"tag": "counted"})
        shared_requests = fresh.counter.reset()
        in_process = [await options(fresh.engine, "long_lived", scope, {"tag": "counted"}) for _ in range(50)]
        # Then the shared-tier hit was one point read, and the fifty in-process hits none
        assert from_shared["cached"] and all(a["cached"] for a in in_process)
        assert (shared_requests, fresh.counter.reset()) == (1, 0)
    finally:
        await filler.close()
        await fresh.close()


async def test_a_miss_costs_four_requests_and_leaves_no_lease_behind(storage_connection_string) -> None:
    # Given an instance that already knows the provider's generation
    instance = Instance(storage_connection_string, generation_seconds=60)
    await instance.cache.ensure_table()
    scope = new_scope()
    try:
        await options(instance.engine, "long_lived", scope, {"tag": "warm"})
        instance.counter.reset()
        # When a key nobody has asked for yet is asked for
        answer = await options(instance.engine, "long_lived", scope, {"tag": "miss"})
        # Then the provider ran, costing four requests: the entry read, the lease, the entry read again under the
        # lease, and one batch transaction that writes the entry and releases the lease
        assert answer["cached"] is False and ran("long_lived", scope, "miss") == 1
        assert instance.counter.reset() == 4
        # And no lease row is left for the key (the next miss of it is not kept waiting)
        assert await instance.cache.store.read_lease((scope, "long_lived", "", inputs_digest({"tag": "miss"}))) is None
    finally:
        await instance.close()


async def test_a_failing_cache_storage_still_answers_options(instances, caplog) -> None:
    # Given the cache table answering 503 to everything
    engine, scope = instances[0].engine, new_scope()
    with faults.injected([{"match": "table.ConduitProviderCache.*", "fault": "error", "status": 503}]):
        # When options are asked for
        answer = await options(engine, "long_lived", scope, {"tag": "down"})
        again = await options(engine, "long_lived", scope, {"tag": "down"})
    # Then the provider ran and answered; the in-process tier still served the second call; a WARNING says why
    assert answer["cached"] is False and answer["options"][0]["value"] == 1
    assert again["cached"] is True and ran("long_lived", scope, "down") == 1
    assert "provider cache: could not" in caplog.text and "WARNING" in {r.levelname for r in caplog.records}


async def test_debug_answers_carry_the_run_s_log_lines(instances) -> None:
    engine, scope = instances[0].engine, new_scope()
    with pytest.raises(ProviderFailedError) as raised:
        await options(engine, "bad_shape", scope, debug=True)
    assert any("invalid options" in line["message"] for line in raised.value.details["logs"])


async def test_the_purge_deletes_expired_entries_and_stale_leases(instances, storage_connection_string) -> None:
    # Given an entry that has expired and a lease whose holder died
    engine, cache, scope = instances[0].engine, instances[0].cache, new_scope()
    await options(engine, "numbers", scope, {"start": 7})
    key = (scope, "numbers", "", '{"start":7}')
    assert cache.store is not None
    past = datetime.now(UTC) - timedelta(seconds=1)
    assert await cache.store.acquire_lease((scope, "dead", "", "{}"), "gone", past, past - timedelta(seconds=1))
    await asyncio.sleep(1.2)
    # When the clean-up purges
    purged = await purge_provider_cache(engine)
    # Then both rows are gone and the report counts them
    assert purged.entries >= 1 and purged.leases >= 1 and "purged" in purged.summary()
    assert await cache.store.read(key) is None
    assert await cache.store.read_lease((scope, "dead", "", "{}")) is None
    rows = cache.store.table.query_entities("PartitionKey eq @pk", parameters={"pk": partition_of(scope)})
    assert [row["RowKey"] async for row in rows if row["RowKey"] == ENTRY_PREFIX + key_digest(key)] == []


async def test_the_in_process_tier_is_bounded(storage_connection_string) -> None:
    instance = Instance(storage_connection_string, size=2)
    scope = new_scope()
    try:
        for tag in ("a", "b", "c"):
            await options(instance.engine, "long_lived", scope, {"tag": tag})
        instance.counter.reset()
        assert (await options(instance.engine, "long_lived", scope, {"tag": "c"}))["cached"] is True
        assert instance.counter.reset() == 0  # still in process
        assert (await options(instance.engine, "long_lived", scope, {"tag": "a"}))["cached"] is True
        assert instance.counter.reset() == 1  # evicted: answered by the shared tier
    finally:
        await instance.close()


async def test_the_in_process_tier_is_bounded_by_bytes_and_keys_stay_small_whatever_the_inputs() -> None:
    # Given an in-process cache of at most 3,000 characters of options
    cache = ProviderCache(None, max_bytes=3_000)
    engine = Engine(registry, cache=cache)
    scope = new_scope()
    try:
        # When options of about 1,000 characters are cached for ten inputs of 1 MB each
        for n in range(10):
            await options(engine, "sized", scope, {"tag": f"{n}" + "x" * 1_000_000})
        # Then only the most recent ones are kept, within the budget, and no key holds the megabyte it was given
        assert cache._bytes <= 3_000 and len(cache._entries) == 2
        assert max(len(str(key)) for key in cache._entries) < 200
        latest = await options(engine, "sized", scope, {"tag": "9" + "x" * 1_000_000})
        assert latest["cached"] is True
    finally:
        await cache.close()
        engine.close()
