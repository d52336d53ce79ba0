"""The Functions host's `functionTimeout` (host.json), which bounds every workflow's `timeout_seconds`.

When the host's timeout fires it recycles the Python worker and every execution on it, so the longest timeout a
workflow may ask for ends `ENGINE_MARGIN_SECONDS` before it: time for the engine to abandon the call, write the
outcome with its retries and release the lease. host.json is read once, at import, from the app's root (next to
`function_app.py`), and the app setting `AzureFunctionsJobHost__functionTimeout` wins over it as it does for the
host. Without either, the host's own default on the supported plans (30 minutes) applies.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from shared.functions.discovery import REPO_ROOT

ENGINE_MARGIN_SECONDS = 300
DEFAULT_SECONDS = 1800  # the host's functionTimeout when none is set (Flex Consumption, Premium): 00:30:00
UNBOUNDED_SECONDS = 3600  # what Conduit assumes for "-1" (the host never ends a run): 01:00:00, as host.json ships
OVERRIDE_SETTING = "AzureFunctionsJobHost__functionTimeout"
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


def read_host_timeout(
    host_json: Path = REPO_ROOT / "host.json", environ: Mapping[str, str] = os.environ
) -> HostTimeout:
    """The functionTimeout the host applies: the app setting's, else host.json's; the host's 30-minute default when
    neither sets one, and the shipped hour when it is unbounded ("-1")."""
    value, source = _override(environ), f"the app setting {OVERRIDE_SETTING}"
    if value is None:
        value, source = _from_host_json(host_json), "host.json's functionTimeout"
    if value is None:
        return HostTimeout(DEFAULT_SECONDS, "00:30:00", "the host's default functionTimeout (host.json sets none)")
    seconds = timespan_seconds(value)
    if seconds is None:
        return HostTimeout(UNBOUNDED_SECONDS, "01:00:00", f"the assumed functionTimeout ({source} is {value!r})")
    return HostTimeout(seconds, value, source)


def _override(environ: Mapping[str, str]) -> str | None:
    """`AzureFunctionsJobHost__functionTimeout` (the host reads setting names case-insensitively), when set."""
    wanted = OVERRIDE_SETTING.lower()
    values = [value.strip() for name, value in environ.items() if name.lower() == wanted and value.strip()]
    return values[0] if values else None


def _from_host_json(host_json: Path) -> str | None:
    try:
        value = json.loads(host_json.read_text(encoding="utf-8-sig")).get("functionTimeout")
    except (OSError, ValueError, AttributeError):
        return None
    return value.strip() if isinstance(value, str) and value.strip() else None
