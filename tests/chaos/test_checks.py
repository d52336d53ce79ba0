"""The chaos run's checks find what they claim to find (fed with made-up rows; no cluster needed)."""

from __future__ import annotations

import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "benchmarks"))

from chaoskit.checks import Findings, check_lines, check_records, check_side_effects
from chaoskit.observe import Observer, Seen
from chaoskit.workload import Accepted, Ledger

T0 = datetime(2025, 1, 1, tzinfo=UTC)


class Row(dict[str, Any]):
    """A table entity as the SDK returns it: a dict with `metadata`."""

    def __init__(self, etag: str = "e1", **values: Any) -> None:
        super().__init__(values)
        self.metadata = {"etag": etag}


def test_a_terminal_record_written_again_is_reported() -> None:
    # Given an execution first seen Success, later seen Failed with another ETag
    observer = Observer("unused")
    observer.note("x", Seen("Success", "e1", T0, 1.0))
    observer.note("x", Seen("Failed", "e2", T0, 2.0))
    ledger = Ledger()
    ledger.accept(Accepted("x", "s", "chaos_sleep", {"seconds": 1}, 0.0))
    findings = Findings()

    # When the records are checked
    check_records(findings, ledger, observer, {"x": Row("e2", RowKey="x", Status="Failed", Attempt=1)})

    # Then it counts as finished twice
    assert findings.violations["finished_twice"] == ["x"]


def test_a_run_that_began_after_completion_is_a_repeated_side_effect() -> None:
    # Given a Success record completed at T0 and a side effect of a run that began a second later
    findings = Findings()
    record = Row(Status="Success", Attempt=1, CompletedAt=T0)
    runs = [Row(Attempt=1, BeganAt=T0 - timedelta(seconds=2)), Row(Attempt=1, BeganAt=T0 + timedelta(seconds=1))]

    # When its side effects are checked
    check_side_effects(findings, "x", record, runs)

    # Then it is reported
    assert findings.violations["side_effects_repeated"] == ["x"]


def test_missing_and_foreign_log_lines_are_reported() -> None:
    # Given a Success heavy logger whose stored lines miss one of its own and hold one of another execution
    findings = Findings()
    lines = ["chaoslog x 0/3", "chaoslog y 1/3", "chaoslog x 2/3"]

    # When its lines are checked
    check_lines(findings, "x", "Success", 3, lines)

    # Then both the misattributed line and the lost one are reported
    assert findings.violations["logs_misattributed"] == ["x"]
    assert findings.violations["logs_lost"] == ["x"]
