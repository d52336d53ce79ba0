"""Trips: dependent dropdowns for a travel form — countries, then that country's cities — a dropdown that depends on
who is asking, and the workflow they feed.

The names here (`countries`, `cities`, `suggested_destinations`, `plan_trip` and their parameters) are what the example
form in the README links to: renaming one breaks that form's validation.
"""

from __future__ import annotations

import json
import logging
import unicodedata
from dataclasses import dataclass
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from shared import ExecutionContext, UserError, data_provider, param, workflow

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class City:
    name: str
    time_zone: str  # IANA name: a country with several zones has cities in each

    @property
    def value(self) -> str:
        """An ASCII slug of the name (São Paulo -> sao-paulo): easy to type in a query string or a test."""
        plain = unicodedata.normalize("NFKD", self.name).encode("ascii", "ignore").decode()
        return plain.lower().replace(" ", "-")


@dataclass(frozen=True)
class Country:
    name: str
    cities: tuple[City, ...]


# ISO 3166-1 alpha-2 code (lower case) -> the country and a few of its cities, each with its time zone.
COUNTRIES: dict[str, Country] = {
    "au": Country("Australia", (City("Sydney", "Australia/Sydney"), City("Melbourne", "Australia/Melbourne"),
                                City("Brisbane", "Australia/Brisbane"), City("Perth", "Australia/Perth"))),
    "br": Country("Brazil", (City("São Paulo", "America/Sao_Paulo"), City("Rio de Janeiro", "America/Sao_Paulo"),
                             City("Manaus", "America/Manaus"))),
    "ca": Country("Canada", (City("Toronto", "America/Toronto"), City("Montréal", "America/Toronto"),
                             City("Calgary", "America/Edmonton"), City("Vancouver", "America/Vancouver"))),
    "de": Country("Germany", (City("Berlin", "Europe/Berlin"), City("Hamburg", "Europe/Berlin"),
                              City("Munich", "Europe/Berlin"), City("Cologne", "Europe/Berlin"))),
    "es": Country("Spain", (City("Madrid", "Europe/Madrid"), City("Barcelona", "Europe/Madrid"),
                            City("Seville", "Europe/Madrid"), City("Las Palmas", "Atlantic/Canary"))),
    "fr": Country("France", (City("Paris", "Europe/Paris"), City("Lyon", "Europe/Paris"),
                             City("Marseille", "Europe/Paris"), City("Bordeaux", "Europe/Paris"))),
    "gb": Country("United Kingdom", (City("London", "Europe/London"), City("Manchester", "Europe/London"),
                                     City("Edinburgh", "Europe/London"))),
    "in": Country("India", (City("Mumbai", "Asia/Kolkata"), City("Delhi", "Asia/Kolkata"),
                            City("Bengaluru", "Asia/Kolkata"))),
    "it": Country("Italy", (City("Rome", "Europe/Rome"), City("Milan", "Europe/Rome"), City("Naples", "Europe/Rome"))),
    "jp": Country("Japan", (City("Tokyo", "Asia/Tokyo"), City("Osaka", "Asia/Tokyo"), City("Kyoto", "Asia/Tokyo"),
                            City("Sapporo", "Asia/Tokyo"))),
    "mx": Country("Mexico", (City("Mexico City", "America/Mexico_City"), City("Guadalajara", "America/Mexico_City"),
                             City("Tijuana", "America/Tijuana"))),
    "nl": Country("Netherlands", (City("Amsterdam", "Europe/Amsterdam"), City("Rotterdam", "Europe/Amsterdam"),
                                  City("Utrecht", "Europe/Amsterdam"))),
    "nz": Country("New Zealand", (City("Auckland", "Pacific/Auckland"), City("Wellington", "Pacific/Auckland"),
                                  City("Chatham Islands", "Pacific/Chatham"))),
    "pt": Country("Portugal", (City("Lisbon", "Europe/Lisbon"), City("Porto", "Europe/Lisbon"),
                               City("Funchal", "Atlantic/Madeira"), City("Ponta Delgada", "Atlantic/Azores"))),
    "sg": Country("Singapore", (City("Singapore", "Asia/Singapore"),)),
    "us": Country("United States", (City("New York", "America/New_York"), City("Chicago", "America/Chicago"),
                                    City("Denver", "America/Denver"), City("Los Angeles", "America/Los_Angeles"),
                                    City("Honolulu", "Pacific/Honolulu"))),
}
# Country-code domains that are not the ISO code: an address at example.co.uk is British.
_DOMAIN_COUNTRY = {"uk": "gb"}
# Offered by `suggested_destinations` when nothing is known about the caller; the setting trip_popular overrides it.
POPULAR = ("jp", "pt", "us")
FAVOURITES_SETTING = "trip_favourites"  # app setting CONDUIT_CONFIG_TRIP_FAVOURITES
POPULAR_SETTING = "trip_popular"  # app setting CONDUIT_CONFIG_TRIP_POPULAR


@data_provider(
    name="countries",
    description="Countries a trip can go to, by name; the value is the lower-case ISO 3166-1 code (de, jp).",
    category="Examples",
    cache_ttl_seconds=86_400,
)
def countries() -> list[dict]:
    return [
        {"label": country.name, "value": code, "metadata": {"cities": len(country.cities)}}
        for code, country in sorted(COUNTRIES.items(), key=lambda item: item[1].name)
    ]


@data_provider(
    name="cities",
    description="The cities of one country (from `countries`), each with its IANA time zone.",
    category="Examples",
    cache_ttl_seconds=86_400,
)
@param("country", type="string", required=True, help_text="A country code from `countries`, e.g. de")
def cities(country: str) -> list[dict]:
    found = country_of(country)
    return [
        {"label": c.name, "value": c.value, "description": c.time_zone, "metadata": {"time_zone": c.time_zone}}
        for c in found.cities
    ]


@data_provider(
    name="suggested_destinations",
    description=(
        "Destinations suggested to the caller: their favourites (setting CONDUIT_CONFIG_TRIP_FAVOURITES), their home "
        "country (from the country-code domain of their email address), else popular destinations. Cached per user."
    ),
    category="Examples",
    cache_ttl_seconds=300,
    cache_scope="user",
)
def suggested_destinations(context: ExecutionContext) -> list[dict]:
    picks: dict[str, str] = {}  # code -> why it is suggested; the first reason wins, the order is kept
    for code in favourites_of(context):
        picks.setdefault(code, "your favourite")
    home = home_country(context.email)
    if home is not None:
        picks.setdefault(home, "your home country, from your email address")
    if not picks:
        for code in _codes(context.get_config(POPULAR_SETTING), POPULAR_SETTING) or list(POPULAR):
            picks.setdefault(code, "popular destination")
    log.info("%d suggestion(s) for %s", len(picks), context.user_id)
    return [
        {"label": f"{COUNTRIES[code].name} ({reason})", "value": code, "metadata": {"reason": reason}}
        for code, reason in picks.items()
    ]


@workflow(
    name="plan_trip",
    description="Plan a trip to a city: the destination, its time zone and the local time there now.",
    category="Examples",
    execution_mode="sync",
    timeout_seconds=30,
)
@param("traveller", type="string", required=True, help_text="Who is travelling")
@param("country", type="string", required=True, data_provider="countries")
@param("city", type="string", required=True, data_provider="cities", help_text="A city of the chosen country")
@param("notes", type="string", help_text="Anything the trip needs, e.g. a visa or a conference")
async def plan_trip(
    context: ExecutionContext, traveller: str, country: str, city: str, notes: str | None = None
) -> dict:
    destination = country_of(country)
    chosen = next((c for c in destination.cities if c.value == city.strip().lower()), None)
    if chosen is None:
        known = ", ".join(c.value for c in destination.cities)
        raise UserError(f"'{city}' is not a city of {destination.name} we know; choose one of: {known}.")
    now = datetime.now(UTC).astimezone(ZoneInfo(chosen.time_zone))
    offset = now.strftime("%z")
    utc_offset = f"UTC{offset[:3]}:{offset[3:]}"
    context.logger.info("planning %s's trip to %s, %s", traveller, chosen.name, destination.name)
    return {
        "traveller": traveller,
        "country": {"code": country.strip().lower(), "name": destination.name},
        "city": {"value": chosen.value, "name": chosen.name},
        "time_zone": chosen.time_zone,
        "utc_offset": utc_offset,
        "local_time": now.isoformat(timespec="minutes"),
        "notes": notes,
        "planned_by": context.user_id,
        "summary": f"{traveller} travels to {chosen.name}, {destination.name}: it is {now:%H:%M} there now "
                   f"({utc_offset}, {chosen.time_zone}).",
    }


def country_of(code: str) -> Country:
    """The country with this ISO code (any case), or a UserError that says which codes exist."""
    found = COUNTRIES.get(code.strip().lower())
    if found is None:
        raise UserError(f"Unknown country '{code}'. Use a lower-case ISO 3166-1 code from the `countries` provider, "
                        f"one of: {', '.join(sorted(COUNTRIES))}.")
    return found


def home_country(email: str | None) -> str | None:
    """The country of an address's country-code domain (ana@firma.de -> de), when it is one we travel to."""
    if not email or "@" not in email:
        return None
    suffix = email.rsplit(".", 1)[-1].lower()
    code = _DOMAIN_COUNTRY.get(suffix, suffix)
    return code if code in COUNTRIES else None


def favourites_of(context: ExecutionContext) -> list[str]:
    """The caller's favourite countries: the setting maps a user id or email to codes, e.g.
    `{"admin": ["jp", "pt"], "ana@example.com": ["nz"]}`; codes we do not know are logged and left out."""
    raw = context.get_config(FAVOURITES_SETTING)
    if not raw:
        return []
    try:
        by_user = json.loads(raw) if isinstance(raw, str) else raw
    except ValueError:
        log.warning("setting %s is not JSON; no favourites offered", FAVOURITES_SETTING)
        return []
    if not isinstance(by_user, dict):
        log.warning("setting %s is not a JSON object of user -> country codes", FAVOURITES_SETTING)
        return []
    mine = by_user.get(context.user_id) or (by_user.get(context.email) if context.email else None) or []
    return _codes(mine, FAVOURITES_SETTING)


def _codes(value: object, setting: str) -> list[str]:
    """Known country codes from a list (or comma-separated text) of them, in order."""
    items = value.split(",") if isinstance(value, str) else value if isinstance(value, list) else []
    codes = [str(item).strip().lower() for item in items]
    unknown = [code for code in codes if code not in COUNTRIES]
    if unknown:
        log.warning("setting %s names countries we do not know: %s", setting, ", ".join(unknown))
    return [code for code in codes if code in COUNTRIES]
