"""DAG definitions created through the API: versioned, per scope, each version immutable once written.

Table `ConduitDags`: PartitionKey = the owning scope (an organization id, or GLOBAL for a DAG every organization
sees). Per DAG name:

- a head row, RowKey = the name: the current version number, its definition, and who created and last changed it;
- one row per version, RowKey = `<name>|v000001` ... (sortable, so a DAG's versions are one range read), never
  changed or deleted: an execution pins the version it started with and reads exactly that one, even after a change
  or a delete.

A create or an update writes the head and the new version row in one transaction (same partition): both or
neither. An update is conditional on the ETag of the head it read, and the new version row must not exist yet, so of
two concurrent updates exactly one wins; the other gets ConflictError (409) and nothing of it is written. A delete
removes the head only; creating the name again goes on from the highest stored version.

Definitions are JSON text split over string properties (packing.pack_text): the definition limit (256 KiB,
shared.dag.definition) is far above one property's 64 KiB.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any
from urllib.parse import quote

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import TableTransactionError, UpdateMode

from shared.errors import ConflictError, DagNotFoundError, PreconditionFailedError
from shared.models import utc_now
from shared.storage.batches import check_entity
from shared.storage.keys import key_problem
from shared.storage.packing import pack_text, unpack_text
from shared.storage.scalars import as_int, from_table_time
from shared.storage.tables import TableStore

DAGS_TABLE = "ConduitDags"
HEAD = "head"
VERSION = "version"
_DEFINITION = "Definition"
_HEADS_FILTER = "PartitionKey eq @pk and Kind eq @kind"
_SUMMARY_COLUMNS = ["PartitionKey", "Kind", "Name", "Version", "Description", "CreatedAt", "CreatedBy", "UpdatedAt",
                    "UpdatedBy"]
_RANGE_FILTER = "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"


@dataclass(frozen=True)
class StoredDag:
    """One version of a stored DAG (the current one, when read from the head, which alone has an ETag)."""

    scope: str
    name: str
    version: int
    definition: dict[str, Any]
    created_at: datetime | None
    created_by: str | None
    updated_at: datetime | None
    updated_by: str | None
    etag: str | None = None
    description: str = ""


def head_key(name: str) -> str:
    return quote(name, safe="")


def version_key(name: str, version: int) -> str:
    return f"{head_key(name)}|v{version:06d}"


class DagStore(TableStore):
    """Reads and writes stored DAGs (ConduitDags)."""

    TABLE = DAGS_TABLE

    async def get(self, scope: str, name: str) -> StoredDag | None:
        """The current version (the head row): one point read; None when the scope has no such DAG."""
        return await self._read(scope, head_key(name), name)

    async def get_version(self, scope: str, name: str, version: int) -> StoredDag | None:
        """Exactly `version` (it outlives changes and the DAG's deletion): one point read."""
        return await self._read(scope, version_key(name, version), name)

    async def current_version(self, scope: str, name: str) -> int | None:
        """The current version number only (a point read of one column): what a run by name needs when its
        version is already in memory (versions never change, so a process caches them)."""
        if key_problem(scope) or key_problem(head_key(name)):
            return None
        try:
            entity = await self._table.get_entity(scope, head_key(name), select=["Version"])
        except ResourceNotFoundError:
            return None
        return as_int(entity.get("Version"))

    async def versions(self, scope: str, name: str) -> list[int]:
        """Every version number stored for `name`, oldest first (one range read of keys only)."""
        if key_problem(scope) or key_problem(head_key(name)):
            return []
        low, high = f"{head_key(name)}|v", f"{head_key(name)}|w"
        rows = self._table.query_entities(_RANGE_FILTER, parameters={"pk": scope, "lo": low, "hi": high},
                                          select=["RowKey", "Version"])
        return sorted([as_int(row["Version"]) or 0 async for row in rows])

    async def create(self, scope: str, name: str, definition: dict[str, Any], by: str | None) -> StoredDag:
        """Store a new DAG at the version after the highest ever stored for its name (1 the first time).
        ConflictError when the scope already has a DAG of this name (or another create won the race)."""
        known = await self.versions(scope, name)
        version = (known[-1] if known else 0) + 1
        now = utc_now()
        stored = StoredDag(scope, name, version, definition | {"version": version}, now, by, now, by,
                           description=str(definition.get("description") or ""))
        try:
            response = await self._table.submit_transaction([
                ("create", _entity(stored, HEAD)),
                ("create", _entity(stored, VERSION)),
            ])
        except TableTransactionError as error:
            _raise_unless_lost_race(error)
            raise ConflictError(
                f"A DAG named '{name}' already exists here; change it with PUT /api/dags/{name}.",
                details={"name": name},
            ) from None
        return _with_etag(stored, response)

    async def update(
        self, scope: str, name: str, definition: dict[str, Any], by: str | None, if_match: str | None = None
    ) -> StoredDag:
        """Store `definition` as the next version and make it current. `if_match` (an ETag of the head, `*` or
        None for whatever is current) that no longer names the head: PreconditionFailedError (412). A concurrent
        update that got there first: ConflictError (409). Nothing is written in either case."""
        head = await self.get(scope, name)
        if head is None:
            raise DagNotFoundError(name)
        if if_match and if_match != "*" and if_match != head.etag:
            raise _stale(name, if_match)
        version = head.version + 1
        stored = StoredDag(scope, name, version, definition | {"version": version}, head.created_at,
                           head.created_by, utc_now(), by, description=str(definition.get("description") or ""))
        conditional = {"mode": UpdateMode.REPLACE, "etag": head.etag, "match_condition": MatchConditions.IfNotModified}
        try:
            response = await self._table.submit_transaction([
                ("update", _entity(stored, HEAD), conditional),
                ("create", _entity(stored, VERSION)),
            ])
        except TableTransactionError as error:
            _raise_unless_lost_race(error)
            raise ConflictError(
                f"DAG '{name}' was changed by another request while this one was saved (version {version} exists "
                "now); nothing of this change was written. GET it again and apply your change to the new version.",
                details={"name": name, "version": head.version},
            ) from None
        return _with_etag(stored, response)

    async def delete(self, scope: str, name: str, if_match: str | None = None) -> None:
        """Remove the DAG (its head); its versions stay for the executions that run them."""
        head = await self.get(scope, name)
        if head is None:
            raise DagNotFoundError(name)
        if if_match and if_match != "*" and if_match != head.etag:
            raise _stale(name, if_match)
        options: dict[str, Any] = {}
        if if_match and if_match != "*":
            options = {"etag": head.etag, "match_condition": MatchConditions.IfNotModified}
        try:
            await self._table.delete_entity(scope, head_key(name), **options)
        except ResourceModifiedError:
            raise _stale(name, if_match) from None

    async def list(self, scope: str) -> list[StoredDag]:
        """The current version of every DAG the scope owns, by name (one partition read of head rows), without
        their definitions (`definition` is empty; GET one for it): a listing stays small however large they are."""
        rows = self._table.query_entities(_HEADS_FILTER, parameters={"pk": scope, "kind": HEAD},
                                          select=_SUMMARY_COLUMNS)
        return [_from_entity(row) async for row in rows]

    async def _read(self, scope: str, row_key: str, name: str) -> StoredDag | None:
        if key_problem(scope) or key_problem(row_key):
            return None
        try:
            entity = await self._table.get_entity(scope, row_key)
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)


def _raise_unless_lost_race(error: TableTransactionError) -> None:
    """A transaction refused because its rows exist (409) or the head changed (412) lost a race; anything else
    (storage trouble) is raised as it is."""
    if error.status_code not in (409, 412):
        raise error


def _stale(name: str, if_match: str | None) -> PreconditionFailedError:
    return PreconditionFailedError(
        f"DAG '{name}' was changed since you read it (your If-Match no longer matches); GET it again, apply your "
        "change to the current version and send that version's ETag.",
        details={"name": name, "if_match": if_match},
    )


def _entity(stored: StoredDag, kind: str) -> dict[str, Any]:
    text = json.dumps(stored.definition, ensure_ascii=False, separators=(",", ":"), allow_nan=False)
    row_key = head_key(stored.name) if kind == HEAD else version_key(stored.name, stored.version)
    entity: dict[str, Any] = {
        "PartitionKey": stored.scope,
        "RowKey": row_key,
        "Kind": kind,
        "Name": stored.name,
        "Version": stored.version,
        "Description": stored.description,
        "CreatedAt": stored.created_at,  # when the DAG was created; Updated*: when (and by whom) this version was
        "CreatedBy": stored.created_by or "",
        "UpdatedAt": stored.updated_at,
        "UpdatedBy": stored.updated_by or "",
    }
    entity |= pack_text(_DEFINITION, text)
    check_entity(entity)
    return entity


def _from_entity(entity: Any) -> StoredDag:
    text = unpack_text(_DEFINITION, entity)
    return StoredDag(
        scope=entity["PartitionKey"],
        name=entity["Name"],
        version=as_int(entity["Version"]) or 0,
        definition=json.loads(text) if text else {},
        created_at=from_table_time(entity.get("CreatedAt")),
        created_by=entity.get("CreatedBy") or None,
        updated_at=from_table_time(entity.get("UpdatedAt")),
        updated_by=entity.get("UpdatedBy") or None,
        etag=entity.metadata["etag"] if entity.get("Kind") == HEAD else None,
        description=entity.get("Description") or "",
    )


def _with_etag(stored: StoredDag, response: list[Any]) -> StoredDag:
    """The stored head with the ETag the transaction answered for it (its first operation)."""
    etag = response[0].get("etag") if response and isinstance(response[0], dict) else None
    return replace(stored, etag=etag)
