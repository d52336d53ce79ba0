"""Timer slot claims in Azure Table storage, so devhosts sharing one storage fire each timer slot once.

The real host makes the whole timer listener a singleton with a blob lease. devhost instead claims each scheduled
occurrence: inserting the row (PartitionKey = host id + function, RowKey = the slot's UTC time) succeeds for exactly
one instance, every other one gets 409 Conflict and skips the slot. There is no lease to renew or to wait out after
a crash — the next slot is simply claimed by whichever instance is alive.

A `runOnStartup` run is claimed the same way, in the row `startup` of the function's partition: the instance that
inserts it — or, once the last start-up run is older than `STARTUP_WINDOW`, replaces it under its ETag — fires; the
others skip. So hosts that start together (a scale-out, two terminals) fire it once, and a host started again later
fires it again, as a lone host does.
"""

from __future__ import annotations

import logging
import re
import socket
from datetime import UTC, datetime, timedelta

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from devhost.settings import IdentityConnection, close_service, storage_client_options, table_service

log = logging.getLogger("devhost.timers")

TABLE_NAME = "DevhostTimerSlots"
HOST_ID_SETTING = "AzureFunctionsWebHost__hostid"
KEEP_CLAIMS = timedelta(hours=1)
STARTUP_ROW = "startup"  # sorts after every slot key ("2024..."), so the purge of old slots never removes it
STARTUP_WINDOW = timedelta(seconds=30)  # hosts starting within this of the last start-up run do not fire it again
_KEY_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]")


def host_id(environ: dict[str, str]) -> str:
    """The host id that scopes locks (AzureFunctionsWebHost__hostid, else the machine name, as Core Tools does)."""
    raw = environ.get(HOST_ID_SETTING) or socket.gethostname()
    return _KEY_UNSAFE.sub("-", raw.lower())[:32] or "devhost"


def slot_key(slot: datetime) -> str:
    """A RowKey that sorts by time and has no characters Table keys forbid."""
    return slot.astimezone(UTC).strftime("%Y%m%dT%H%M%S.%fZ")


class SlotClaims:
    """Claims timer slots in one table; `claim` is True for the one instance that should fire the slot."""

    def __init__(self, connection: str | IdentityConnection, table_name: str = TABLE_NAME) -> None:
        self._service = table_service(connection, **storage_client_options("table"))
        self._table: TableClient = self._service.get_table_client(table_name)
        self._claims = 0

    async def open(self) -> None:
        await self._service.create_table_if_not_exists(self._table.table_name)

    async def close(self) -> None:
        await self._table.close()
        await close_service(self._service)

    async def claim(self, partition: str, slot: datetime, owner: str) -> bool:
        try:
            await self._table.create_entity(
                {"PartitionKey": partition, "RowKey": slot_key(slot), "Owner": owner, "ClaimedAt": datetime.now(UTC)}
            )
        except ResourceExistsError:
            return False
        self._claims += 1
        if self._claims % 100 == 1:
            await self._purge(partition, slot - KEEP_CLAIMS)
        return True

    async def claim_startup(self, partition: str, owner: str) -> str | None:
        """None if this instance should fire the start-up run; else who fired it, within STARTUP_WINDOW."""
        now = datetime.now(UTC)
        row = {"PartitionKey": partition, "RowKey": STARTUP_ROW, "Owner": owner, "ClaimedAt": now}
        try:
            await self._table.create_entity(row)
            return None
        except ResourceExistsError:
            pass
        try:
            last = await self._table.get_entity(partition, STARTUP_ROW)
        except ResourceNotFoundError:  # purged between the two calls: try once more from the start
            return await self.claim_startup(partition, owner)
        claimed_at = last.get("ClaimedAt")
        if isinstance(claimed_at, datetime) and now - claimed_at < STARTUP_WINDOW:
            return f"{last.get('Owner')} at {claimed_at.isoformat()}"
        try:
            await self._table.update_entity(
                row, mode=UpdateMode.REPLACE, etag=last.metadata["etag"], match_condition=MatchConditions.IfNotModified
            )
        except ResourceModifiedError:
            return "another instance starting at the same time"
        return None

    async def _purge(self, partition: str, before: datetime) -> None:
        """Drop old claims now and then so a frequent timer does not grow the table without bound."""
        rows = self._table.query_entities(
            "PartitionKey eq @pk and RowKey lt @rk",
            parameters={"pk": partition, "rk": slot_key(before)},
            select=["PartitionKey", "RowKey"],
        )
        async for row in rows:
            await self._table.delete_entity(row["PartitionKey"], row["RowKey"])
