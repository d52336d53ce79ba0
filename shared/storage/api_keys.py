"""API keys in Table storage: one row per key, found by a point read on the id the secret carries.

Table `ConduitKeys`: PartitionKey "key", RowKey = the key id (16 hex digits). A secret reads
`cdk_<key id>_<43 urlsafe characters>` (256 random bits): the id in it makes the lookup one point read, never a
scan, and the random part makes the secret unguessable. Only the SHA-256 of the whole secret is stored (column
`Hash`): a secret of 256 random bits cannot be brute-forced from its hash, so a fast hash is right — a slow password
hash would cost every request. Listing every key is one range read of the one partition; there are few keys
(they are made by admins), so an organization's admin's listing filters that partition on the server.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from azure.core.exceptions import ResourceExistsError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.storage.scalars import from_table_time
from shared.storage.tables import TableStore

KEYS_TABLE = "ConduitKeys"
PARTITION = "key"
SECRET_PREFIX = "cdk_"
_SECRET = re.compile(r"^cdk_([0-9a-f]{16})_[A-Za-z0-9_-]{43}$")


@dataclass(frozen=True)
class ApiKey:
    """A stored key: what it may do and who made it. `hash` is the SHA-256 of its secret (never the secret)."""

    id: str
    name: str
    org_id: str | None  # None: a global key
    workflows: tuple[str, ...] | None  # None: any workflow
    expires_at: datetime | None
    created_at: datetime
    created_by: str
    revoked: bool = False
    hash: str = ""
    last_used_at: datetime | None = None  # written at most once a minute per instance (identity/last_use.py)

    def expired(self, now: datetime) -> bool:
        return self.expires_at is not None and self.expires_at <= now

    def matches(self, secret: str) -> bool:
        """Whether `secret` is this key's, compared in constant time."""
        return hmac.compare_digest(secret_hash(secret), self.hash)

    def to_api(self) -> dict[str, Any]:
        """The key as `GET /api/keys` lists it: never its secret nor its hash."""
        return {
            "id": self.id,
            "name": self.name,
            "org_id": self.org_id,
            "workflows": list(self.workflows) if self.workflows is not None else None,
            "expires_at": _iso(self.expires_at),
            "created_at": _iso(self.created_at),
            "created_by": self.created_by,
            "revoked": self.revoked,
            "last_used_at": _iso(self.last_used_at),
        }


def new_secret() -> tuple[str, str]:
    """(key id, secret) for a new key."""
    key_id = secrets.token_hex(8)
    return key_id, f"{SECRET_PREFIX}{key_id}_{secrets.token_urlsafe(32)}"


def key_id_of(secret: str) -> str | None:
    """The key id a secret of Conduit's format carries, or None when it is not of that format."""
    match = _SECRET.match(secret)
    return match.group(1) if match else None


def secret_hash(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


class ApiKeyStore(TableStore):
    """Reads and writes API keys (ConduitKeys)."""

    TABLE = KEYS_TABLE

    async def get(self, key_id: str) -> ApiKey | None:
        """One point read; None when no key has this id."""
        try:
            entity = await self._table.get_entity(PARTITION, key_id)
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)

    async def create(self, key: ApiKey) -> ApiKey:
        try:
            await self._table.create_entity(_entity(key), response_preference="return-no-content")
        except ResourceExistsError:  # 64 random bits: only a retried create that already applied gets here
            stored = await self.get(key.id)
            if stored is None or stored.hash != key.hash:
                raise
        return key

    async def list(self, org_id: str | None = None, *, every: bool = False) -> list[ApiKey]:
        """Every key (`every`), else those of `org_id` (None: the global keys): one range read of the partition,
        the organization filtered on the server."""
        if every:
            query, parameters = "PartitionKey eq @pk", {"pk": PARTITION}
        elif org_id is None:
            query, parameters = "PartitionKey eq @pk and IsGlobal eq true", {"pk": PARTITION}
        else:
            query, parameters = "PartitionKey eq @pk and OrgId eq @org", {"pk": PARTITION, "org": org_id}
        rows = self._table.query_entities(query, parameters=parameters)
        keys = [_from_entity(entity) async for entity in rows]
        return sorted(keys, key=lambda key: (key.created_at, key.id))

    async def revoke(self, key_id: str) -> None:
        """Mark a key revoked (a MERGE: the row stays, listed as revoked)."""
        entity = {"PartitionKey": PARTITION, "RowKey": key_id, "Revoked": True}
        await self._table.update_entity(entity, mode=UpdateMode.MERGE)


    async def record_use(self, key_id: str, when: datetime) -> None:
        """MERGE the key's `LastUsedAt` (one request; the batching is the caller's, see identity/last_use.py)."""
        entity = {"PartitionKey": PARTITION, "RowKey": key_id, "LastUsedAt": when}
        await self._table.update_entity(entity, mode=UpdateMode.MERGE)


def _entity(key: ApiKey) -> dict[str, Any]:
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": key.id,
        "Name": key.name,
        "IsGlobal": key.org_id is None,
        "Workflows": json.dumps(list(key.workflows)) if key.workflows is not None else None,
        "CreatedAt": key.created_at,
        "CreatedBy": key.created_by,
        "Revoked": key.revoked,
        "Hash": key.hash,
    }
    if key.org_id is not None:
        entity["OrgId"] = key.org_id
    if key.expires_at is not None:
        entity["ExpiresAt"] = key.expires_at
    return {name: value for name, value in entity.items() if value is not None}


def _from_entity(entity: Any) -> ApiKey:
    workflows = entity.get("Workflows")
    expires = entity.get("ExpiresAt")
    return ApiKey(
        id=entity["RowKey"],
        name=entity.get("Name", ""),
        org_id=entity.get("OrgId"),
        workflows=tuple(json.loads(workflows)) if workflows else None,
        expires_at=from_table_time(expires),
        created_at=stored_time(entity.get("CreatedAt")),
        created_by=entity.get("CreatedBy", ""),
        revoked=bool(entity.get("Revoked", False)),
        hash=entity.get("Hash", ""),
        last_used_at=from_table_time(entity.get("LastUsedAt")),
    )


def stored_time(value: Any) -> datetime:
    """A time column that every row has (rows written by hand without it read as the epoch)."""
    return from_table_time(value) or datetime.fromtimestamp(0, UTC)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat().replace("+00:00", "Z") if value is not None else None
