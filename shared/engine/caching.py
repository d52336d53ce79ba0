"""The cache layer of a data provider's pipeline: it answers from the cache without calling the provider on a hit.

Key: (scope, provider, canonical inputs, user when the provider declares `cache_scope="user"`). Canonical inputs are
the arguments after validation coerced them (so "1" and 1 for an int parameter are one key), as JSON with sorted keys.

Two tiers. A bounded in-process LRU (`CONDUIT_PROVIDER_CACHE_SIZE` entries, default 1000): a hit there is a dict
lookup and costs no storage request. Behind it the shared tier in Table storage (shared/storage/provider_cache.py),
which every instance reads: a hit there costs one point read and fills the LRU.

A miss runs the provider once per key however many callers ask at once: in one process they share one task (single
flight); across instances the one that inserts the key's lease row runs it while the others poll for the entry it
writes (or take the lease over once it expires: the holder died). Only a successful run is stored. Within
`stale_while_revalidate_seconds` after expiry the old options are answered at once (`stale=True`) and one refresh
runs in the background.

Invalidation bumps the provider's generation in storage; an entry of an older generation is a miss. Each instance
re-reads a provider's generation at most every `CONDUIT_PROVIDER_CACHE_GENERATION_SECONDS` (default 5), on the
first lookup after that time, so an invalidation reaches every instance's in-process tier within that bound while a
hit in between still costs no request.

The cache never fails a provider call that could run: a storage error in it is logged as a WARNING and the call goes
on as a miss (or a hit of the in-process tier).
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import os
import time
import uuid
from collections import OrderedDict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, TypeVar

from shared.models import ExecutionResult, ExecutionStatus, iso
from shared.storage.packing import to_json_text
from shared.storage.provider_cache import CacheKey, ProviderCacheStore, StoredEntry

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation
    from shared.storage.account import StorageAccount

Step = Callable[["Invocation"], Awaitable[ExecutionResult]]
T = TypeVar("T")

SIZE_SETTING = "CONDUIT_PROVIDER_CACHE_SIZE"
BYTES_SETTING = "CONDUIT_PROVIDER_CACHE_MAX_BYTES"
DEFAULT_MAX_BYTES = 64 * 1024 * 1024
GENERATION_SETTING = "CONDUIT_PROVIDER_CACHE_GENERATION_SECONDS"
DEFAULT_SIZE = 1000
DEFAULT_GENERATION_SECONDS = 5.0
LEASE_MARGIN_SECONDS = 5.0  # a lease outlives its holder's run (bounded by the provider's timeout) by this much
POLL_SECONDS = 0.1  # how often an instance waiting on another's run looks for its entry
WITHOUT_LEASE = ""  # storage could not take the key's lease: run anyway (the cache never fails a provider call)

log = logging.getLogger("conduit.cache")


@dataclass(slots=True)
class LocalEntry:
    """An entry of the in-process tier. Times are Unix seconds (entries are shared between instances)."""

    provider: str
    options: Any
    expires: float
    stale_until: float
    expires_text: str
    generation: int
    size: int  # characters of the options' JSON: what the entry costs the in-process tier's byte budget


class ProviderCache:
    """Two tiers (in-process LRU, shared Table storage), single flight, stale-while-revalidate, invalidation.

    `store` None keeps the cache in this process only (tests of the engine on its own)."""

    def __init__(
        self,
        store: ProviderCacheStore | None = None,
        *,
        size: int | None = None,
        max_bytes: int | None = None,
        generation_seconds: float | None = None,
        poll_seconds: float = POLL_SECONDS,
    ) -> None:
        self.store = store
        self.size = size if size is not None else int(os.environ.get(SIZE_SETTING, DEFAULT_SIZE))
        self.max_bytes = max_bytes if max_bytes is not None else int(os.environ.get(BYTES_SETTING, DEFAULT_MAX_BYTES))
        self._bytes = 0
        seconds = os.environ.get(GENERATION_SETTING, DEFAULT_GENERATION_SECONDS)
        self.generation_seconds = generation_seconds if generation_seconds is not None else float(seconds)
        self.poll_seconds = poll_seconds
        self.owner = f"{os.getpid()}-{uuid.uuid4().hex[:12]}"  # this instance, as a lease holder
        self._entries: OrderedDict[CacheKey, LocalEntry] = OrderedDict()
        self._generations: dict[str, tuple[int, float]] = {}  # provider -> (generation, when the read started)
        self._generation_reads: dict[str, asyncio.Task[int]] = {}
        self._flights: dict[tuple[CacheKey, int, bool], asyncio.Task[ExecutionResult]] = {}
        self._tasks: set[asyncio.Task[Any]] = set()  # strong references until done; drained by close()

    @classmethod
    def open(cls, account: StorageAccount | str, **options: Any) -> ProviderCache:
        """A cache whose shared tier is the account's `ConduitProviderCache` table."""
        return cls(ProviderCacheStore.open(account), **options)

    async def ensure_table(self) -> None:
        if self.store is not None:
            await self.store.ensure_table()

    async def answer(self, invocation: Invocation, call: Step) -> ExecutionResult:
        """The provider's options for this invocation: from a tier, or from one run shared by concurrent callers."""
        key = key_of(invocation)
        now = time.time()
        known = self._generations.get(key[1])
        fresh = known is not None and now - known[1] < self.generation_seconds
        generation = known[0] if fresh and known is not None else await self._generation(key[1])
        if invocation.request.no_cache:
            result = await asyncio.shield(self._flight(key, generation, invocation, call, refresh=True))
            return replace(result, execution_id=invocation.request.execution_id)
        entry = self._entries.get(key)
        if entry is not None and entry.generation == generation:
            if now < entry.expires:
                self._entries.move_to_end(key)
                return _hit(invocation, entry, stale=False)
            if now < entry.stale_until:
                self._flight(key, generation, invocation, call)  # the one refresh (joined if already running)
                return _hit(invocation, entry, stale=True)
        shared = await self._shared_hit(key, generation, invocation, call)
        if shared is not None:
            return shared
        result = await asyncio.shield(self._flight(key, generation, invocation, call))
        return replace(result, execution_id=invocation.request.execution_id)

    async def invalidate(self, provider: str) -> int:
        """Make every entry of `provider` a miss, on every instance (within `generation_seconds`); the new
        generation. Raises StorageError when the shared tier cannot record it (nothing is claimed then)."""
        if self.store is not None:
            generation = await self.store.bump_generation(provider)
        else:
            generation = self._generations.get(provider, (0, 0.0))[0] + 1
        self._generations[provider] = (generation, time.time())
        for key in [key for key, entry in self._entries.items() if entry.provider == provider]:
            self._drop(key)
        return generation

    async def purge(self, now: datetime | None = None) -> tuple[int, int]:
        """Delete expired entries and stale leases of the shared tier: (entries, leases) deleted."""
        if self.store is None:
            return 0, 0
        return await self.store.purge(now or datetime.now(UTC))

    async def close(self, drain_seconds: float = 5.0) -> None:
        """Let background refreshes finish (cancel what outlasts `drain_seconds`), then close the storage clients."""
        pending = [task for task in self._tasks if not task.done()]
        if pending:
            _, late = await asyncio.wait(pending, timeout=drain_seconds)
            for task in late:
                task.cancel()
            await asyncio.gather(*late, return_exceptions=True)
        if self.store is not None:
            await self.store.close()

    # Tiers ---------------------------------------------------------------------------------------------------------

    def _put(self, key: CacheKey, entry: LocalEntry) -> None:
        """Keep `entry`, then forget the least recently used entries beyond `size` entries or `max_bytes`."""
        self._drop(key)
        if entry.size > self.max_bytes:
            return  # larger than the whole tier: it would only push everything else out
        self._entries[key] = entry
        self._bytes += entry.size
        while len(self._entries) > self.size or self._bytes > self.max_bytes:
            _, oldest = self._entries.popitem(last=False)
            self._bytes -= oldest.size

    def _drop(self, key: CacheKey) -> None:
        entry = self._entries.pop(key, None)
        if entry is not None:
            self._bytes -= entry.size

    async def _shared_hit(
        self, key: CacheKey, generation: int, invocation: Invocation, call: Step
    ) -> ExecutionResult | None:
        entry = await self._read_shared(key, generation, invocation)
        if entry is None:
            return None
        now = time.time()
        if now < entry.expires:
            return _hit(invocation, entry, stale=False)
        if now < entry.stale_until:
            self._flight(key, entry.generation, invocation, call)
            return _hit(invocation, entry, stale=True)
        return None

    async def _read_shared(self, key: CacheKey, generation: int, invocation: Invocation) -> LocalEntry | None:
        """The shared tier's entry of `key` if it is of this generation or newer (then in the LRU too)."""
        if self.store is None:
            return None
        stored = await _quietly("read a cache entry", self.store.read(key), None)
        if stored is None or stored.generation < generation:
            return None
        if stored.generation > generation:  # another instance saw an invalidation we have not read yet
            self._generations[key[1]] = (stored.generation, time.time())
        assert invocation.metadata is not None
        expires = stored.expires_at.timestamp()
        swr = invocation.metadata.stale_while_revalidate_seconds
        entry = LocalEntry(key[1], stored.options, expires, expires + swr, iso(stored.expires_at) or "",
                           stored.generation, stored.size)
        self._put(key, entry)
        return entry

    # Generations ---------------------------------------------------------------------------------------------------

    async def _generation(self, provider: str) -> int:
        """The provider's generation, read again (one read shared by concurrent lookups) once it is too old."""
        reading = self._generation_reads.get(provider)
        if reading is None:
            reading = self._track(self._read_generation(provider))
            self._generation_reads[provider] = reading
            reading.add_done_callback(lambda _: self._generation_reads.pop(provider, None))
        return await asyncio.shield(reading)

    async def _read_generation(self, provider: str) -> int:
        started = time.time()  # the bound counts from before the read: a bump it missed is seen N s later
        known = self._generations.get(provider, (0, 0.0))[0]
        if self.store is not None:
            known = await _quietly("read a provider's cache generation", self.store.generation(provider), known)
        self._generations[provider] = (known, started)
        return known

    # Misses --------------------------------------------------------------------------------------------------------

    def _flight(
        self, key: CacheKey, generation: int, invocation: Invocation, call: Step, *, refresh: bool = False
    ) -> asyncio.Task[ExecutionResult]:
        """The run in progress for `key` (of this generation: a run started before an invalidation is not joined
        after it), or a new one. It runs as a task of its own, so a caller that goes away (a closed HTTP request)
        does not cancel the run the others wait for. A `refresh` (`no_cache`) skips every read and the lease, but
        concurrent refreshes of one key still share one run: `no_cache` cannot fan a provider out."""
        flight = (key, generation, refresh)
        task = self._flights.get(flight)
        if task is None:
            work = self._run_and_store(key, generation, invocation, call) if refresh else self._fill(
                key, generation, invocation, call)
            task = self._track(work)
            self._flights[flight] = task
            task.add_done_callback(lambda done: self._flights.pop(flight) if self._flights.get(flight) is done
                                   else None)
        return task

    async def _fill(self, key: CacheKey, generation: int, invocation: Invocation, call: Step) -> ExecutionResult:
        """Run the provider for `key` once across instances: under the key's lease, or wait for its holder."""
        if self.store is None:
            return await self._run_and_store(key, generation, invocation, call)
        store = self.store
        lease_seconds = invocation.timeout_seconds + LEASE_MARGIN_SECONDS
        give_up = time.time() + 2 * lease_seconds  # a holder that keeps renewing nothing cannot hold us forever
        while True:
            now = datetime.now(UTC)
            until = datetime.fromtimestamp(now.timestamp() + lease_seconds, UTC)
            lease = await _quietly("take a cache lease", store.acquire_lease(key, self.owner, until, now),
                                   WITHOUT_LEASE)
            if lease is not None or time.time() > give_up:
                return await self._run_leased(key, generation, invocation, call, lease or WITHOUT_LEASE)
            waited = await self._wait_for_holder(key, generation, invocation)
            if waited is not None:
                return waited

    async def _run_leased(
        self, key: CacheKey, generation: int, invocation: Invocation, call: Step, lease: str
    ) -> ExecutionResult:
        """Run the provider under our lease (its ETag; `WITHOUT_LEASE` when storage could not take one). The entry
        is written together with the lease's release; a run that stores nothing releases it on its own."""
        assert self.store is not None
        released = lease == WITHOUT_LEASE
        try:
            # The holder before us may have stored the entry between our read and our lease: read once more.
            entry = await self._read_shared(key, generation, invocation)
            if entry is not None and time.time() < entry.expires:
                return _hit(invocation, entry, stale=False)
            result = await call(invocation)
            if result.status is ExecutionStatus.SUCCESS:
                released = await self._store(key, generation, invocation, result, lease) or released
            return result
        finally:
            if not released:
                await _quietly("release a cache lease", self.store.release_lease(key, lease), None)

    async def _wait_for_holder(self, key: CacheKey, generation: int, invocation: Invocation) -> ExecutionResult | None:
        """Poll for the entry another instance is computing; None once its lease is gone or expired."""
        assert self.store is not None
        while True:
            await asyncio.sleep(self.poll_seconds)
            entry = await self._read_shared(key, generation, invocation)
            if entry is not None and time.time() < entry.expires:
                return _hit(invocation, entry, stale=False)
            lease = await _quietly("read a cache lease", self.store.read_lease(key), None)
            if lease is None or lease.expires_at <= datetime.now(UTC):
                return None

    async def _run_and_store(
        self, key: CacheKey, generation: int, invocation: Invocation, call: Step
    ) -> ExecutionResult:
        """Run the provider without a lease (no shared tier, or `no_cache`); store its options when it succeeded."""
        result = await call(invocation)
        if result.status is ExecutionStatus.SUCCESS:
            await self._store(key, generation, invocation, result, WITHOUT_LEASE)
        return result

    async def _store(
        self, key: CacheKey, generation: int, invocation: Invocation, result: ExecutionResult, lease: str
    ) -> bool:
        """Put a successful run's options in both tiers; True when the shared tier took them (and, with `lease`,
        released the lease in the same transaction)."""
        metadata = invocation.metadata
        assert metadata is not None
        expires = time.time() + metadata.cache_ttl_seconds
        expires_at = datetime.fromtimestamp(expires, UTC)
        stale_until = expires + metadata.stale_while_revalidate_seconds
        text = to_json_text(result.result)
        entry = LocalEntry(key[1], result.result, expires, stale_until, iso(expires_at) or "", generation, len(text))
        self._put(key, entry)
        result.cache_expires_at = entry.expires_text
        if self.store is None:
            return False
        stored = StoredEntry(result.result, expires_at, generation)
        purge_at = datetime.fromtimestamp(stale_until, UTC)
        write = self.store.write(key, stored, purge_at, lease_etag=lease or None, text=text)
        written = await _quietly("write a cache entry", write, None)
        if written is False:
            log.warning("provider cache: the options of '%s' are too large for the shared tier; they are "
                        "cached in this process only", key[1])
        return bool(written)

    def _track(self, work: Awaitable[T]) -> asyncio.Task[T]:
        task: asyncio.Task[T] = asyncio.ensure_future(work)
        self._tasks.add(task)
        task.add_done_callback(_finished(self._tasks))
        return task


def cached(cache_of: Callable[[], ProviderCache | None], call: Step) -> Step:
    """Answer from the cache without calling the provider on a hit; on a miss run it and store its options.

    A provider with `cache_ttl_seconds=0`, or an engine without a cache, always runs."""

    async def run(invocation: Invocation) -> ExecutionResult:
        cache = cache_of()
        metadata = invocation.metadata
        if cache is None or metadata is None or metadata.cache_ttl_seconds <= 0:
            return await call(invocation)
        return await cache.answer(invocation, call)

    return run


def key_of(invocation: Invocation) -> CacheKey:
    """(scope, provider, user or "", digest of the canonical inputs) of a provider invocation."""
    metadata = invocation.metadata
    assert metadata is not None
    user = invocation.request.caller.user_id if metadata.cache_scope == "user" else ""
    return invocation.context.scope, metadata.name, user, inputs_digest(invocation.arguments or {})


def inputs_digest(arguments: dict[str, Any]) -> str:
    """The canonical inputs — coerced arguments as JSON with sorted keys — hashed: a key stays small however large
    the inputs a caller sends (the in-process tier holds up to `size` keys)."""
    canonical = json.dumps(arguments, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(canonical.encode("utf-8", "surrogatepass")).hexdigest()


def _hit(invocation: Invocation, entry: LocalEntry, *, stale: bool) -> ExecutionResult:
    return ExecutionResult(
        execution_id=invocation.request.execution_id,
        status=ExecutionStatus.SUCCESS,
        result=entry.options,
        cached=True,
        cache_expires_at=entry.expires_text,
        stale=stale,
    )


async def _quietly(what: str, work: Awaitable[T], default: T) -> T:
    """`work`'s value, or `default` with a WARNING when storage fails: the cache never fails a provider call."""
    try:
        return await work
    except Exception as error:
        first_line = (str(error).strip().splitlines() or [""])[0]  # the SDK's message goes on with headers and body
        log.warning("provider cache: could not %s (%s: %s); going on without it", what, type(error).__name__,
                    first_line)
        return default


def _finished(tasks: set[asyncio.Task[Any]]) -> Callable[[asyncio.Task[Any]], None]:
    def done(task: asyncio.Task[Any]) -> None:
        tasks.discard(task)
        if not task.cancelled() and task.exception() is not None:
            log.error("provider cache: a background run failed", exc_info=task.exception())

    return done
