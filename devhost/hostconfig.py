"""host.json: the parts devhost honours (functionTimeout, HTTP route prefix, queue options), with the host's defaults.

As in the real host, an app setting `AzureFunctionsJobHost__extensions__queues__batchSize` overrides the matching
host.json value, which lets one deployment (or one test) tune a setting without editing the file.
"""

from __future__ import annotations

import json
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from devhost.settings import SettingsError
from devhost.timeouts import (
    CONSUMPTION_DEFAULT_SECONDS,
    CONSUMPTION_MAX_SECONDS,
    DEFAULT_SECONDS,
    MIN_SECONDS,
    SKU_SETTING,
    format_timespan,
)

OVERRIDE_PREFIX = "AzureFunctionsJobHost__"
MAX_BATCH_SIZE = 32
_TIMESPAN = re.compile(r"^(?:(\d+)\.)?(\d{1,2}):(\d{1,2}):(\d{1,2}(?:\.\d+)?)$")


def parse_timespan(value: str | float | int, name: str) -> float:
    """A .NET TimeSpan string (`[d.]hh:mm:ss[.fff]`) in seconds; plain numbers are taken as seconds."""
    if isinstance(value, int | float):
        return float(value)
    match = _TIMESPAN.match(value.strip())
    if not match:
        raise SettingsError(f"host.json {name} '{value}' is not a TimeSpan like 00:00:30.")
    days, hours, minutes, seconds = match.groups()
    return int(days or 0) * 86400 + int(hours) * 3600 + int(minutes) * 60 + float(seconds)


@dataclass(frozen=True)
class QueueOptions:
    """`extensions.queues`. Defaults are the queue extension's (QueuesOptions.cs), maxPollingInterval excepted:
    the local-development default of 2 s that the trigger documentation gives, since devhost is for local use."""

    batch_size: int = 16
    new_batch_threshold: int = 8 * (os.cpu_count() or 1)
    max_dequeue_count: int = 5
    visibility_timeout: float = 0.0
    max_polling_interval: float = 2.0
    message_encoding: str = "base64"

    @property
    def concurrency(self) -> int:
        """Messages one function may run at once on one instance (the documented batchSize + newBatchThreshold)."""
        return self.batch_size + self.new_batch_threshold


@dataclass(frozen=True)
class HostConfig:
    route_prefix: str = "api"
    queues: QueueOptions = QueueOptions()
    function_timeout: float | None = DEFAULT_SECONDS  # seconds; None = unbounded ("-1")


def load_host_config(script_root: Path, environ: Mapping[str, str] = os.environ) -> HostConfig:
    """Read host.json (missing file = all defaults), apply `AzureFunctionsJobHost__` overrides, validate."""
    path = script_root / "host.json"
    document: dict[str, Any] = {}
    if path.is_file():
        try:
            document = json.loads(path.read_text(encoding="utf-8-sig"))
        except json.JSONDecodeError as exc:
            raise SettingsError(f"{path} is not valid JSON: {exc}") from exc
    _apply_overrides(document, environ)
    extensions = document.get("extensions") or {}
    http = extensions.get("http") or {}
    return HostConfig(
        route_prefix=str(http.get("routePrefix", "api")).strip("/"),
        queues=_queue_options(extensions.get("queues") or {}),
        function_timeout=_function_timeout(_get(document, "functionTimeout", None), environ),
    )


def _function_timeout(raw: Any, environ: Mapping[str, str]) -> float | None:
    """ScriptJobHostOptionsSetup's rules: default 30 min (5 on Consumption), "-1" unbounded (not on Consumption),
    at least 1 s, at most 10 min on Consumption. The plan is read from WEBSITE_SKU ("Dynamic" = Consumption), so
    `WEBSITE_SKU=Dynamic` makes devhost refuse a host.json the Consumption plan would refuse."""
    consumption = environ.get(SKU_SETTING, "").strip().lower() == "dynamic"
    if raw is None or str(raw).strip() == "":
        return CONSUMPTION_DEFAULT_SECONDS if consumption else DEFAULT_SECONDS
    maximum = CONSUMPTION_MAX_SECONDS if consumption else None
    limits = (
        f"host.json functionTimeout '{raw}': FunctionTimeout must be greater than {format_timespan(MIN_SECONDS)} "
        f"and less than {format_timespan(maximum) if maximum else 'TimeSpan.MaxValue'}"
        + (f" on the Consumption plan ({SKU_SETTING}=Dynamic)." if consumption else ".")
    )
    if str(raw).strip() == "-1":
        if consumption:
            raise SettingsError(limits)
        return None
    if not isinstance(raw, str):
        raise SettingsError(f"host.json functionTimeout must be a TimeSpan string like \"00:10:00\", not {raw!r}.")
    seconds = parse_timespan(raw, "functionTimeout")
    if seconds < MIN_SECONDS or (maximum is not None and seconds > maximum):
        raise SettingsError(limits)
    return seconds


def _apply_overrides(document: dict[str, Any], environ: Mapping[str, str]) -> None:
    for key, value in environ.items():
        if not key.startswith(OVERRIDE_PREFIX):
            continue
        *parents, leaf = key[len(OVERRIDE_PREFIX) :].split("__")
        node = document
        for part in parents:
            node = node.setdefault(_existing_key(node, part), {})
        node[_existing_key(node, leaf)] = value


def _existing_key(node: dict[str, Any], name: str) -> str:
    """host.json keys are case-insensitive for the host; reuse the file's spelling so an override replaces it."""
    return next((key for key in node if key.lower() == name.lower()), name)


def _get(section: Mapping[str, Any], name: str, default: Any) -> Any:
    return next((value for key, value in section.items() if key.lower() == name.lower()), default)


def _queue_options(section: Mapping[str, Any]) -> QueueOptions:
    batch_size = int(_get(section, "batchSize", 16))
    if not 1 <= batch_size <= MAX_BATCH_SIZE:
        raise SettingsError(f"host.json extensions.queues.batchSize must be 1..{MAX_BATCH_SIZE}, not {batch_size}.")
    options = QueueOptions(
        batch_size=batch_size,
        new_batch_threshold=int(_get(section, "newBatchThreshold", (batch_size // 2) * (os.cpu_count() or 1))),
        max_dequeue_count=int(_get(section, "maxDequeueCount", 5)),
        visibility_timeout=parse_timespan(_get(section, "visibilityTimeout", 0), "visibilityTimeout"),
        max_polling_interval=parse_timespan(_get(section, "maxPollingInterval", 2), "maxPollingInterval"),
        message_encoding=str(_get(section, "messageEncoding", "base64")).lower(),
    )
    if options.max_dequeue_count < 1:
        raise SettingsError("host.json extensions.queues.maxDequeueCount must be at least 1.")
    if options.max_polling_interval < 0.1:
        raise SettingsError("host.json extensions.queues.maxPollingInterval must be at least 00:00:00.100.")
    if options.message_encoding not in ("base64", "none"):
        raise SettingsError("host.json extensions.queues.messageEncoding must be 'base64' or 'none'.")
    return options
