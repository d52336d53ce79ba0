"""Table storage limits, and how values larger than one property are split so that they round-trip intact.

Two sizes matter for every entity: what Azure stores (strings 2 bytes per UTF-16 unit, binary as is; 1 MiB per
entity) and what goes over the wire (JSON with non-ASCII escaped as \\uXXXX, binary as base64), which Azurite limits
to 1 MiB per entity. JSON values (input, output, variables) are stored in one of three ways:

- small (<= 32,000 UTF-16 units of JSON text): one string property `InputData`;
- medium (<= 150,000 bytes of UTF-8): binary properties `InputData_0..n` with `InputDataParts = n`, same entity;
- large (<= 16 MiB of UTF-8): details rows `data|input|0000..` of up to 10 binary parts each; the record keeps
  `InputDataSpill = <row count>`, `InputDataBytes` and `InputDataSha256` to check the rows on read.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from typing import Any

from shared.errors import PayloadTooLargeError, StorageError
from shared.serialization import MAX_JSON_DEPTH, json_safe
from shared.storage.keys import data_row_key

MAX_STRING_UNITS = 32_000  # per string property; the service allows 32,768 UTF-16 code units (64 KiB)
BINARY_PART_BYTES = 64_000  # per binary property; the service allows 65,536 bytes
MAX_ENTITY_BYTES = 900_000  # estimated stored size; the service allows 1 MiB
MAX_ENTITY_PAYLOAD_BYTES = 1_000_000  # estimated JSON of one entity; Azurite refuses more than 1 MiB
MAX_CUSTOM_PROPERTIES = 252  # 255 including PartitionKey, RowKey and Timestamp
MAX_BATCH_OPERATIONS = 100
MAX_BATCH_PAYLOAD_BYTES = 3_670_016  # 3.5 MiB estimated; the service requires < 4 MiB
MAX_JSON_BYTES = 16 * 1024 * 1024  # documented maximum of input_data, output_data and variables (UTF-8 JSON)
MAX_LOG_MESSAGE_UNITS = 262_144  # per log line, in UTF-16 code units (emoji and other non-BMP characters count 2)
MAX_ERROR_MESSAGE_UNITS = 16_000  # per error message
MAX_SMALL_JSON_UNITS = 8_000  # trigger and caller
MAX_NAME_CHARS = 1_024  # workflow names and error types
INLINE_JSON_BYTES = 150_000  # a JSON value up to this size stays in the record (about 200 KB as base64)
SPILL_PARTS_PER_ROW = 10  # 640,000 bytes per spilled row, about 853 KB as base64

LOG_TRUNCATION_SUFFIX = "… [truncated: {n} more characters; the limit is {limit} characters per log line]"
STEP_TRUNCATION_SUFFIX = (
    "… [truncated: {n:,} of {total:,} characters cut; a step is stored with at most {limit:,} characters]"
)
TRUNCATION_SUFFIX = "… [truncated: {n} more characters; the limit is {limit} characters]"
# Worst case of one record, in wire bytes: 3 JSON values x 200 KB (input, output, and either variables — scripts
# only — or trigger_data — webhook workflows only, never both) + trigger and caller 2 x 48 KB + error message
# 96 KB + names 2 x 6 KB = about 810 KB, so the entity created and the outcome merged later stay within both limits.


@dataclass(frozen=True)
class JsonField:
    """A JSON-valued attribute of `ExecutionRecord` and where it lives in storage."""

    name: str  # attribute name, used in error messages
    prop: str  # property-name prefix in the record entity
    spill: str  # RowKey segment of its spilled rows


INPUT = JsonField("input_data", "InputData", "input")
OUTPUT = JsonField("output_data", "OutputData", "output")
VARIABLES = JsonField("variables", "Variables", "variables")
TRIGGER_DATA = JsonField("trigger_data", "TriggerData", "trigger")


@dataclass(frozen=True)
class PackedJson:
    """Properties to put on the record entity, and the details rows that must be written before it."""

    properties: dict[str, Any]
    spill_rows: list[dict[str, Any]]


def utf16_units(text: str) -> int:
    """Length as Table storage counts it: UTF-16 code units, not Python characters."""
    return len(text) if text.isascii() else len(text.encode("utf-16-le", "surrogatepass")) // 2


def split_utf16(text: str, max_units: int) -> list[str]:
    """Consecutive pieces of at most `max_units` UTF-16 units each, never splitting a surrogate pair."""
    if utf16_units(text) == len(text):
        return [text[i : i + max_units] for i in range(0, len(text), max_units)] or [""]
    parts, start, units = [], 0, 0
    for i, char in enumerate(text):
        width = 2 if ord(char) > 0xFFFF else 1
        if units + width > max_units:
            parts.append(text[start:i])
            start, units = i, 0
        units += width
    parts.append(text[start:])
    return parts


def pack_text(prop: str, text: str) -> dict[str, str]:
    """`prop`, `prop_1`, ... each within the string-property limit."""
    pieces = split_utf16(text, MAX_STRING_UNITS)
    return {prop if i == 0 else f"{prop}_{i}": piece for i, piece in enumerate(pieces)}


def unpack_text(prop: str, entity: dict[str, Any]) -> str | None:
    if prop not in entity:
        return None
    pieces, i = [entity[prop]], 1
    while f"{prop}_{i}" in entity:
        pieces.append(entity[f"{prop}_{i}"])
        i += 1
    return "".join(pieces)


def truncate_text(text: str | None, max_units: int, suffix: str = TRUNCATION_SUFFIX) -> str | None:
    """`text` cut at `max_units` plus `suffix.format(n=<characters cut>, limit=max_units)`; never silent."""
    if text is None or utf16_units(text) <= max_units:
        return text
    kept = split_utf16(text, max_units)[0]
    return kept + suffix.format(n=len(text) - len(kept), limit=max_units)


def to_json_text(value: Any) -> str:
    """Compact JSON; values JSON cannot represent (datetimes, sets, ...) are stored as their str()."""
    try:
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"), default=str, allow_nan=False)
    except ValueError:  # NaN/Infinity would be written as invalid JSON ({"f":NaN}): store them as "<nan>" strings
        return to_json_text(json_safe(value, max_depth=MAX_JSON_DEPTH))
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:  # lone surrogates: let JSON escape them so the text stays valid UTF-8
        text = json.dumps(value, separators=(",", ":"), default=str)
    return text


def pack_small_json(name: str, value: Any) -> str:
    """JSON that must stay small (trigger, caller); larger raises PayloadTooLargeError."""
    text = to_json_text(value if value is not None else {})
    units = utf16_units(text)
    if units > MAX_SMALL_JSON_UNITS:
        raise PayloadTooLargeError(
            f"{name} is {units:,} characters of JSON; the limit is {MAX_SMALL_JSON_UNITS:,}.",
            details={"field": name, "size": units, "limit": MAX_SMALL_JSON_UNITS},
        )
    return text


def pack_json(field: JsonField, value: Any, execution_id: str) -> PackedJson:
    """Choose string, inline binary parts or spilled rows for one JSON value; raise before anything is written."""
    if value is None:
        return PackedJson({}, [])
    text = to_json_text(value)
    if utf16_units(text) <= MAX_STRING_UNITS:
        return PackedJson({field.prop: text}, [])
    data = text.encode("utf-8")
    if len(data) > MAX_JSON_BYTES:
        raise PayloadTooLargeError(
            f"{field.name} is {len(data):,} bytes of JSON; the limit is {MAX_JSON_BYTES:,} bytes (16 MiB).",
            details={"field": field.name, "size": len(data), "limit": MAX_JSON_BYTES},
        )
    parts = [data[i : i + BINARY_PART_BYTES] for i in range(0, len(data), BINARY_PART_BYTES)]
    if len(data) <= INLINE_JSON_BYTES:
        props: dict[str, Any] = {f"{field.prop}_{i}": part for i, part in enumerate(parts)}
        props[f"{field.prop}Parts"] = len(parts)
        return PackedJson(props, [])
    rows = [
        _spill_row(execution_id, field, n, parts[i : i + SPILL_PARTS_PER_ROW])
        for n, i in enumerate(range(0, len(parts), SPILL_PARTS_PER_ROW))
    ]
    props = {f"{field.prop}Spill": len(rows), f"{field.prop}Bytes": len(data)}
    props[f"{field.prop}Sha256"] = hashlib.sha256(data).hexdigest()
    return PackedJson(props, rows)


def _spill_row(execution_id: str, field: JsonField, chunk: int, parts: list[bytes]) -> dict[str, Any]:
    row: dict[str, Any] = {"PartitionKey": execution_id, "RowKey": data_row_key(field.spill, chunk)}
    row.update({f"Part{i}": part for i, part in enumerate(parts)})
    row["Parts"] = len(parts)
    return row


def spill_count(field: JsonField, entity: dict[str, Any]) -> int:
    """How many details rows hold this field (0 when it is stored in the record itself)."""
    return int(entity.get(f"{field.prop}Spill") or 0)


def unpack_json(field: JsonField, entity: dict[str, Any], spill_rows: list[dict[str, Any]] | None = None) -> Any:
    """The value `pack_json` stored; `spill_rows` are this field's details rows."""
    if spill_count(field, entity):
        data = _join_spill(field, entity, spill_rows or [])
    elif entity.get(f"{field.prop}Parts"):
        data = b"".join(entity[f"{field.prop}_{i}"] for i in range(int(entity[f"{field.prop}Parts"])))
    elif field.prop in entity:
        return json.loads(entity[field.prop])
    else:
        return None
    return json.loads(data.decode("utf-8"))


def _join_spill(field: JsonField, entity: dict[str, Any], rows: list[dict[str, Any]]) -> bytes:
    count, expected = spill_count(field, entity), int(entity.get(f"{field.prop}Bytes") or 0)
    by_key = {row["RowKey"]: row for row in rows}
    # Only the first `count` rows belong to this value: an earlier, longer attempt may have left more behind.
    wanted = [by_key.get(data_row_key(field.spill, n)) for n in range(count)]
    data = b"".join(row[f"Part{i}"] for row in wanted if row for i in range(int(row["Parts"])))
    digest = entity.get(f"{field.prop}Sha256")
    if None in wanted or len(data) != expected or (digest and hashlib.sha256(data).hexdigest() != digest):
        raise StorageError(
            f"The stored {field.name} is incomplete or damaged: expected {expected:,} bytes, found {len(data):,}."
        )
    return data
