"""Log lines stored as pages: one details row holds up to 500 consecutive lines as compact JSON text.

Why pages and not one row per line: Azurite's cost per inserted row grows with the rows already in the partition,
and every batch transaction costs the Python SDK milliseconds of CPU (multipart via the `email` package). A page
turns 10,000 lines into about 20 rows, and a small execution's lines into one row written with a plain upsert.

Row layout (partition = execution id):
- head `log|{first:010d}`: `First`, `Last` (10-digit strings, so that a filter can compare them as sequences without
  Int32/Int64 typing), `Count`, `Rows` (how many rows the page spans) and the text in `Lines`, `Lines_1`, ... of at
  most 32,000 UTF-16 units each;
- continuation `log|{first:010d}|01`, `|02`, ...: the rest of a page too large for one row (one very long line), with
  `Last` too, so that every row of a page passes or fails the `after` filter together. Continuation rows beyond the
  head's `Rows` are leftovers of an earlier, longer write and are ignored.

The text is a JSON list of `[sequence, timestamp, level, logger, message, step_name, step_type]` arrays, trailing
nulls dropped. Duplicate sequences: one write keeps the last line given for a sequence; a page rewritten under the
same key replaces the earlier row (upsert); when pages written at different times hold the same sequence, the line
of the page written later (the row's server Timestamp, then RowKey order) wins. A re-run that logs fewer lines than
an earlier run leaves the earlier run's later pages visible.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.errors import StorageError
from shared.models import LogLine
from shared.storage.keys import LOG_PREFIX, MAX_SEQUENCE, RANGE_FILTER, log_row_key, parse_log_row_key, prefix_range
from shared.storage.packing import (
    LOG_TRUNCATION_SUFFIX,
    MAX_LOG_MESSAGE_UNITS,
    MAX_NAME_CHARS,
    pack_text,
    split_utf16,
    to_json_text,
    truncate_text,
    unpack_text,
    utf16_units,
)

Entity = dict[str, Any]

MAX_PAGE_LINES = 500
# JSON text per page and per row: 4 string properties. As sent, one unit costs at most 6 bytes (a non-ASCII
# character escaped as \uXXXX), so a row stays under 800 KB on the wire and about 256 KB stored.
PAGE_TEXT_UNITS = 128_000
AFTER_FILTER = RANGE_FILTER + " and Last gt @last"
_NEVER = datetime.min.replace(tzinfo=UTC)


def sequence_text(sequence: int) -> str:
    return f"{sequence:010d}"


def encode_line(line: LogLine) -> str:
    """One line as a compact JSON array; the message is cut at 262,144 units and the names at 1,024, with a suffix."""
    item: list[Any] = [
        line.sequence,
        truncate_text(line.timestamp, MAX_NAME_CHARS),
        truncate_text(line.level, MAX_NAME_CHARS),
        truncate_text(line.logger, MAX_NAME_CHARS),
        truncate_text(line.message, MAX_LOG_MESSAGE_UNITS, LOG_TRUNCATION_SUFFIX) or "",
        truncate_text(line.step_name, MAX_NAME_CHARS),
        truncate_text(line.step_type, MAX_NAME_CHARS),
    ]
    while item[-1] is None:
        item.pop()
    return to_json_text(item)


def pack_log_pages(execution_id: str, logs: Iterable[LogLine]) -> list[Entity]:
    """The rows of `logs` in sequence order: greedy pages of at most 500 lines and 128,000 units of text."""
    unique = {line.sequence: line for line in sorted(logs, key=lambda line: line.sequence)}  # the last one wins
    if unique and not (min(unique) >= 0 and max(unique) <= MAX_SEQUENCE):
        raise ValueError(f"Log sequences must be within 0..{MAX_SEQUENCE}; got {min(unique)}..{max(unique)}.")
    rows: list[Entity] = []
    for page in _group([(seq, encode_line(line)) for seq, line in unique.items()]):
        rows += _page_rows(execution_id, page)
    return rows


def _group(encoded: list[tuple[int, str]]) -> list[list[tuple[int, str]]]:
    pages: list[list[tuple[int, str]]] = []
    units = 0
    for item in encoded:
        size = utf16_units(item[1]) + 1  # and its comma
        if not pages or len(pages[-1]) >= MAX_PAGE_LINES or units + size > PAGE_TEXT_UNITS:
            pages.append([])
            units = 0
        pages[-1].append(item)
        units += size
    return pages


def _page_rows(execution_id: str, page: list[tuple[int, str]]) -> list[Entity]:
    first, last = page[0][0], page[-1][0]
    pieces = split_utf16("[" + ",".join(text for _, text in page) + "]", PAGE_TEXT_UNITS)
    rows: list[Entity] = [
        {"PartitionKey": execution_id, "RowKey": log_row_key(first, part), "Last": sequence_text(last)}
        | pack_text("Lines", piece)
        for part, piece in enumerate(pieces)
    ]
    rows[0].update(First=sequence_text(first), Count=len(page), Rows=len(pieces))
    return rows


def is_continuation(row: Entity) -> bool:
    """A row holding the rest of a page; written before its head when a write is not one atomic request."""
    return str(row["RowKey"]).startswith(LOG_PREFIX) and parse_log_row_key(row["RowKey"])[1] > 0


def log_query(execution_id: str, after: int | None) -> tuple[str, dict[str, Any]]:
    """Filter and parameters reading the pages that may hold lines after `after` (all pages when None)."""
    parameters: dict[str, Any] = {"pk": execution_id, **prefix_range(LOG_PREFIX)}
    if after is None or after < 0:
        return RANGE_FILTER, parameters
    return AFTER_FILTER, {**parameters, "last": sequence_text(min(after, MAX_SEQUENCE))}


def unpack_log_pages(rows: Sequence[Entity], after: int | None = None) -> list[LogLine]:
    """Lines of the pages in `rows` (any order) with sequence > `after`, sorted; the later-written page wins."""
    heads: list[Entity] = []
    parts: dict[tuple[int, int], Entity] = {}
    for row in rows:
        first, part = parse_log_row_key(row["RowKey"])
        if part:
            parts[(first, part)] = row
        else:
            heads.append(row)
    lines: dict[int, LogLine] = {}
    for head in sorted(heads, key=_written_order):
        for line in _page_lines(head, parts):
            lines[line.sequence] = line
    return [lines[seq] for seq in sorted(lines) if after is None or seq > after]


def _written_order(head: Entity) -> tuple[datetime, str]:
    """Server write time, then RowKey; rows that never went through storage have no Timestamp."""
    stamp = getattr(head, "metadata", {}).get("timestamp")
    return (stamp or _NEVER, head["RowKey"])


def _page_lines(head: Entity, parts: dict[tuple[int, int], Entity]) -> list[LogLine]:
    first, _ = parse_log_row_key(head["RowKey"])
    rows = [head] + [parts.get((first, part), {}) for part in range(1, int(head.get("Rows") or 1))]
    pieces = [unpack_text("Lines", row) for row in rows]
    try:
        if None in pieces:
            raise ValueError("a continuation row is missing")
        items = json.loads("".join(pieces))  # type: ignore[arg-type]
        if len(items) != int(head.get("Count", len(items))):
            raise ValueError(f"{len(items)} lines instead of {head.get('Count')}")
        return [_decode_line(item) for item in items]
    except (ValueError, TypeError, IndexError) as error:
        raise StorageError(f"The log page {head['RowKey']!r} is incomplete or damaged: {error}.") from error


def _decode_line(item: list[Any]) -> LogLine:
    sequence, timestamp, level, logger, message, *step = item
    step_name, step_type = [*step, None, None][:2]
    return LogLine(sequence, timestamp, level, logger, message, step_name, step_type)
