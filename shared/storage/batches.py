"""Size rows against the service limits, and write rows of one partition in as few requests as possible.

A transaction holds at most 100 operations and less than 4 MiB; 12.7.0 of the SDK checks neither, and Azurite does
not check entity size or property count the way Azure does (gotcha #6), so every limit is applied here before a
request is sent. Rows are upserted with REPLACE: writing the same execution's rows again (a re-run) rewrites them
completely instead of leaving stale properties behind.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from typing import Any

from azure.core.exceptions import AzureError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.errors import PayloadTooLargeError, StorageError
from shared.storage.packing import (
    BINARY_PART_BYTES,
    MAX_BATCH_OPERATIONS,
    MAX_BATCH_PAYLOAD_BYTES,
    MAX_CUSTOM_PROPERTIES,
    MAX_ENTITY_BYTES,
    MAX_ENTITY_PAYLOAD_BYTES,
    MAX_STRING_UNITS,
    utf16_units,
)

DEFAULT_CONCURRENCY = 8

Entity = dict[str, Any]
_KEYS = ("PartitionKey", "RowKey")
_OPERATION_OVERHEAD = 1_024  # multipart headers and the request line of one operation in a batch


def entity_size(entity: Entity) -> int:
    """Estimated stored size, after the formula in the Table service data model documentation."""
    size = 4 + 2 * sum(len(entity.get(key, "")) for key in _KEYS)
    for name, value in entity.items():
        if name not in _KEYS:
            size += 8 + 2 * len(name) + _stored_size(value)
    return size


def _stored_size(value: Any) -> int:
    if isinstance(value, str):
        return 4 + 2 * utf16_units(value)
    if isinstance(value, bytes):
        return 4 + len(value)
    return 16  # numbers, booleans, datetimes, GUIDs: at most 16 bytes


def payload_size(entity: Entity) -> int:
    """Estimated bytes of this entity in a request: JSON with non-ASCII escaped (as the SDK sends it), binary as
    base64, plus the operation's own headers and URL."""
    size = _OPERATION_OVERHEAD + 3 * sum(len(entity.get(key, "")) for key in _KEYS)
    for name, value in entity.items():
        size += 2 * len(name) + 40  # the name, and its "@odata.type" annotation
        if isinstance(value, str):
            size += len(json.dumps(value))
        elif isinstance(value, bytes):
            size += 4 * ((len(value) + 2) // 3) + 2
        else:
            size += 40
    return size


def entity_problem(entity: Entity) -> str | None:
    """Why the service (or Azurite) would refuse this entity, or None."""
    custom = [name for name in entity if name not in _KEYS]
    if len(custom) > MAX_CUSTOM_PROPERTIES:
        return f"{len(custom)} properties (the limit is {MAX_CUSTOM_PROPERTIES})"
    for name in custom:
        value = entity[name]
        if isinstance(value, str) and utf16_units(value) > MAX_STRING_UNITS:
            return f"property {name} of {utf16_units(value):,} characters (the limit is {MAX_STRING_UNITS:,})"
        if isinstance(value, bytes) and len(value) > BINARY_PART_BYTES:
            return f"property {name} of {len(value):,} bytes (the limit is {BINARY_PART_BYTES:,})"
    if entity_size(entity) > MAX_ENTITY_BYTES:
        return f"about {entity_size(entity):,} bytes stored (the limit is {MAX_ENTITY_BYTES:,})"
    if payload_size(entity) > MAX_ENTITY_PAYLOAD_BYTES:
        return f"about {payload_size(entity):,} bytes to send (the limit is {MAX_ENTITY_PAYLOAD_BYTES:,})"
    return None


def check_entity(entity: Entity) -> None:
    """Raise PayloadTooLargeError if the service would refuse this entity; Azurite would often accept it."""
    problem = entity_problem(entity)
    if problem:
        raise PayloadTooLargeError(f"Cannot store row {entity.get('RowKey')!r}: {problem}.")


def plan_batches(
    entities: Sequence[Entity],
    max_operations: int = MAX_BATCH_OPERATIONS,
    max_payload: int = MAX_BATCH_PAYLOAD_BYTES,
) -> list[list[Entity]]:
    """Group rows, in order, into transactions within the operation and payload limits."""
    batches: list[list[Entity]] = []
    current: list[Entity] = []
    current_bytes = 0
    for entity in entities:
        size = payload_size(entity)
        if current and (len(current) >= max_operations or current_bytes + size > max_payload):
            batches.append(current)
            current, current_bytes = [], 0
        current.append(entity)
        current_bytes += size
    if current:
        batches.append(current)
    return batches


def _partition_of(entities: Sequence[Entity]) -> str:
    partitions = {entity["PartitionKey"] for entity in entities}
    if len(partitions) != 1:
        raise ValueError(f"A batch must cover exactly one partition, got {sorted(partitions)!r}.")
    return partitions.pop()


async def upsert_rows(table: TableClient, entities: Sequence[Entity], concurrency: int = DEFAULT_CONCURRENCY) -> int:
    """Upsert rows of one partition, up to `concurrency` requests at once; return the number of requests.

    One row is a plain upsert: a transaction of one costs the SDK several times the CPU (multipart bodies built and
    parsed with the `email` package) for the same effect. More rows go in transactions, each atomic; across
    transactions a failure may leave some written, which is harmless because a retry rewrites them.
    """
    if not entities:
        return 0
    partition = _partition_of(entities)
    # A transaction may touch a row only once; of two rows with one key the last wins.
    entities = list({entity["RowKey"]: entity for entity in entities}.values())
    for entity in entities:
        check_entity(entity)
    try:
        if len(entities) == 1:
            await table.upsert_entity(entities[0], mode=UpdateMode.REPLACE)
            return 1
        return await _submit_all(table, plan_batches(entities), concurrency)
    except AzureError as error:
        raise StorageError(f"Writing {len(entities)} rows of partition {partition!r} failed: {error}") from error


async def delete_rows(table: TableClient, keys: Sequence[tuple[str, str]], concurrency: int = DEFAULT_CONCURRENCY
                      ) -> int:
    """Delete rows of one partition ((PartitionKey, RowKey) pairs), in transactions of up to 100; a row already gone
    is no error in a single delete (a transaction with a missing row fails as a whole: its rows are then deleted one
    by one). Returns the number of requests."""
    if not keys:
        return 0
    requests = 0
    for start in range(0, len(keys), MAX_BATCH_OPERATIONS):
        chunk = keys[start:start + MAX_BATCH_OPERATIONS]
        try:
            if len(chunk) == 1:
                await table.delete_entity(*chunk[0])
            else:
                await table.submit_transaction([("delete", {"PartitionKey": pk, "RowKey": rk}) for pk, rk in chunk])
            requests += 1
        except AzureError:
            for pk, rk in chunk:  # delete_entity ignores a row that is already gone
                try:
                    await table.delete_entity(pk, rk)
                except AzureError as error:
                    raise StorageError(f"Deleting row {rk!r} of partition {pk!r} failed: {error}") from error
                requests += 1
    return requests


async def _submit_all(table: TableClient, batches: list[list[Entity]], concurrency: int) -> int:
    """Submit the transactions concurrently; the first failure is raised as itself."""
    gate = asyncio.Semaphore(concurrency)

    async def submit(batch: list[Entity]) -> None:
        operations: list[Any] = [("upsert", entity, {"mode": UpdateMode.REPLACE}) for entity in batch]
        async with gate:
            await table.submit_transaction(operations)

    try:
        async with asyncio.TaskGroup() as group:
            for batch in batches:
                group.create_task(submit(batch))
    except ExceptionGroup as failures:
        raise failures.exceptions[0] from failures
    return len(batches)
