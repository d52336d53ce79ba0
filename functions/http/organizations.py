"""HTTP: organizations (platform admins; an organization's admin reads its own and changes its allowlist)."""

from __future__ import annotations

from typing import Annotated, Any

import azure.functions as func
from pydantic import AfterValidator, BaseModel, ConfigDict, Field, StrictBool

from shared.api.http import json_response
from shared.api.routes import ApiCall, Route
from shared.identity.organizations import OrganizationService
from shared.runtime import get_authenticator, get_runtime


def _retention(days: float) -> float:
    if 0 < days < 1:
        raise ValueError("must be 0 (keep everything) or at least 1 day")
    return days


# How long finished executions are kept: 0 keeps everything; else 1..3650 days (an idempotency key lives 24 hours).
RetentionDays = Annotated[float, Field(ge=0, le=3650), AfterValidator(_retention)]


class NewOrganization(BaseModel):
    """Body of `POST /api/organizations`."""

    model_config = ConfigDict(extra="forbid")
    id: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")  # a scope: letters, digits, - _ . :
    name: str = Field(min_length=1, max_length=200)
    is_active: StrictBool = True
    allowed_workflows: list[str] | None = Field(default=None, max_length=1000)
    retention_days: RetentionDays | None = None  # None: CONDUIT_RETENTION_DAYS; 0: forever


class OrganizationBody(BaseModel):
    """Body of `PUT /api/organizations/{id}`: the whole organization but its id."""

    model_config = ConfigDict(extra="forbid")
    name: str = Field(min_length=1, max_length=200)
    is_active: StrictBool = True
    allowed_workflows: list[str] | None = Field(default=None, max_length=1000)
    retention_days: RetentionDays | None = None


class OrganizationPatch(BaseModel):
    """Body of `PATCH /api/organizations/{id}`: the fields to change."""

    model_config = ConfigDict(extra="forbid")
    name: str | None = Field(default=None, min_length=1, max_length=200)
    is_active: StrictBool | None = None
    allowed_workflows: list[str] | None = Field(default=None, max_length=1000)
    retention_days: RetentionDays | None = None  # null: back to the default


async def _service() -> OrganizationService:
    runtime = await get_runtime()
    return OrganizationService(await get_authenticator(), runtime.function_names())


async def create_organization(call: ApiCall) -> func.HttpResponse:
    """A new organization (201); its id is the scope of its executions, forms and keys."""
    organization = await (await _service()).create(call.known_caller, call.body.model_dump())
    return json_response(organization.to_api(), 201)


async def list_organizations(call: ApiCall) -> func.HttpResponse:
    """Every organization."""
    organizations = await (await _service()).list(call.known_caller)
    return json_response({"items": [organization.to_api() for organization in organizations]})


async def get_organization(call: ApiCall) -> func.HttpResponse:
    """One organization."""
    organization = await (await _service()).get(call.known_caller, call.path("organization_id"))
    return json_response(organization.to_api())


async def replace_organization(call: ApiCall) -> func.HttpResponse:
    """Replace name, is_active and allowed_workflows (and retention_days when sent: a PUT written before it existed
    keeps it)."""
    changes = call.body.model_dump()
    if "retention_days" not in call.body.model_fields_set:
        changes.pop("retention_days")
    return await _update(call, changes)


async def patch_organization(call: ApiCall) -> func.HttpResponse:
    """Change the fields sent (`allowed_workflows: null` allows every global workflow again)."""
    return await _update(call, call.body.model_dump(exclude_unset=True))


async def _update(call: ApiCall, changes: dict[str, Any]) -> func.HttpResponse:
    service = await _service()
    organization = await service.update(call.known_caller, call.path("organization_id"), changes)
    return json_response(organization.to_api())


async def delete_organization(call: ApiCall) -> func.HttpResponse:
    """Delete an organization: its callers get 403 from then on (its executions stay)."""
    await (await _service()).delete(call.known_caller, call.path("organization_id"))
    return func.HttpResponse(status_code=204)


routes = [
    Route("POST", "organizations", create_organization, access="admin", body=NewOrganization, status=201),
    Route("GET", "organizations", list_organizations, access="admin"),
    Route("GET", "organizations/{organization_id}", get_organization, access="org_admin"),
    Route("PUT", "organizations/{organization_id}", replace_organization, access="org_admin", body=OrganizationBody),
    Route("PATCH", "organizations/{organization_id}", patch_organization, access="org_admin",
          body=OrganizationPatch),
    Route("DELETE", "organizations/{organization_id}", delete_organization, access="admin", status=204),
]
