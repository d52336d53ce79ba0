"""The Functions host's `functionTimeout` (host.json), which bounds every workflow's `timeout_seconds`.

When the host's timeout fires it recycles the Python worker and every execution on it, so the longest timeout a
workflow may ask for ends `ENGINE_MARGIN_SECONDS` before it: time for the engine to abandon the call, write the
outcome with its retries and release the lease. host.json is read once, at import, from the app's root (next to
`function_app.py`); without one the host's own default for the supported plans applies.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from shared.functions.discovery import REPO_ROOT

ENGINE_MARGIN_SECONDS = 300
DEFAULT_SECONDS = 3600  # what Conduit assumes without a bounded functionTimeout (01:00:00, as host.json ships)
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{2}):(\d{2})(?:\.\d+)?$")


@dataclass(frozen=True)
class HostTimeout:
    """functionTimeout in whole seconds, and as host.json writes it (for messages)."""

    seconds: int
    text: str
    source: str  # "host.json's functionTimeout" or what stood in for it


def timespan_seconds(value: str) -> int | None:
    """A .NET TimeSpan (`[d.]hh:mm:ss[.fff]`) in whole seconds; None when it is not one (or is "-1", unbounded)."""
    match = _TIMESPAN.match(value.strip())
    if not match:
        return None
    days, hours, minutes, seconds = (int(part or 0) for part in match.groups())
    if hours >= 24 or minutes >= 60 or seconds >= 60:
        return None
    return days * 86400 + hours * 3600 + minutes * 60 + seconds


def read_host_timeout(host_json: Path = REPO_ROOT / "host.json") -> HostTimeout:
    """host.json's bounded functionTimeout, or the 01:00:00 default when there is none to read."""
    fallback = HostTimeout(DEFAULT_SECONDS, "01:00:00", "the assumed functionTimeout (host.json sets none)")
    try:
        value = json.loads(host_json.read_text(encoding="utf-8")).get("functionTimeout")
    except (OSError, ValueError, AttributeError):
        return fallback
    seconds = timespan_seconds(value) if isinstance(value, str) else None
    if seconds is None:
        return fallback
    return HostTimeout(seconds, value, "host.json's functionTimeout")
