"""HTTP: list data providers, run one for its options (through the engine's cache), invalidate its cache."""

from typing import Any

import azure.functions as func
from pydantic import BaseModel, ConfigDict, Field, StrictBool

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.identity import policy
from shared.providers.cache import invalidate_provider_cache
from shared.providers.service import ProviderCall, list_providers, provider_options
from shared.runtime import get_runtime


class OptionsBody(BaseModel):
    """Body of `POST /api/data-providers/{name}`."""

    model_config = ConfigDict(extra="forbid")
    inputs: dict[str, Any] = Field(default_factory=dict)
    no_cache: StrictBool = False  # "yes" or 1 is a mistake to report, not a true
    debug: StrictBool = False


async def list_data_providers(call: ApiCall) -> func.HttpResponse:
    """Every registered data provider the caller may run, with its parameters, input schema and cache settings."""
    runtime = await get_runtime()
    items = [item for item in list_providers(runtime.registry) if policy.may_list_function(call.known_caller,
                                                                                           item["name"])]
    return json_response({"items": items})


async def get_data_provider_options(call: ApiCall) -> func.HttpResponse:
    """The provider's options for these inputs: from the cache when fresh, else from a run of the provider."""
    body: OptionsBody = call.body
    provider_call = ProviderCall(call.path("name"), call.known_caller, body.inputs, body.no_cache, body.debug)
    runtime = await get_runtime()
    return json_response(await provider_options(runtime.engine, provider_call))


async def invalidate_data_provider_cache(call: ApiCall) -> func.HttpResponse:
    """Invalidate a provider's cached options on every instance (admins); the answer says within how long."""
    runtime = await get_runtime()
    return json_response(await invalidate_provider_cache(runtime.engine, call.known_caller, call.path("name")))


routes = [
    Route("GET", "data-providers", list_data_providers),
    Route("POST", "data-providers/{name}", get_data_provider_options, body=OptionsBody),
    Route("DELETE", "data-providers/{name}/cache", invalidate_data_provider_cache, access="admin"),
]
