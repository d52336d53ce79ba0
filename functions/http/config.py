"""HTTP: config values and secrets of the scope an admin acts in (`/api/config`); secrets' values never answered."""

import azure.functions as func
from pydantic import BaseModel, ConfigDict

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.config.service import ConfigService
from shared.runtime import get_runtime


class ConfigBody(BaseModel):
    """Body of `PUT /api/config/{key}`: `{"type": "string|int|bool|json|secret", "value": ...}`, checked as a whole
    by the service so that every wrong field is named at once."""

    model_config = ConfigDict(extra="allow")


async def _service() -> ConfigService:
    runtime = await get_runtime()
    assert runtime.engine.config is not None, "the runtime opens the config store at start-up"
    return ConfigService(runtime.engine.config)


async def list_config(call: ApiCall) -> func.HttpResponse:
    """The config of the scope the admin acts in: keys, types, scopes; secrets as `"value": null`."""
    service = await _service()
    return json_response({"items": await service.list(call.known_caller)})


async def get_config(call: ApiCall) -> func.HttpResponse:
    """One value of the scope the admin acts in (a secret's value is null)."""
    service = await _service()
    return json_response(await service.get(call.known_caller, call.path("key")))


async def put_config(call: ApiCall) -> func.HttpResponse:
    """Create or replace a value: `{"type": ..., "value": ...}`; a secret is encrypted and never answered."""
    body: ConfigBody = call.body
    service = await _service()
    return json_response(await service.put(call.known_caller, call.path("key"), dict(body.model_extra or {})))


async def delete_config(call: ApiCall) -> func.HttpResponse:
    """Delete a value of the scope the admin acts in (workflows fall back to the global one, then the settings)."""
    service = await _service()
    await service.delete(call.known_caller, call.path("key"))
    return func.HttpResponse(status_code=204)


routes = [
    Route("GET", "config", list_config),
    Route("GET", "config/{key}", get_config),
    Route("PUT", "config/{key}", put_config, body=ConfigBody),
    Route("DELETE", "config/{key}", delete_config, status=204),
]
