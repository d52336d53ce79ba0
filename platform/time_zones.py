"""Time zones: a data provider over the IANA database, and a workflow that converts times between zones."""

import logging
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from shared import ExecutionContext, UserError, data_provider, param, workflow

log = logging.getLogger(__name__)


@data_provider(
    name="time_zones",
    description="Every IANA time zone, with its current UTC offset, for time zone dropdowns.",
    category="Examples",
    cache_ttl_seconds=3600,
)
@param("region", type="string", help_text="Only zones in this region, e.g. Europe")
def time_zones(region: str | None = None) -> list[dict]:
    now = datetime.now(UTC)
    names = sorted(n for n in available_timezones() if region is None or n.startswith(f"{region}/"))
    options = []
    for name in names:
        offset = now.astimezone(ZoneInfo(name)).strftime("%z")
        options.append({"label": f"{name} (UTC{offset[:3]}:{offset[3:]})", "value": name})
    return options


@workflow(
    name="convert_time",
    description="Convert a date and time from one time zone to others.",
    category="Examples",
    execution_mode="sync",
    timeout_seconds=30,
)
@param("time", type="string", required=True, help_text="ISO 8601, e.g. 2026-03-29T09:30")
@param("from_zone", type="string", required=True, data_provider="time_zones")
@param("to_zones", type="list", required=True, data_provider="time_zones", help_text="One or more zones")
async def convert_time(context: ExecutionContext, time: str, from_zone: str, to_zones: list[str]) -> dict:
    source = _zone(from_zone)
    try:
        local = datetime.fromisoformat(time)
    except ValueError:
        raise UserError(f"'{time}' is not an ISO 8601 date and time, e.g. 2026-03-29T09:30") from None
    if local.tzinfo is None:
        local = local.replace(tzinfo=source)
    log.info("converting %s from %s to %d zone(s)", local.isoformat(), from_zone, len(to_zones))
    conversions = []
    for name in to_zones:
        converted = local.astimezone(_zone(name))
        conversions.append({"zone": name, "time": converted.isoformat(), "utc_offset": converted.strftime("%z")})
        context.logger.debug("%s -> %s", name, converted.isoformat())
    return {"input": local.isoformat(), "utc": local.astimezone(UTC).isoformat(), "conversions": conversions}


def _zone(name: str) -> ZoneInfo:
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(f"Unknown time zone '{name}'. Use an IANA name such as Europe/Amsterdam.") from None
