"""host.json's functionTimeout is valid on the supported plans and leaves the engine room to finish first.

Supported plans: Flex Consumption (default) and Elastic Premium. The documented limits (Microsoft's "Function app
timeout duration", 2026-01-20): both default to 30 minutes and enforce no maximum, but give a running execution only
60 minutes of grace when the platform scales in (10 minutes on platform updates). The Consumption plan's maximum is
10 minutes, too short for Conduit's long workflows, so it is not supported.

When the host's timeout fires it recycles the Python worker and every execution on it, so the engine's own maximum
`timeout_seconds` must end, and record the outcome, before it.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCALE_IN_GRACE_SECONDS = 60 * 60  # Flex Consumption and Premium: what a running execution is guaranteed on scale-in
CONSUMPTION_MAX_SECONDS = 10 * 60  # the plan Conduit does not support
# What the engine needs after a workflow's own timeout: abandon grace (2 s), the final write with its retries
# (CONDUIT_FINISH_RETRY_SECONDS 10 s, each storage attempt bounded at 45 s), a minimal fallback record, lease release.
ENGINE_MARGIN_SECONDS = 300
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2}(?:\.\d+)?)$")


def timespan_seconds(value: str) -> float:
    """A .NET TimeSpan (`[d.]hh:mm:ss[.fff]`), as host.json writes durations, in seconds."""
    match = _TIMESPAN.match(value)
    assert match, f"functionTimeout {value!r} is not a TimeSpan like 01:00:00"
    days, hours, minutes, seconds = match.groups()
    assert int(hours) < 24 and int(minutes) < 60 and float(seconds) < 60, f"{value!r} is out of range"
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


def function_timeout() -> float:
    document = json.loads((REPO_ROOT / "host.json").read_text(encoding="utf-8"))
    value = document.get("functionTimeout")
    assert isinstance(value, str), "host.json must set functionTimeout (an unbounded host never recycles a hung run)"
    return timespan_seconds(value)


def engine_max_timeout() -> int:
    """The largest `timeout_seconds` a workflow may ask for."""
    from shared.functions.decorators import MAX_TIMEOUT

    return MAX_TIMEOUT


def test_function_timeout_is_valid_on_flex_consumption_and_premium() -> None:
    # Given the shipped host.json
    # When its functionTimeout is read as the host reads it
    seconds = function_timeout()
    # Then it is a bounded TimeSpan within the scale-in grace both supported plans give a running execution,
    # and longer than the Consumption plan's 10 minutes (the reason that plan is not supported)
    assert CONSUMPTION_MAX_SECONDS < seconds <= SCALE_IN_GRACE_SECONDS


def test_timespan_parser_reads_the_forms_the_host_accepts() -> None:
    # Given the TimeSpan forms host.json uses, When parsed, Then they are the durations the host reads
    assert timespan_seconds("01:00:00") == 3600
    assert timespan_seconds("1.00:00:00.5") == 86400.5
    with pytest.raises(AssertionError):
        timespan_seconds("60 minutes")


def test_engine_maximum_ends_before_the_host_timeout() -> None:
    # Given host.json's functionTimeout and the engine's largest accepted timeout_seconds
    host_seconds, engine_seconds = function_timeout(), engine_max_timeout()
    # Then the longest workflow plus the time to record its outcome ends before the host recycles the worker
    assert engine_seconds + ENGINE_MARGIN_SECONDS <= host_seconds, (
        f"timeout_seconds may be {engine_seconds}, but host.json's functionTimeout is {host_seconds:g} s: "
        f"keep at least {ENGINE_MARGIN_SECONDS} s between them"
    )
