"""The trips examples in platform/: `countries`, `cities`, `suggested_destinations` run as data providers and
`plan_trip` as a workflow, through function_app's HTTP functions and the engine, on a real Azurite."""

from __future__ import annotations

import json
import uuid
from zoneinfo import ZoneInfo

import pytest

from shared.models import Caller
from shared.providers.service import ProviderCall, provider_options
from shared.runtime import get_runtime
from tests.http.conftest import Api


async def options(api: Api, provider: str, inputs: dict | None = None) -> tuple[int, dict]:
    return await api.call("get_data_provider_options", "POST", f"http://x/api/data-providers/{provider}",
                          body={"inputs": inputs or {}}, route={"name": provider})


async def suggestions_for(caller: Caller) -> list[dict]:
    """`suggested_destinations` as this caller sees it (over HTTP every caller is the admin, until the auth issue)."""
    answer = await provider_options((await get_runtime()).engine, ProviderCall("suggested_destinations", caller))
    return answer["options"]


def a_user(**fields: str) -> Caller:
    return Caller(user_id=fields.pop("user_id", f"user-{uuid.uuid4().hex[:8]}"), scope="org-trips", **fields)


async def test_the_trip_providers_are_listed_with_their_inputs_and_cache_scope(api: Api) -> None:
    # When the data providers are listed
    status, body = await api.call("list_data_providers", "GET", "http://x/api/data-providers")
    # Then the three trip providers are there: cities needs a country, suggested_destinations is cached per user
    assert status == 200
    by_name = {item["name"]: item for item in body["items"]}
    assert [p["name"] for p in by_name["countries"]["parameters"]] == []
    assert by_name["cities"]["input_schema"]["required"] == ["country"]
    assert by_name["suggested_destinations"]["cache_scope"] == "user"
    assert by_name["countries"]["cache_scope"] == "organization"
    # And plan_trip's country and city take their options from them
    _, workflows = await api.call("list_workflows", "GET", "http://x/api/workflows")
    plan = next(item for item in workflows["items"] if item["name"] == "plan_trip")
    assert [(p["name"], p["required"], p["data_provider"]) for p in plan["parameters"]] == [
        ("traveller", True, None), ("country", True, "countries"), ("city", True, "cities"), ("notes", False, None)]
    assert plan["execution_mode"] == "sync"


async def test_countries_are_named_and_valued_by_lower_case_iso_code(api: Api) -> None:
    # When the countries provider runs
    status, body = await options(api, "countries")
    # Then more than a dozen countries come, sorted by name, each valued by its lower-case two-letter code
    assert status == 200 and body["provider"] == "countries"
    listed = body["options"]
    assert len(listed) >= 12
    assert [o["label"] for o in listed] == sorted(o["label"] for o in listed)
    assert all(len(o["value"]) == 2 and o["value"].islower() for o in listed)
    assert {"label": "Germany", "value": "de"} in [{"label": o["label"], "value": o["value"]} for o in listed]


async def test_every_country_has_cities_each_with_a_real_time_zone(api: Api) -> None:
    # Given every country the countries provider offers
    _, body = await options(api, "countries")
    for country in body["options"]:
        # When its cities are asked for
        status, answer = await options(api, "cities", {"country": country["value"]})
        # Then it has cities, with distinct values, each in a time zone the IANA database knows
        assert status == 200, answer
        cities = answer["options"]
        assert cities and len({c["value"] for c in cities}) == len(cities)
        for city in cities:
            assert ZoneInfo(city["metadata"]["time_zone"]) and city["description"] == city["metadata"]["time_zone"]


async def test_cities_depend_on_the_country(api: Api) -> None:
    # When Japan's and the United States' cities are asked for (the code in any case)
    _, japan = await options(api, "cities", {"country": "JP"})
    _, usa = await options(api, "cities", {"country": "us"})
    # Then each country has its own cities, a country with several zones has cities in each
    assert {"label": "Tokyo", "value": "tokyo", "description": "Asia/Tokyo", "metadata": {"time_zone": "Asia/Tokyo"}} \
        in japan["options"]
    zones = {c["metadata"]["time_zone"] for c in usa["options"]}
    assert {"America/New_York", "America/Los_Angeles"} <= zones
    assert not {c["value"] for c in japan["options"]} & {c["value"] for c in usa["options"]}


async def test_cities_of_an_unknown_country_is_422_with_a_message_that_helps(api: Api) -> None:
    # When cities are asked for a country that does not exist, and without a country
    status, body = await options(api, "cities", {"country": "xx"})
    missing_status, missing = await options(api, "cities")
    # Then the provider's own message says which codes exist; the missing input is named
    assert status == 422
    assert body["error"]["message"].startswith("Unknown country 'xx'. Use a lower-case ISO 3166-1 code")
    assert "de, es, fr" in body["error"]["message"]
    assert missing_status == 422 and [d["field"] for d in missing["error"]["details"]] == ["country"]


async def test_plan_trip_answers_with_the_city_and_its_time_zone(api: Api) -> None:
    # When a trip is planned to Porto, Portugal
    status, body = await api.execute("plan_trip", {"traveller": "Ada", "country": "pt", "city": "porto",
                                                   "notes": "conference"})
    # Then it runs at once and answers with the destination, its time zone and the local time
    assert status == 200 and body["status"] == "Success", body
    result = body["output_data"]
    assert result["country"] == {"code": "pt", "name": "Portugal"}
    assert result["city"] == {"value": "porto", "name": "Porto"}
    assert result["time_zone"] == "Europe/Lisbon" and result["utc_offset"] in ("UTC+00:00", "UTC+01:00")
    assert result["summary"].startswith("Ada travels to Porto, Portugal: it is ")
    assert result["notes"] == "conference" and result["planned_by"] == "admin"
    assert [line["message"] for line in body["logs"]] == ["planning Ada's trip to Porto, Portugal"]


async def test_plan_trip_refuses_a_city_of_another_country(api: Api) -> None:
    # When the city is not one of the country's / Then the run fails with a message listing the country's cities
    status, body = await api.execute("plan_trip", {"traveller": "Ada", "country": "de", "city": "paris"})
    assert status == 200 and (body["status"], body["error_type"]) == ("Failed", "UserError")
    assert body["error_message"] == (
        "'paris' is not a city of Germany we know; choose one of: berlin, hamburg, munich, cologne.")
    # And a missing required parameter is refused before anything runs
    status, body = await api.execute("plan_trip", {"country": "de"})
    assert status == 422 and {d["field"] for d in body["error"]["details"]} == {"traveller", "city"}


async def test_suggested_destinations_depend_on_the_caller(monkeypatch: pytest.MonkeyPatch) -> None:
    # Given favourites for one user, and two other users, one with an address at a country-code domain
    ana, bob, cy = a_user(email="ana@example.com"), a_user(email="bob@firma.de"), a_user(email="cy@example.com")
    monkeypatch.setenv("CONDUIT_CONFIG_TRIP_FAVOURITES", json.dumps({ana.user_id: ["nz", "DE", "atlantis"]}))
    # When each asks for their suggestions
    mine, bobs, cys = await suggestions_for(ana), await suggestions_for(bob), await suggestions_for(cy)
    # Then each gets their own: favourites (unknown codes left out), the home country, else popular destinations
    assert [(o["value"], o["metadata"]["reason"]) for o in mine] == [("nz", "your favourite"), ("de", "your favourite")]
    assert mine[0]["label"] == "New Zealand (your favourite)"
    assert [(o["value"], o["label"]) for o in bobs] == [("de", "Germany (your home country, from your email address)")]
    assert [o["value"] for o in cys] == ["jp", "pt", "us"]
    assert {o["metadata"]["reason"] for o in cys} == {"popular destination"}


async def test_popular_destinations_come_from_a_setting_and_an_email_matches_favourites(monkeypatch) -> None:
    # Given popular destinations set for the organization, and favourites keyed by an email address
    monkeypatch.setenv("CONDUIT_CONFIG_TRIP_POPULAR", "sg, it")
    monkeypatch.setenv("CONDUIT_CONFIG_TRIP_FAVOURITES", json.dumps({"dee@example.co.uk": ["mx"]}))
    # When a user without suggestions of their own, and one whose email has favourites and a .uk domain, ask
    nobody, dee = await suggestions_for(a_user()), await suggestions_for(a_user(email="dee@example.co.uk"))
    # Then the first gets the setting's destinations, the second their favourite then their home country
    assert [o["value"] for o in nobody] == ["sg", "it"]
    assert [o["value"] for o in dee] == ["mx", "gb"]
