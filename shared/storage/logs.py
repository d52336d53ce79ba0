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
of the page written later (the row's server Timestamp, then RowKey order) wins. Each attempt of an execution has its
own pages (keys.py), so a takeover never mixes its lines with the attempt before it.

Reading is lazy (`collect_lines`): pages are decoded in RowKey order as they arrive, and a reader that wants only the
first `limit` matching lines stops asking for more pages once no later page can change them.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterable, Callable, Collection, Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

from shared.errors import StorageError
from shared.models import LogLine
from shared.storage.keys import (
    MAX_SEQUENCE,
    RANGE_FILTER,
    is_log_row_key,
    log_prefix,
    log_row_key,
    parse_log_row_key,
    prefix_range,
)
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


def pack_log_pages(
    execution_id: str, logs: Iterable[LogLine], attempt: int = 1, breaks: Collection[int] = ()
) -> list[Entity]:
    """The rows of `logs` in sequence order: greedy pages of at most 500 lines and 128,000 units of text, keyed
    for `attempt`; a page also starts at every sequence in `breaks` (see `LogCapture.flush_batches`)."""
    unique = {line.sequence: line for line in sorted(logs, key=lambda line: line.sequence)}  # the last one wins
    if unique and not (min(unique) >= 0 and max(unique) <= MAX_SEQUENCE):
        raise ValueError(f"Log sequences must be within 0..{MAX_SEQUENCE}; got {min(unique)}..{max(unique)}.")
    rows: list[Entity] = []
    for page in _group([(seq, encode_line(line)) for seq, line in unique.items()], breaks):
        rows += _page_rows(execution_id, page, attempt)
    return rows


def _group(encoded: list[tuple[int, str]], breaks: Collection[int] = ()) -> list[list[tuple[int, str]]]:
    pages: list[list[tuple[int, str]]] = []
    units = 0
    for item in encoded:
        size = utf16_units(item[1]) + 1  # and its comma
        if not pages or len(pages[-1]) >= MAX_PAGE_LINES or units + size > PAGE_TEXT_UNITS or item[0] in breaks:
            pages.append([])
            units = 0
        pages[-1].append(item)
        units += size
    return pages


def _page_rows(execution_id: str, page: list[tuple[int, str]], attempt: int) -> list[Entity]:
    first, last = page[0][0], page[-1][0]
    pieces = split_utf16("[" + ",".join(text for _, text in page) + "]", PAGE_TEXT_UNITS)
    rows: list[Entity] = [
        {"PartitionKey": execution_id, "RowKey": log_row_key(first, part, attempt), "Last": sequence_text(last)}
        | pack_text("Lines", piece)
        for part, piece in enumerate(pieces)
    ]
    rows[0].update(First=sequence_text(first), Count=len(page), Rows=len(pieces))
    return rows


def is_continuation(row: Entity) -> bool:
    """A row holding the rest of a page; written before its head when a write is not one atomic request."""
    key = str(row["RowKey"])
    return is_log_row_key(key) and parse_log_row_key(key)[1] > 0


def log_query(execution_id: str, after: int | None, attempt: int = 1) -> tuple[str, dict[str, Any]]:
    """Filter and parameters reading the pages of `attempt` that may hold lines after `after` (all when None)."""
    parameters: dict[str, Any] = {"pk": execution_id, **prefix_range(log_prefix(attempt))}
    if after is None or after < 0:
        return RANGE_FILTER, parameters
    return AFTER_FILTER, {**parameters, "last": sequence_text(min(after, MAX_SEQUENCE))}


def unpack_log_pages(rows: Sequence[Entity], after: int | None = None) -> list[LogLine]:
    """Lines of the pages in `rows` (any order) with sequence > `after`, sorted; the later-written page wins."""
    collector = LineCollector(after)
    for row in sorted(rows, key=lambda row: row["RowKey"]):
        collector.add(row)
    return collector.lines()


async def collect_lines(
    rows: AsyncIterable[Entity],
    after: int | None = None,
    keep: Callable[[LogLine], bool] | None = None,
    limit: int | None = None,
) -> list[LogLine]:
    """The first `limit` lines (all when None) with sequence > `after` that `keep` accepts, from rows arriving in
    RowKey order. Stops reading `rows` at the first page that cannot change the answer: a page starting after the
    `limit`-th line found (pages are keyed by their first sequence, so it holds only later lines)."""
    collector = LineCollector(after, keep)
    async for row in rows:
        first, part = parse_log_row_key(row["RowKey"])
        if not part and limit is not None and collector.settled(limit, first):
            break
        collector.add(row)
    return collector.lines(limit)


class LineCollector:
    """Decodes log pages one at a time as their rows arrive in RowKey order (a head, then its continuations)."""

    def __init__(self, after: int | None = None, keep: Callable[[LogLine], bool] | None = None) -> None:
        self._after = after
        self._keep = keep or (lambda line: True)
        self._lines: dict[int, tuple[tuple[datetime, str], LogLine]] = {}
        self._kept = 0  # how many of `_lines` `keep` accepts
        self._head: Entity | None = None
        self._parts: dict[tuple[int, int], Entity] = {}

    def add(self, row: Entity) -> None:
        first, part = parse_log_row_key(row["RowKey"])
        if part:
            self._parts[(first, part)] = row
            return
        self._close_page()
        self._head = row

    def settled(self, limit: int, next_first: int) -> bool:
        """True when no page starting at `next_first` or later can change the first `limit` kept lines."""
        self._close_page()
        if self._kept < limit:
            return False
        return next_first > self.lines(limit)[-1].sequence

    def lines(self, limit: int | None = None) -> list[LogLine]:
        """The kept lines so far, in sequence order, the first `limit` of them."""
        self._close_page()
        kept: list[LogLine] = []
        for sequence in sorted(self._lines):
            line = self._lines[sequence][1]
            if self._keep(line):
                kept.append(line)
                if limit is not None and len(kept) >= limit:
                    break
        return kept

    def _close_page(self) -> None:
        if self._head is None:
            return
        head, parts = self._head, self._parts
        self._head, self._parts = None, {}
        order = _written_order(head)
        for line in _page_lines(head, parts):
            self._put(order, line)

    def _put(self, order: tuple[datetime, str], line: LogLine) -> None:
        if self._after is not None and line.sequence <= self._after:
            return
        earlier = self._lines.get(line.sequence)
        if earlier is not None:
            if earlier[0] > order:
                return  # the line of the page written later wins
            self._kept -= self._keep(earlier[1])
        self._lines[line.sequence] = (order, line)
        self._kept += self._keep(line)


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
