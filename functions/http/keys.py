"""HTTP: API keys (admins): create one (its secret is answered once), list them, revoke one."""

from __future__ import annotations

import azure.functions as func
from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.identity.keys import KeyService, NewKey
from shared.runtime import get_authenticator, get_runtime


class KeyBody(BaseModel):
    """Body of `POST /api/keys`."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    org_id: str | None = None
    workflows: list[str] | None = Field(default=None, max_length=500)
    expires_at: AwareDatetime | None = None


async def _service() -> KeyService:
    runtime = await get_runtime()
    return KeyService(await get_authenticator(), runtime.workflow_names())


async def create_key(call: ApiCall) -> func.HttpResponse:
    """A new key: 201 with its secret, shown this once (only its hash is stored)."""
    body: KeyBody = call.body
    wanted = NewKey(body.name, body.org_id, tuple(body.workflows) if body.workflows is not None else None,
                    body.expires_at)
    key, secret = await (await _service()).create(call.known_caller, wanted)
    return json_response(key.to_api() | {"secret": secret}, 201)


async def list_keys(call: ApiCall) -> func.HttpResponse:
    """The keys the caller manages, never their secrets or hashes."""
    keys = await (await _service()).list(call.known_caller)
    return json_response({"items": [key.to_api() for key in keys]})


async def revoke_key(call: ApiCall) -> func.HttpResponse:
    """Revoke a key: refused at once here, on every instance within CONDUIT_AUTH_CACHE_SECONDS."""
    key = await (await _service()).revoke(call.known_caller, call.path("key_id"))
    return json_response(key.to_api())


routes = [
    Route("POST", "keys", create_key, access="org_admin", body=KeyBody, status=201),
    Route("GET", "keys", list_keys, access="org_admin"),
    Route("DELETE", "keys/{key_id}", revoke_key, access="org_admin"),
]
