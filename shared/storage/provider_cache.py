"""The shared tier of the data-provider cache: entries, single-flight leases and invalidation generations in Table
storage, read by key only.

Table `ConduitProviderCache`, three kinds of row:

| row         | PartitionKey      | RowKey                 | properties                                          |
|-------------|-------------------|------------------------|-----------------------------------------------------|
| entry       | the scope         | `e|<sha256 of the key>`| Options (JSON, split over properties), ExpiresAt,   |
|             |                   |                        | PurgeAt, Generation, Provider                       |
| lease       | the scope         | `l|<sha256 of the key>`| Owner, ExpiresAt, PurgeAt                           |
| generation  | `~generation`     | the provider's name    | Generation                                          |

The key hashed is (scope, provider, user or "", canonical inputs), so every lookup is one point read. A scope's
rows share its partition, like its executions; `~generation` sorts apart from every scope (a scope starts with a
letter or digit). `PurgeAt` is when a row is of no more use (an entry after its stale-while-revalidate window, a
lease at its expiry); the clean-up sweep deletes rows past it with one filtered query, ETag-conditionally, so a row
refreshed meanwhile survives. Generation rows carry no `PurgeAt` and are never purged.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.errors import StorageError
from shared.storage.clients import StorageProfile
from shared.storage.keys import is_valid_key
from shared.storage.packing import MAX_ENTITY_BYTES, pack_text, to_json_text, unpack_text, utf16_units
from shared.storage.tables import TableStore

PROVIDER_CACHE_TABLE = "ConduitProviderCache"
GENERATION_PARTITION = "~generation"
ENTRY_PREFIX, LEASE_PREFIX = "e|", "l|"
# Options larger than this (stored bytes, or JSON on the wire) stay in the in-process tier only.
MAX_OPTIONS_BYTES = MAX_ENTITY_BYTES - 20_000
_PURGE_FILTER = "PurgeAt lt @now"
_PURGE_CONCURRENCY = 16
# A cache read sits in front of a provider run someone waits for: fail fast and run the provider instead.
CACHE = StorageProfile("cache", 2.0, 3.0, 1, 0.1, 0.5, 5.0)

CacheKey = tuple[str, str, str, str]  # (scope, provider, user or "", canonical inputs)


def key_digest(key: CacheKey) -> str:
    """The entry's and lease's RowKey suffix: one hash of every part of the key (JSON, so no part bleeds into the
    next)."""
    return hashlib.sha256(json.dumps(key, ensure_ascii=False).encode("utf-8", "surrogatepass")).hexdigest()


def partition_of(scope: str) -> str:
    return scope if is_valid_key(scope) and not scope.startswith("~") else "~h|" + hashlib.sha256(
        scope.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass(frozen=True, slots=True)
class StoredEntry:
    """An entry as the shared tier holds it."""

    options: Any
    expires_at: datetime
    generation: int
    size: int = 0  # characters of the options' JSON


@dataclass(frozen=True, slots=True)
class Lease:
    """Who runs the provider for one key, until when; `etag` to take it over once it has expired."""

    owner: str
    expires_at: datetime
    etag: str


class ProviderCacheStore(TableStore):
    """Point reads and writes of cache entries, leases and generations; the purge sweep of the clean-up timer."""

    TABLE = PROVIDER_CACHE_TABLE
    PROFILE = CACHE

    # Entries -------------------------------------------------------------------------------------------------------

    async def read(self, key: CacheKey) -> StoredEntry | None:
        """The entry of `key` (one point read), or None."""
        try:
            entity = await self.table.get_entity(partition_of(key[0]), ENTRY_PREFIX + key_digest(key))
        except ResourceNotFoundError:
            return None
        text = unpack_text("Options", entity)
        if text is None:
            return None
        generation = int(entity.get("Generation") or 0)
        return StoredEntry(json.loads(text), _aware(entity["ExpiresAt"]), generation, len(text))

    async def write(
        self, key: CacheKey, entry: StoredEntry, purge_at: datetime, *, lease_etag: str | None = None,
        text: str | None = None,
    ) -> bool:
        """Store (replace) the entry; False, writing nothing, when the options are too large for one entity.

        With `lease_etag` the entry and the release of the key's lease are one batch transaction (they share the
        scope's partition): a miss costs one request less, and the waiting instances find the entry the moment the
        lease is gone. If the lease is no longer ours (taken over after expiry), the entry is written alone."""
        text = to_json_text(entry.options) if text is None else text  # `text`: the options' JSON, if made already
        if utf16_units(text) * 2 > MAX_OPTIONS_BYTES or len(json.dumps(text)) > MAX_OPTIONS_BYTES:
            return False
        entity: dict[str, Any] = {
            "PartitionKey": partition_of(key[0]),
            "RowKey": ENTRY_PREFIX + key_digest(key),
            "Provider": key[1],
            "ExpiresAt": entry.expires_at,
            "PurgeAt": purge_at,
            "Generation": entry.generation,
            **pack_text("Options", text),
        }
        if lease_etag:
            lease = {"PartitionKey": entity["PartitionKey"], "RowKey": LEASE_PREFIX + key_digest(key)}
            release = {"etag": lease_etag, "match_condition": MatchConditions.IfNotModified}
            try:
                await self.table.submit_transaction(
                    [("upsert", entity, {"mode": UpdateMode.REPLACE}), ("delete", lease, release)]
                )
                return True
            except TableTransactionError:
                pass  # the lease was taken over or purged meanwhile: the entry still goes in, on its own
        await self._upsert(entity)
        return True

    # Leases --------------------------------------------------------------------------------------------------------

    async def acquire_lease(self, key: CacheKey, owner: str, expires_at: datetime, now: datetime) -> str | None:
        """Take the key's lease: insert it if absent, or take over an expired one ETag-conditionally. The ETag of
        the lease, now ours (`write` releases it with the entry), or None while another instance holds it."""
        entity = {
            "PartitionKey": partition_of(key[0]),
            "RowKey": LEASE_PREFIX + key_digest(key),
            "Owner": owner,
            "ExpiresAt": expires_at,
            "PurgeAt": expires_at,
        }
        try:
            return await self._create(entity)
        except ResourceExistsError:
            pass
        current = await self.read_lease(key)
        if current is None:  # released between our insert and our read: try once more
            try:
                return await self._create(entity)
            except ResourceExistsError:
                return None
        if current.expires_at > now:
            return None
        try:
            metadata = await self.table.update_entity(
                entity, mode=UpdateMode.REPLACE, etag=current.etag, match_condition=MatchConditions.IfNotModified
            )
        except (ResourceModifiedError, ResourceNotFoundError):
            return None  # another instance took it over (or released it) first
        return str(metadata["etag"])

    async def read_lease(self, key: CacheKey) -> Lease | None:
        try:
            entity = await self.table.get_entity(partition_of(key[0]), LEASE_PREFIX + key_digest(key))
        except ResourceNotFoundError:
            return None
        return Lease(str(entity.get("Owner") or ""), _aware(entity["ExpiresAt"]), str(entity.metadata["etag"]))

    async def release_lease(self, key: CacheKey, etag: str) -> None:
        """Delete the lease if it is still the one we took (one taken over after expiry belongs to its new owner)."""
        with contextlib.suppress(ResourceModifiedError, ResourceNotFoundError):  # taken over, or purged
            await self.table.delete_entity(
                partition_of(key[0]), LEASE_PREFIX + key_digest(key),
                etag=etag, match_condition=MatchConditions.IfNotModified,
            )

    # Generations ---------------------------------------------------------------------------------------------------

    async def generation(self, provider: str) -> int:
        """The provider's invalidation generation (0 until it is first invalidated)."""
        try:
            entity = await self.table.get_entity(GENERATION_PARTITION, _provider_key(provider))
        except ResourceNotFoundError:
            return 0
        return int(entity.get("Generation") or 0)

    async def bump_generation(self, provider: str) -> int:
        """Add one to the provider's generation (ETag-conditionally: concurrent bumps each count) and return it."""
        row = _provider_key(provider)
        for _ in range(20):
            try:
                entity = await self.table.get_entity(GENERATION_PARTITION, row)
            except ResourceNotFoundError:
                try:
                    await self._create({"PartitionKey": GENERATION_PARTITION, "RowKey": row, "Generation": 1,
                                        "Provider": provider})
                    return 1
                except ResourceExistsError:
                    continue
            new = int(entity.get("Generation") or 0) + 1
            entity["Generation"] = new
            try:
                await self.table.update_entity(entity, mode=UpdateMode.REPLACE, etag=entity.metadata["etag"],
                                               match_condition=MatchConditions.IfNotModified)
                return new
            except ResourceModifiedError:
                continue
        raise StorageError(f"Could not invalidate the cache of '{provider}': too many concurrent invalidations.")

    # Purge ---------------------------------------------------------------------------------------------------------

    async def purge(self, now: datetime) -> tuple[int, int]:
        """Delete entries and leases past their `PurgeAt` (ETag-conditionally); (entries, leases) deleted."""
        rows = self.table.query_entities(_PURGE_FILTER, parameters={"now": now}, select=["PartitionKey", "RowKey"])
        found = [row async for row in rows]
        gate = asyncio.Semaphore(_PURGE_CONCURRENCY)
        deleted = await asyncio.gather(*(self._delete_row(row, gate) for row in found))
        entries = sum(1 for row, done in zip(found, deleted, strict=True) if done and _is_entry(row))
        return entries, sum(deleted) - entries

    async def _delete_row(self, row: Any, gate: asyncio.Semaphore) -> bool:
        async with gate:
            try:
                await self.table.delete_entity(row["PartitionKey"], row["RowKey"], etag=row.metadata["etag"],
                                               match_condition=MatchConditions.IfNotModified)
            except (ResourceModifiedError, ResourceNotFoundError):
                return False  # refreshed (or purged by another instance) since the query
            return True

    # Writes that create the table on first use (a host whose start-up did not ensure it) ----------------------------

    async def _upsert(self, entity: dict[str, Any]) -> None:
        try:
            await self.table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        except ResourceNotFoundError:
            await self.ensure_table()
            await self.table.upsert_entity(entity, mode=UpdateMode.REPLACE)

    async def _create(self, entity: dict[str, Any]) -> str:
        """Insert `entity`; its ETag."""
        try:
            metadata = await self.table.create_entity(entity, response_preference="return-no-content")
        except ResourceExistsError:
            raise
        except ResourceNotFoundError:
            await self.ensure_table()
            metadata = await self.table.create_entity(entity, response_preference="return-no-content")
        return str(metadata["etag"])


def _is_entry(row: Any) -> bool:
    return str(row["RowKey"]).startswith(ENTRY_PREFIX)


def _provider_key(provider: str) -> str:
    return provider if is_valid_key(provider) else "h|" + hashlib.sha256(provider.encode()).hexdigest()


def _aware(value: datetime) -> datetime:
    """Table storage returns UTC datetimes; make sure they compare with aware ones."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
