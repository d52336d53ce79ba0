"""Watches the execution records while the run goes on, to catch a terminal record that changes afterwards.

Every couple of seconds it reads the records written since its last look (a server-side filter on the row's
Timestamp, with a margin), and remembers for each execution the first terminal version it saw (status, ETag, when).
A terminal record that shows up again with another ETag was written again after it finished: overwritten, or
finished twice when its status changed too. Storage being down only delays a look.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from azure.core.exceptions import AzureError
from azure.data.tables.aio import TableClient

EXECUTIONS_TABLE = "ConduitExecutions"
TERMINAL = frozenset({"Success", "Failed", "Timeout", "Cancelled", "CompletedWithErrors"})
COLUMNS = ["PartitionKey", "RowKey", "Status", "Attempt", "CompletedAt", "StartedAt", "ErrorType", "ErrorMessage",
           "WorkflowName", "LeaseOwner"]
_MARGIN = timedelta(seconds=3)


@dataclass(frozen=True)
class Seen:
    """One version of a record as read."""

    status: str
    etag: str
    completed_at: datetime | None
    seen_at: float  # time.time() of the read

    @classmethod
    def of(cls, entity: Any, seen_at: float) -> Seen:
        completed = entity.get("CompletedAt")
        return cls(str(entity.get("Status")), str(entity.metadata["etag"]),
                   completed if isinstance(completed, datetime) else None, seen_at)


@dataclass
class Rewrite:
    """A terminal record that was written again."""

    execution_id: str
    first: Seen
    later: Seen

    @property
    def status_changed(self) -> bool:
        return self.first.status != self.later.status


@dataclass
class Observer:
    """Latest status of every record, the first terminal version of each, and the rewrites found."""

    connection_string: str
    interval: float = 2.0
    latest: dict[str, Seen] = field(default_factory=dict)
    first_terminal: dict[str, Seen] = field(default_factory=dict)
    rewrites: list[Rewrite] = field(default_factory=list)
    looks: int = 0
    failed_looks: int = 0
    _since: datetime | None = None

    def note(self, execution_id: str, seen: Seen) -> None:
        previous = self.latest.get(execution_id)
        self.latest[execution_id] = seen
        first = self.first_terminal.get(execution_id)
        if first is not None:
            if seen.etag != first.etag and (previous is None or previous.etag != seen.etag):
                self.rewrites.append(Rewrite(execution_id, first, seen))
        elif seen.status in TERMINAL:
            self.first_terminal[execution_id] = seen

    async def look(self, table: TableClient) -> None:
        started = datetime.now(UTC)
        query = "Timestamp ge @since and RowKey lt '~'" if self._since else "RowKey lt '~'"  # not idempotency rows
        parameters = {"since": self._since - _MARGIN} if self._since else {}
        now = time.time()
        rows = [row async for row in table.query_entities(query, parameters=parameters, select=COLUMNS)]
        for row in rows:
            self.note(str(row["RowKey"]), Seen.of(row, now))
        self._since = started
        self.looks += 1

    async def watch(self, stop: asyncio.Event) -> None:
        async with TableClient.from_connection_string(self.connection_string, EXECUTIONS_TABLE) as table:
            while not stop.is_set():
                try:
                    await self.look(table)
                except (AzureError, OSError):
                    self.failed_looks += 1
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), self.interval)

    async def look_now(self) -> None:
        """One more look, outside the watch loop (the final state before the checks)."""
        async with TableClient.from_connection_string(self.connection_string, EXECUTIONS_TABLE) as table:
            await self.look(table)

    def statuses(self) -> dict[str, str]:
        return {execution_id: seen.status for execution_id, seen in self.latest.items()}
