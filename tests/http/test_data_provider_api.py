"""The data-provider API as a user meets it: listing providers, asking one for options, and the errors it answers."""

from __future__ import annotations

import pytest

from shared.errors import ForbiddenError
from shared.models import Caller
from shared.providers.service import ProviderCall, provider_options

pytestmark = pytest.mark.asyncio


async def options(api, name: str, body: dict) -> tuple[int, dict]:
    return await api.call("get_data_provider_options", "POST", f"http://localhost/api/data-providers/{name}",
                          body=body, route={"name": name})


async def test_the_list_shows_each_provider_with_its_parameters_schema_and_cache_settings(api):
    # When the providers are listed
    status, body = await api.call("list_data_providers", "GET", "http://localhost/api/data-providers")
    # Then each comes with what a form builder needs to call it
    assert status == 200
    by_name = {item["name"]: item for item in body["items"]}
    sizes = by_name["api_sizes"]
    assert sizes["description"] == "Shirt sizes, optionally only those up to a limit"
    assert sizes["category"] == "Apparel"
    assert sizes["cache_ttl_seconds"] == 0 and sizes["cache_scope"] == "organization"
    assert [p["name"] for p in sizes["parameters"]] == ["limit", "unit"]
    assert sizes["input_schema"]["required"] == ["limit"]
    assert by_name["time_zones"]["timeout_seconds"] == 30  # a provider's own default timeout
    # And workflows that are not providers are not listed
    assert "greet" not in by_name


async def test_options_are_listed_with_label_value_and_only_the_keys_an_option_has(api):
    # When a provider is asked for options, with an int input sent as text
    status, body = await options(api, "api_sizes", {"inputs": {"limit": "2"}})
    # Then the options come back; keys other than label/value/description/metadata are not part of the answer
    assert status == 200, body
    assert body["provider"] == "api_sizes"
    assert body["options"] == [{"label": "XS (eu)", "value": "XS"}, {"label": "S (eu)", "value": "S"}]
    assert body["cached"] is False


async def test_an_unknown_provider_is_404_and_so_is_a_workflow_that_is_not_a_provider(api):
    # When an unknown name, and a plain workflow, are asked for options
    unknown = await options(api, "no_such_provider", {})
    workflow_only = await options(api, "greet", {})
    # Then both are 404 naming the provider
    for status, body in (unknown, workflow_only):
        assert status == 404
        assert body["error"]["code"] == "data_provider_not_found"
    assert "no_such_provider" in unknown[1]["error"]["message"]


async def test_bad_inputs_are_422_naming_every_field_at_once(api):
    # When the required input is missing and another is not one of its choices
    status, body = await options(api, "api_sizes", {"inputs": {"unit": "uk"}})
    # Then both fields are named
    assert status == 422
    assert {d["field"] for d in body["error"]["details"]} == {"limit", "unit"}
    # And a body key the API does not know is refused too
    status, body = await options(api, "api_sizes", {"inputs": {"limit": 1}, "no_cach": True})
    assert status == 422 and body["error"]["details"][0]["field"] == "no_cach"


async def test_a_function_that_is_both_is_callable_as_a_provider_and_as_a_workflow(api):
    # When the one function is asked for options, and executed as a workflow
    provider = await options(api, "api_both", {"inputs": {"prefix": "p"}})
    workflow = await api.execute("api_both", {"prefix": "w"})
    # Then it answers both ways
    assert provider[0] == 200 and provider[1]["options"] == [{"label": "p-1", "value": 1}]
    assert workflow[0] == 200, workflow
    assert workflow[1]["output_data"] == [{"label": "w-1", "value": 1}]
    # And as a provider it has the provider's timeout, as a workflow the workflow's
    _, listed = await api.call("list_data_providers", "GET", "http://localhost/api/data-providers")
    assert {i["name"]: i for i in listed["items"]}["api_both"]["timeout_seconds"] == 7


async def test_a_provider_run_is_never_stored_as_an_execution(api):
    # Given the executions of the scope before
    scope = {"X-Organization-Id": "provider-runs-are-transient"}
    # When a provider runs
    status, _ = await api.call(
        "get_data_provider_options", "POST", "http://localhost/api/data-providers/api_sizes",
        body={"inputs": {"limit": 1}}, route={"name": "api_sizes"}, headers=scope)
    assert status == 200
    # Then no execution was recorded in its scope
    status, page = await api.call("list_execution_page", "GET", "http://localhost/api/workflows/executions",
                                  headers=scope)
    assert status == 200 and page["items"] == []


async def test_debug_log_lines_are_for_platform_admins_only():
    # Given a caller who is not a platform admin
    user = Caller(user_id="u1", scope="org-a")
    # When they ask for a provider's log lines
    # Then they are refused before anything runs (the engine is never reached)
    with pytest.raises(ForbiddenError, match="log lines"):
        await provider_options(None, ProviderCall("api_sizes", user, debug=True))  # type: ignore[arg-type]
