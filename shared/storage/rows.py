"""Execution records <-> table entities: what `create` writes, what `finish` merges, and what `get` returns.

Kept apart from the store so that sizing can be checked (and tested) without storage: every entity is validated
and measured here, before any request is sent.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

from azure.data.tables import EdmType, EntityProperty

from shared.models import ExecutionRecord, ExecutionStatus
from shared.storage.batches import check_entity
from shared.storage.keys import validate_execution_id, validate_scope
from shared.storage.packing import (
    INPUT,
    MAX_ERROR_MESSAGE_UNITS,
    MAX_NAME_CHARS,
    OUTPUT,
    VARIABLES,
    JsonField,
    pack_json,
    pack_small_json,
    truncate_text,
    unpack_json,
)

Entity = dict[str, Any]


def record_entity(record: ExecutionRecord) -> tuple[Entity, list[Entity]]:
    """The whole record as written by `create`, and the spilled rows to write before it."""
    if len(record.workflow_name) > MAX_NAME_CHARS:
        raise ValueError(f"A workflow name must be at most {MAX_NAME_CHARS} characters.")
    entity, spilled = outcome_entity(record, (INPUT, OUTPUT, VARIABLES))
    entity.update(
        WorkflowName=record.workflow_name,
        Trigger=pack_small_json("trigger", record.trigger),
        Caller=pack_small_json("caller", record.caller),
        Attempt=record.attempt,
    )
    if record.started_at is not None:
        entity["StartedAt"] = _utc(record.started_at)
    check_entity(entity)
    return entity, spilled


def outcome_entity(
    record: ExecutionRecord, fields: tuple[JsonField, ...] = (OUTPUT, VARIABLES)
) -> tuple[Entity, list[Entity]]:
    """What `finish` merges into the record. Each JSON field is bounded (see packing), so the merged entity is too."""
    entity: Entity = {
        "PartitionKey": validate_scope(record.scope),
        "RowKey": validate_execution_id(record.id),
        "Status": ExecutionStatus(record.status).value,
        "ErrorMessage": truncate_text(record.error_message, MAX_ERROR_MESSAGE_UNITS),
        "ErrorType": truncate_text(record.error_type, MAX_NAME_CHARS),
        "CompletedAt": _utc(record.completed_at),
        "DurationMs": None if record.duration_ms is None else EntityProperty(record.duration_ms, EdmType.INT64),
        "LogCount": record.log_count,
    }
    spilled: list[Entity] = []
    for field in fields:
        packed = pack_json(field, getattr(record, field.name), record.id)
        entity.update(packed.properties)
        spilled += packed.spill_rows
    entity = {name: value for name, value in entity.items() if value is not None}
    check_entity(entity)
    return entity, spilled


def record_from_entity(entity: Any, spilled: dict[JsonField, list[Entity]]) -> ExecutionRecord:
    return ExecutionRecord(
        id=entity["RowKey"],
        scope=entity["PartitionKey"],
        workflow_name=entity.get("WorkflowName", ""),
        status=ExecutionStatus(entity["Status"]),
        trigger=json.loads(entity.get("Trigger") or "{}"),
        caller=json.loads(entity.get("Caller") or "{}"),
        input_data=unpack_json(INPUT, entity, spilled.get(INPUT)),
        output_data=unpack_json(OUTPUT, entity, spilled.get(OUTPUT)),
        variables=unpack_json(VARIABLES, entity, spilled.get(VARIABLES)),
        error_message=entity.get("ErrorMessage"),
        error_type=entity.get("ErrorType"),
        started_at=_from_table_time(entity.get("StartedAt")),
        completed_at=_from_table_time(entity.get("CompletedAt")),
        duration_ms=_int(entity.get("DurationMs")),
        log_count=_int(entity.get("LogCount")) or 0,
        attempt=_int(entity.get("Attempt")) or 1,
        etag=entity.metadata["etag"],
    )


def _utc(moment: datetime | None) -> datetime | None:
    """Timezone-aware UTC; a naive datetime is taken to be UTC already."""
    if moment is None:
        return None
    return moment.replace(tzinfo=UTC) if moment.tzinfo is None else moment.astimezone(UTC)


def _from_table_time(value: datetime | None) -> datetime | None:
    """A plain aware datetime instead of the SDK's TablesEntityDatetime subclass."""
    if value is None:
        return None
    return datetime(*value.timetuple()[:6], value.microsecond, tzinfo=UTC)


def _int(value: Any) -> int | None:
    """Int64 properties come back as EntityProperty(value, EdmType.INT64)."""
    return None if value is None else int(getattr(value, "value", value))
