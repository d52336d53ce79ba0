"""Records, outcomes and log lines for the storage tests, and raw reads that bypass the store."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import UTC, datetime, timedelta

from shared.models import ExecutionRecord, ExecutionStatus, LogLine, new_execution_id
from shared.storage import DETAILS_TABLE, EXECUTIONS_TABLE, open_tables


def new_record(**changes: object) -> ExecutionRecord:
    record = ExecutionRecord(
        id=new_execution_id(),
        scope=f"org-{uuid.uuid4()}",
        workflow_name="onboard_user",
        status=ExecutionStatus.RUNNING,
        trigger={"kind": "api", "method": "POST"},
        caller={"user_id": "u1", "email": "ana@example.com", "name": "Ana"},
        input_data={"email": "ana@example.com", "license": "e5"},
        started_at=datetime(2025, 1, 2, 3, 4, 5, 123456, tzinfo=UTC),
        attempt=1,  # details rows are keyed by attempt: the storage tests read attempt 1 unless they say otherwise
    )
    return replace(record, **changes)


def finished(record: ExecutionRecord, **changes: object) -> ExecutionRecord:
    done = replace(
        record,
        status=ExecutionStatus.SUCCESS,
        output_data={"user": "ana@example.com"},
        variables={"count": 3},
        completed_at=record.started_at + timedelta(seconds=2) if record.started_at else None,
        duration_ms=2000,
    )
    return replace(done, **changes)


def lines(count: int, message: str = "line {i}") -> list[LogLine]:
    return [
        LogLine(i, f"2025-01-02T03:04:{i % 60:02d}Z", "INFO", "conduit.test", message.format(i=i)) for i in range(count)
    ]


async def details_rows(connection_string: str, execution_id: str) -> list[dict]:
    async with open_tables(connection_string) as service, service.get_table_client(DETAILS_TABLE) as table:
        return [e async for e in table.query_entities("PartitionKey eq @pk", parameters={"pk": execution_id})]


async def raw_record(connection_string: str, record: ExecutionRecord) -> dict:
    async with open_tables(connection_string) as service, service.get_table_client(EXECUTIONS_TABLE) as table:
        return dict(await table.get_entity(record.scope, record.id))
