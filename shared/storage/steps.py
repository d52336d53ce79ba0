"""Steps of an execution as details rows `step|{execution_order:06d}`, one row per step (`a{attempt:03d}|step|...`
for an attempt after the first, see keys.py).

They live in the execution's details partition next to its log pages, so `finish` writes both in the same
transaction: a small execution's logs and steps cost one request together. A step is stored as compact JSON text in
`Step`, `Step_1`, ... (at most 128,000 UTF-16 units in all, so that the row stays within the entity limits even as
sent, with non-ASCII characters escaped). A larger step is stored cut, never refused: its largest values (usually
`output_data` or `input_data`) become the start of their JSON text followed by an explicit marker saying how much was
cut, and the step lists them in `truncated`. Refusing it would lose the whole execution's final write.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from typing import Any

from shared.errors import StorageError
from shared.storage.batches import check_entity
from shared.storage.keys import step_row_key
from shared.storage.packing import (
    STEP_TRUNCATION_SUFFIX,
    pack_text,
    split_utf16,
    to_json_text,
    unpack_text,
    utf16_units,
)

Entity = dict[str, Any]

MAX_STEP_UNITS = 128_000
_NEVER_CUT = frozenset({"execution_order", "attempt", "duration_ms", "truncated"})
_RESERVE = 2_000  # room for the `truncated` list and rounding


def pack_step_rows(execution_id: str, steps: Iterable[Mapping[str, Any]], attempt: int = 1) -> list[Entity]:
    """One row per step, keyed by its `execution_order` (and `attempt`); a step too large for a row is cut."""
    rows = [_step_row(execution_id, step, attempt) for step in steps]
    for row in rows:
        check_entity(row)
    return rows


def _step_row(execution_id: str, step: Mapping[str, Any], attempt: int) -> Entity:
    if "execution_order" not in step:
        raise ValueError(f"Every step needs an execution_order; got keys {sorted(step)!r}.")
    row_key = step_row_key(step["execution_order"], attempt)
    return {"PartitionKey": execution_id, "RowKey": row_key, **pack_text("Step", step_text(step))}


def step_text(step: Mapping[str, Any]) -> str:
    """The step as JSON of at most MAX_STEP_UNITS units: as given when it fits, else with its largest values cut."""
    text = to_json_text(dict(step))
    if utf16_units(text) <= MAX_STEP_UNITS:
        return text
    sizes = {key: utf16_units(to_json_text(value)) for key, value in step.items() if key not in _NEVER_CUT}
    budget = MAX_STEP_UNITS - _RESERVE - (utf16_units(text) - sum(sizes.values()))
    shares = _shares(sizes, budget)
    cut = sorted(key for key, share in shares.items() if sizes[key] > share)
    fitted = {**step, **{key: cut_value(step[key], shares[key]) for key in cut}, "truncated": cut}
    text = to_json_text(fitted)
    if utf16_units(text) > MAX_STEP_UNITS:  # only with absurdly many keys: keep the markers alone
        text = to_json_text({k: cut_value(v, 0) if k in sizes else v for k, v in step.items()} | {"truncated": True})
    return text


def _shares(sizes: dict[str, int], budget: int) -> dict[str, int]:
    """Split `budget` fairly: values smaller than an equal share keep their size, the rest share what is left."""
    shares: dict[str, int] = {}
    left, pending = max(budget, 0), sorted(sizes, key=lambda key: sizes[key])
    while pending:
        key = pending.pop(0)
        shares[key] = min(sizes[key], left // (len(pending) + 1))
        left -= shares[key]
    return shares


def cut_value(value: Any, units: int) -> str:
    """The start of `value` (its JSON text unless it is a string) plus the truncation marker, whose JSON encoding
    takes at most `units` (or only the marker, when even that is too small)."""
    text = value if isinstance(value, str) else to_json_text(value)
    total, keep = len(text), units
    while True:
        kept = split_utf16(text, keep)[0] if keep > 0 else ""
        cut = kept + STEP_TRUNCATION_SUFFIX.format(n=total - len(kept), total=total, limit=MAX_STEP_UNITS)
        size = utf16_units(to_json_text(cut))
        if size <= units or not kept:
            return cut
        keep = min(keep - 1, keep * units // size - len(STEP_TRUNCATION_SUFFIX))  # escaping made it longer


def unpack_steps(rows: Iterable[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The steps of rows read in RowKey order, which is execution order."""
    steps = []
    for row in rows:
        try:
            steps.append(json.loads(unpack_text("Step", dict(row)) or ""))
        except ValueError as error:
            raise StorageError(f"The step row {row.get('RowKey')!r} is damaged: {error}.") from error
    return steps
