"""Execution records <-> table entities: what `create` writes, what `finish` and `update` merge, what `get` returns.

Kept apart from the store so that sizing can be checked (and tested) without storage: every entity is validated
and measured here, before any request is sent. The scalar fields and how "no value" is stored are in scalars.py.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from shared.models import ExecutionRecord, stored_owner_key
from shared.storage.batches import check_entity
from shared.storage.keys import validate_execution_id, validate_scope
from shared.storage.packing import (
    INPUT,
    MAX_NAME_CHARS,
    OUTPUT,
    TRIGGER_DATA,
    VARIABLES,
    JsonField,
    pack_json,
    pack_small_json,
    unpack_json,
)
from shared.storage.scalars import BY_ATTR, FIXED_WHEN_SET, SCALARS, UPDATABLE, as_int, decode_scalars, encode_scalars

Entity = dict[str, Any]

# What a list item needs (`ExecutionRecord.to_list_item`): no input, output, variables or caller.
LIGHT_COLUMNS = [
    "RowKey",
    "WorkflowName",
    "Status",
    "Trigger",
    "StartedAt",
    "CompletedAt",
    "DurationMs",
    "ErrorMessage",
    "CallerId",
    "CodeVersion",
]

# What `get(..., light=True)` reads: the keys, the name and every scalar field, none of the JSON values (which may
# be spilled to other rows): enough to check visibility, status, attempt and lease.
SCALAR_COLUMNS = ["PartitionKey", "RowKey", "WorkflowName", "LogCount", "CallerId",
                  *(scalar.prop for scalar in SCALARS)]


def record_entity(record: ExecutionRecord) -> tuple[Entity, list[Entity]]:
    """The whole record as written by `create`, and the spilled rows to write before it."""
    if len(record.workflow_name) > MAX_NAME_CHARS:
        raise ValueError(f"A workflow name must be at most {MAX_NAME_CHARS} characters.")
    entity, spilled = outcome_entity(record, (INPUT, OUTPUT, VARIABLES, TRIGGER_DATA), omit_none=True)
    entity.update(
        WorkflowName=record.workflow_name,
        Trigger=pack_small_json("trigger", record.trigger),
        Caller=pack_small_json("caller", record.caller),
    )
    form_id = form_of(record.trigger)
    if form_id is not None:
        entity["FormId"] = form_id
    kind = record.trigger.get("kind") if isinstance(record.trigger, Mapping) else None
    if isinstance(kind, str) and kind:
        entity["TriggerKind"] = kind[:MAX_NAME_CHARS]  # `?trigger=` is a server-side filter
    caller_id = caller_of(record.caller)
    if caller_id is not None:
        entity["CallerId"] = caller_id
    check_entity(entity)
    return entity, spilled


def form_of(trigger: Any) -> str | None:
    """The form a form submission's execution came from (`{"kind": "form", "form_id": ...}`), else None.

    Stored as a column of its own, written once with the record, so that `?form_id=` is a server-side filter
    (`FormId eq @form`) and costs no request beyond those every execution makes."""
    if isinstance(trigger, Mapping) and trigger.get("kind") == "form" and isinstance(trigger.get("form_id"), str):
        return str(trigger["form_id"])
    return None


def caller_of(caller: Any) -> str | None:
    """Whose execution it is (`Caller.owner_key`: kind and user id), as a column of its own written once with the
    record, so that "a user lists only their own executions" is a server-side filter (`CallerId eq @caller`) at no
    extra request."""
    return stored_owner_key(caller)


def outcome_entity(
    record: ExecutionRecord, fields: tuple[JsonField, ...] = (OUTPUT, VARIABLES), *, omit_none: bool = False
) -> tuple[Entity, list[Entity]]:
    """What `finish` merges into the record: every scalar field as given (None clears it, see scalars.py), the log
    count and the JSON fields. Each JSON field is bounded (see packing), so the merged entity is too."""
    entity: Entity = _keys(record)
    entity.update(encode_scalars({attr: getattr(record, attr) for attr in BY_ATTR}, omit_none=omit_none))
    for attr in FIXED_WHEN_SET:  # a finish never clears a pinned DAG version, whoever built the finished record
        if getattr(record, attr) is None:
            entity.pop(BY_ATTR[attr].prop, None)
    entity["LogCount"] = record.log_count
    spilled: list[Entity] = []
    for field in fields:
        packed = pack_json(field, getattr(record, field.name), record.id)
        entity.update(packed.properties)
        spilled += packed.spill_rows
    check_entity(entity)
    return entity, spilled


def update_entity(record: ExecutionRecord, changes: Mapping[str, Any]) -> Entity:
    """The MERGE of `ExecutionStore.update`: the keys and the changed scalar fields only."""
    unknown = sorted(set(changes) - UPDATABLE)
    if unknown:
        raise ValueError(
            f"update() cannot change {', '.join(unknown)}; it changes only {', '.join(sorted(UPDATABLE))}."
        )
    if not changes:
        raise ValueError("update() needs at least one field to change.")
    entity = _keys(record) | encode_scalars(changes)
    check_entity(entity)
    return entity


def _keys(record: ExecutionRecord) -> Entity:
    return {"PartitionKey": validate_scope(record.scope), "RowKey": validate_execution_id(record.id)}


def record_from_entity(entity: Any, spilled: dict[JsonField, list[Entity]]) -> ExecutionRecord:
    scalars = decode_scalars(entity)
    scalars["attempt"] = scalars["attempt"] or 1
    scalars["requeues"] = scalars["requeues"] or 0
    scalars["resumes"] = scalars["resumes"] or 0
    scalars["retries"] = scalars["retries"] or 0
    return ExecutionRecord(
        id=entity["RowKey"],
        scope=entity["PartitionKey"],
        workflow_name=entity.get("WorkflowName", ""),
        trigger=json.loads(entity.get("Trigger") or "{}"),
        caller=json.loads(entity.get("Caller") or "{}"),
        input_data=unpack_json(INPUT, entity, spilled.get(INPUT)),
        output_data=unpack_json(OUTPUT, entity, spilled.get(OUTPUT)),
        variables=unpack_json(VARIABLES, entity, spilled.get(VARIABLES)),
        trigger_data=unpack_json(TRIGGER_DATA, entity, spilled.get(TRIGGER_DATA)),
        log_count=as_int(entity.get("LogCount")) or 0,
        etag=entity.metadata["etag"],
        caller_id=entity.get("CallerId"),
        **scalars,
    )


def light_record_from_entity(entity: Any, scope: str) -> ExecutionRecord:
    """A record from the LIGHT_COLUMNS of a list query: enough for `to_list_item`, nothing else."""
    scalars = decode_scalars(entity, ("status", "started_at", "completed_at", "duration_ms", "error_message",
                                      "code_version"))
    return ExecutionRecord(
        id=entity["RowKey"],
        scope=scope,
        workflow_name=entity.get("WorkflowName", ""),
        trigger=json.loads(entity.get("Trigger") or "{}"),
        etag=entity.metadata["etag"],
        caller_id=entity.get("CallerId"),
        **scalars,
    )
