"""Config values and secrets in Table storage: one row per key, one partition per scope.

Table `ConduitConfig`: PartitionKey = the scope (an organization id, or GLOBAL for values every organization falls
back to), RowKey = the key. A row holds `Type` (string, int, bool, json, secret) and `Value`: the value as JSON text,
or, for a secret, its Fernet token (secret_box.py) — the plaintext of a secret is never written. So a scope's whole
config is one partition read, which is what workflows' reads are cached by (shared/engine/config.py).

Every row also says who wrote it last and when (`UpdatedBy`, `UpdatedAt`), for the admins listing it.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from azure.core import MatchConditions
from azure.core.exceptions import ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableServiceClient

from shared.errors import StaleRecordError
from shared.models import utc_now
from shared.storage.account import StorageAccount
from shared.storage.clients import REQUEST, RequestCounter, StorageProfile, open_tables
from shared.storage.keys import key_problem
from shared.storage.secret_box import SecretBox
from shared.storage.tables import TableStore

CONFIG_TABLE = "ConduitConfig"
ConfigType = Literal["string", "int", "bool", "json", "secret"]
CONFIG_TYPES: tuple[ConfigType, ...] = ("string", "int", "bool", "json", "secret")
SECRET: ConfigType = "secret"
MAX_VALUE_CHARS = 32_000  # JSON text of a value: one string property (64 KiB = 32,768 UTF-16 units)
MAX_SECRET_CHARS = 16_000  # a Fernet token is ~4/3 of the plaintext plus 100 characters: it still fits one property
# A read the event loop waits for (an async workflow's first get_config of a cold scope; engine/config.py): the whole
# operation, one retry included, within 2 s, so storage trouble holds every other execution of the loop that long
# at most. A partition read normally answers in tens of milliseconds.
BLOCKING_READ = StorageProfile("config-blocking-read", 1.0, 1.5, 1, 0.1, 0.2, 2.0)
_PARTITION_FILTER = "PartitionKey eq @pk"
_SECRETS_FILTER = "Type eq @type"


@dataclass(frozen=True)
class ConfigEntry:
    """One stored value: its decoded `value`, or for a secret only its `token` (decrypt with a SecretBox)."""

    scope: str
    key: str
    type: ConfigType
    value: Any = None
    token: str | None = None
    updated_by: str | None = None
    updated_at: datetime | None = None
    etag: str | None = None

    @property
    def is_secret(self) -> bool:
        return self.type == SECRET


class ConfigStore(TableStore):
    """Reads and writes config rows (ConduitConfig)."""

    TABLE = CONFIG_TABLE

    def __init__(
        self, service: TableServiceClient, account: StorageAccount | None = None, table: str = CONFIG_TABLE
    ) -> None:
        super().__init__(service, table)
        self.account = account  # kept so a reader can open a client of its own on another loop (engine/config.py)
        self.counter: RequestCounter | None = None

    @classmethod
    def open(  # type: ignore[override]  # it also takes the table, and keeps the account for other loops
        cls, account: StorageAccount, *, counter: RequestCounter | None = None, table: str = CONFIG_TABLE,
        profile: StorageProfile | None = None,
    ) -> ConfigStore:
        store = cls(open_tables(account, counter=counter, profile=profile or REQUEST), account, table)
        store.counter = counter
        return store

    @classmethod
    def from_connection_string(cls, connection_string: str, *, table: str = CONFIG_TABLE) -> ConfigStore:
        return cls.open(StorageAccount.from_connection_string(connection_string), table=table)

    async def __aenter__(self) -> ConfigStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    async def list(self, scope: str) -> list[ConfigEntry]:
        """Every value of a scope, in key order: one partition range read."""
        if key_problem(scope):
            return []
        pages = self._table.query_entities(_PARTITION_FILTER, parameters={"pk": scope})
        return [_from_entity(entity) async for entity in pages]

    async def get(self, scope: str, key: str) -> ConfigEntry | None:
        """One point read; None when the scope has no such key (or it could not be a key)."""
        if key_problem(key) or key_problem(scope):
            return None
        try:
            return _from_entity(await self._table.get_entity(scope, key))
        except ResourceNotFoundError:
            return None

    async def put(
        self, scope: str, key: str, type_: ConfigType, value: Any, updated_by: str | None, box: SecretBox
    ) -> ConfigEntry:
        """Create or replace `key` in `scope`. A secret is encrypted first (refused without a key), so its plaintext
        never reaches storage; other values are stored as JSON text."""
        for what, text in (("key", key), ("scope", scope)):
            problem = key_problem(text)
            if problem:
                raise ValueError(f"Invalid config {what} {text!r}: it {problem}.")
        stored = box.encrypt(value) if type_ == SECRET else _json(value)
        now = utc_now()
        entity = {"PartitionKey": scope, "RowKey": key, "Type": type_, "Value": stored,
                  "UpdatedBy": updated_by or "", "UpdatedAt": now}
        response = await self._table.upsert_entity(entity, mode=UpdateMode.REPLACE)
        token, plain = (stored, None) if type_ == SECRET else (None, value)
        return ConfigEntry(scope, key, type_, plain, token, updated_by, now, response.get("etag"))

    async def delete(self, scope: str, key: str) -> bool:
        """Delete `key` from `scope`; False when there was none."""
        if await self.get(scope, key) is None:
            return False
        await self._table.delete_entity(scope, key)
        return True

    async def secrets(self) -> AsyncIterator[ConfigEntry]:
        """Every stored secret of every scope (for re-encryption: the one reader that visits the whole table)."""
        async for entity in self._table.query_entities(_SECRETS_FILTER, parameters={"type": SECRET}):
            yield _from_entity(entity)

    async def replace_token(self, entry: ConfigEntry, token: str) -> ConfigEntry:
        """Store a re-encrypted token, only if the row is still the version `entry` was read as (StaleRecordError
        otherwise: an admin changed or deleted it meanwhile, and that change must not be lost)."""
        entity = {"PartitionKey": entry.scope, "RowKey": entry.key, "Value": token}
        try:
            response = await self._table.update_entity(entity, mode=UpdateMode.MERGE, etag=entry.etag,
                                                       match_condition=MatchConditions.IfNotModified)
        except (ResourceModifiedError, ResourceNotFoundError):
            raise StaleRecordError(f"Config '{entry.key}' of {entry.scope} changed while being re-encrypted.") from None
        return ConfigEntry(entry.scope, entry.key, entry.type, None, token, entry.updated_by, entry.updated_at,
                           response.get("etag"))


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, separators=(",", ":"), allow_nan=False)


def _from_entity(entity: Any) -> ConfigEntry:
    type_ = entity.get("Type", "string")
    raw = entity.get("Value", "")
    updated_at = entity.get("UpdatedAt")
    common = {"updated_by": entity.get("UpdatedBy") or None, "updated_at": updated_at if isinstance(
        updated_at, datetime) else None, "etag": entity.metadata.get("etag")}
    if type_ == SECRET:
        return ConfigEntry(entity["PartitionKey"], entity["RowKey"], SECRET, None, raw, **common)
    return ConfigEntry(entity["PartitionKey"], entity["RowKey"], type_, json.loads(raw) if raw else None, **common)
