"""Log pages without storage: grouping, sizing as stored and as sent, continuation rows, duplicates, `after`."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from shared.errors import StorageError
from shared.models import LogLine
from shared.storage.batches import check_entity, plan_batches
from shared.storage.logs import MAX_PAGE_LINES, log_query, pack_log_pages, unpack_log_pages
from shared.storage.packing import MAX_BATCH_OPERATIONS

SUFFIX = "… [truncated: 37856 more characters; the limit is 262144 characters per log line]"


def lines(count: int, start: int = 0, message: str = "line {i}") -> list[LogLine]:
    return [LogLine(i, "2025-01-02T03:04:05Z", "INFO", "test", message.format(i=i)) for i in range(start, count)]


class StoredRow(dict):
    """A row as a query returns it: with the server's write time in `metadata`."""

    def __init__(self, row: dict, written: int) -> None:
        super().__init__(row)
        self.metadata = {"timestamp": datetime(2025, 1, 1, 0, 0, written, tzinfo=UTC)}


def test_ten_thousand_short_lines_make_twenty_pages_in_one_transaction():
    # Given 10,000 short lines with every field set on some of them
    logs = [
        LogLine(i, "t", "INFO", "l", f"line {i}", "step" if i % 3 == 0 else None, "task" if i % 3 == 0 else None)
        for i in range(10_000)
    ]
    # When they are packed
    rows = pack_log_pages("e", logs)
    # Then they fill pages of 500 lines, keyed by their first sequence, which fit one transaction
    assert len(rows) == 10_000 // MAX_PAGE_LINES
    assert [r["RowKey"] for r in rows[:2]] == ["log|0000000000", "log|0000000500"]
    head = rows[0]
    assert (head["First"], head["Last"], head["Count"], head["Rows"]) == ("0000000000", "0000000499", 500, 1)
    assert len(plan_batches(rows)) == 1 and len(rows) <= MAX_BATCH_OPERATIONS
    # And they read back identical, in order
    assert unpack_log_pages(rows) == logs


@pytest.mark.parametrize(
    "message",
    ["m" * 300_000, "\x01" * 262_144, '"\\' * 131_072, "世" * 262_144, "😀" * 131_072, "\ud800 lone"],
    ids=["overlong", "control", "quotes", "cjk", "emoji", "lone-surrogate"],
)
def test_very_long_lines_span_continuation_rows_that_fit_as_stored_and_as_sent(message):
    # Given one line whose JSON text is larger than a row (escaping can make it six times its length)
    line = LogLine(7, "t", "INFO", "l", message, "step", "task")
    # When it is packed between two short lines
    rows = pack_log_pages("e", [*lines(7), line, *lines(9, start=8)])
    # Then every row is within the entity limits, stored and sent
    for row in rows:
        check_entity(row)
    # And the line comes back whole, or cut at the limit with an explicit suffix
    back = unpack_log_pages(rows)
    expected = message if len(message) <= 262_144 else "m" * 262_144 + SUFFIX
    assert [x.sequence for x in back] == list(range(9)) and back[7].message == expected
    assert (back[7].step_name, back[7].step_type) == ("step", "task")


def test_a_huge_line_gets_its_own_page_with_continuation_keys():
    # Given a 300,000-character line after one short line
    rows = pack_log_pages("e", [*lines(1), LogLine(1, "t", "INFO", "l", "x" * 300_000)])
    # Then the short line has its page and the long one spans three rows that record the count
    assert [r["RowKey"] for r in rows] == ["log|0000000000", "log|0000000001", "log|0000000001|01", "log|0000000001|02"]
    assert rows[1]["Rows"] == 3 and all(r["Last"] == "0000000001" for r in rows[1:])


def test_leftover_rows_of_a_longer_earlier_page_are_ignored():
    # Given rows of a long line, then the same page rewritten with a short message (a re-run)
    old = pack_log_pages("e", [LogLine(1, "t", "INFO", "l", "x" * 200_000)])
    new = pack_log_pages("e", [LogLine(1, "t", "INFO", "l", "short")])
    # When read back / Then only the new message is returned
    assert len(old) == 2 and [line.message for line in unpack_log_pages(new + old[1:])] == ["short"]


def test_a_missing_continuation_row_is_reported_not_returned_short():
    # Given a page whose second row is gone / When it is read / Then the reader refuses partial lines
    rows = pack_log_pages("e", [LogLine(1, "t", "INFO", "l", "x" * 200_000)])
    with pytest.raises(StorageError, match="incomplete"):
        unpack_log_pages(rows[:1])


def test_repeated_sequences_in_one_write_keep_the_last_line_and_sort():
    # Given lines out of order with sequence 1 twice / When packed and read / Then sorted, the later line of 1 kept
    first, second = LogLine(1, "t1", "INFO", "l", "first"), LogLine(1, "t2", "ERROR", "l", "second")
    logs = [LogLine(2, "t", "INFO", "l", "two"), first, LogLine(0, "t", "INFO", "l", "zero"), second]
    assert [x.message for x in unpack_log_pages(pack_log_pages("e", logs))] == ["zero", "second", "two"]


def test_across_pages_the_page_written_later_wins():
    # Given a first run that wrote lines 0-199 in two pages, and a re-run that rewrote 100-249 in one later page
    run1 = [StoredRow(r, 1) for r in pack_log_pages("e", lines(100)) + pack_log_pages("e", lines(200, start=100))]
    rerun = [StoredRow(r, 2) for r in pack_log_pages("e", lines(250, start=100, message="again {i}"))]
    # When read back in any order
    back = unpack_log_pages(rerun + run1)
    # Then every sequence appears once, and the re-run's lines replace the first run's
    assert [x.sequence for x in back] == list(range(250))
    assert back[99].message == "line 99" and back[150].message == "again 150" and back[249].message == "again 249"


def test_after_returns_only_later_lines_and_filters_pages_on_the_server():
    # Given two pages of lines 0-499 and 500-599
    rows = pack_log_pages("e", lines(600))
    # When read after 520 / Then only lines 521.. come back
    assert [x.sequence for x in unpack_log_pages(rows, after=520)] == list(range(521, 600))
    # And the query asks the server for pages that end after 520 only
    query_filter, parameters = log_query("e", 520)
    assert query_filter.endswith("and Last gt @last") and parameters["last"] == "0000000520"
    assert log_query("e", None)[0] == log_query("e", -1)[0] == "PartitionKey eq @pk and RowKey ge @lo and RowKey lt @hi"


@pytest.mark.parametrize("sequence", [-1, 10**10])
def test_sequences_outside_the_key_range_are_refused_before_writing(sequence):
    with pytest.raises(ValueError, match="Log sequences"):
        pack_log_pages("e", [*lines(2), LogLine(sequence, "t", "INFO", "l", "m")])
