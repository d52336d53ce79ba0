"""Steps of an execution as details rows `step|{execution_order:06d}`, one row per step.

They live in the execution's details partition next to its log pages, so `finish` writes both in the same
transaction: a small execution's logs and steps cost one request together. A step is stored as compact JSON text in
`Step`, `Step_1`, ... (at most 128,000 UTF-16 units in all, so that the row stays within the entity limits even as
sent, with non-ASCII characters escaped); a larger step is refused before anything is written, never cut.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from shared.errors import PayloadTooLargeError, StorageError
from shared.storage.batches import check_entity
from shared.storage.keys import step_row_key
from shared.storage.packing import pack_text, to_json_text, unpack_text, utf16_units

Entity = dict[str, Any]

MAX_STEP_UNITS = 128_000


def pack_step_rows(execution_id: str, steps: Iterable[Mapping[str, Any]]) -> list[Entity]:
    """One row per step, keyed by its `execution_order`; raises before anything is written."""
    rows = [_step_row(execution_id, step) for step in steps]
    for row in rows:
        check_entity(row)
    return rows


def _step_row(execution_id: str, step: Mapping[str, Any]) -> Entity:
    if "execution_order" not in step:
        raise ValueError(f"Every step needs an execution_order; got keys {sorted(step)!r}.")
    row_key = step_row_key(step["execution_order"])
    text = to_json_text(dict(step))
    if utf16_units(text) > MAX_STEP_UNITS:
        raise PayloadTooLargeError(
            f"Step {step['execution_order']} is {utf16_units(text):,} characters of JSON; "
            f"the limit is {MAX_STEP_UNITS:,} per step.",
            details={"field": "steps", "size": utf16_units(text), "limit": MAX_STEP_UNITS},
        )
    return {"PartitionKey": execution_id, "RowKey": row_key, **pack_text("Step", text)}


def unpack_steps(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The steps of rows read in RowKey order, which is execution order."""
    steps = []
    for row in rows:
        try:
            steps.append(json.loads(unpack_text("Step", dict(row)) or ""))
        except ValueError as error:
            raise StorageError(f"The step row {row.get('RowKey')!r} is damaged: {error}.") from error
    return steps
