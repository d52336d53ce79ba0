"""Idempotency keys of asynchronous submits: the same key in the same scope within the window names one execution.

Table `ConduitIdempotency`: PartitionKey = scope, RowKey = sha256 of the key in hex (a key may hold characters a
RowKey may not, and is not stored), with `ExecutionId` and `CreatedAt`. A claim:

- is created with `create_entity` (one request): the caller's submit goes ahead;
- when it exists, answers with the first execution's record if the claim is within the window and that record
  exists (2-3 requests);
- is taken over with an ETag-conditional replace when it has expired, or when its record does not exist and the claim
  is older than `grace` (the first submit failed between its claim and creating its record). A younger claim without
  a record is a submit still in progress: ConflictError (retry shortly), since taking it over would run both.
- A lost takeover race (412) reads the claim again and decides again: normally it answers with the winner's record.
"""

from __future__ import annotations

import hashlib
from collections.abc import Awaitable, Callable
from datetime import timedelta
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import AzureError, ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.errors import ConflictError, StorageError
from shared.models import ExecutionRecord, utc_now
from shared.storage.keys import validate_execution_id, validate_scope
from shared.storage.scalars import from_table_time

RecordReader = Callable[[str, str], Awaitable[ExecutionRecord | None]]
Entity = dict[str, Any]

_ATTEMPTS = 3


def key_hash(key: str) -> str:
    """The RowKey of an idempotency key."""
    if not isinstance(key, str) or not key:
        raise ValueError("An idempotency key must be a non-empty string.")
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class IdempotencyKeys:
    """Claims of idempotency keys; `read_record(scope, id)` reads the execution a claim names."""

    def __init__(self, table: TableClient, read_record: RecordReader) -> None:
        self._table = table
        self._read_record = read_record

    async def claim(
        self, scope: str, key: str, execution_id: str, *, window: timedelta, grace: timedelta
    ) -> ExecutionRecord | None:
        """None: `execution_id` now holds the key. A record: the execution that already holds it."""
        keys = {"PartitionKey": validate_scope(scope), "RowKey": key_hash(key)}
        validate_execution_id(execution_id)
        for _ in range(_ATTEMPTS):
            if await self._write(keys, execution_id):
                return None
            current = await self._read(keys)
            if current is None:
                continue  # removed in between: claim it afresh
            if current["ExecutionId"] == execution_id:
                return None  # a repeated claim by the same submit
            holder = await self._holder(scope, current, window, grace)
            if holder is not None:
                return holder
            if await self._write(keys, execution_id, etag=current.metadata["etag"]):
                return None
        raise ConflictError(f"The idempotency key kept changing in scope '{scope}'; retry the request.")

    async def _holder(self, scope: str, claim: Any, window: timedelta, grace: timedelta) -> ExecutionRecord | None:
        """The record to answer with; None when the claim may be taken over."""
        created = from_table_time(claim.get("CreatedAt"))
        age = utc_now() - created if created else window
        if age >= window:
            return None
        record = await self._read_record(scope, claim["ExecutionId"])
        if record is None and age < grace:
            raise ConflictError(
                "A request with this idempotency key is still being submitted; retry in a few seconds.",
                details={"execution_id": claim["ExecutionId"]},
            )
        return record

    async def _write(self, keys: Entity, execution_id: str, *, etag: str | None = None) -> bool:
        """Create the claim, or with `etag` replace the claim read with that ETag; False if someone was first."""
        entity = keys | {"ExecutionId": execution_id, "CreatedAt": utc_now()}
        try:
            if etag is None:
                await self._table.create_entity(entity, response_preference="return-no-content")
            else:
                await self._table.update_entity(
                    entity, mode=UpdateMode.REPLACE, etag=etag, match_condition=MatchConditions.IfNotModified
                )
        except (ResourceExistsError, ResourceModifiedError, ResourceNotFoundError):
            return False
        except AzureError as error:
            raise StorageError(f"Could not claim an idempotency key: {error}") from error
        return True

    async def _read(self, keys: Entity) -> Any:
        try:
            return await self._table.get_entity(keys["PartitionKey"], keys["RowKey"])
        except ResourceNotFoundError:
            return None
        except AzureError as error:
            raise StorageError(f"Could not read an idempotency key: {error}") from error
