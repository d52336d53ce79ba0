"""Organizations in Table storage: one row each, read by id (a point read) when a caller of it is authenticated.

Table `ConduitOrganizations`: PartitionKey "org", RowKey = the organization id (the scope its executions, forms and
keys live in). `AllowedWorkflows` is the JSON list of global workflows and data providers its users may run; absent
means all of them. Listing is one range read of the one partition (organizations are few, made by platform admins).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from azure.core import MatchConditions
from azure.core.exceptions import ResourceExistsError, ResourceModifiedError, ResourceNotFoundError
from azure.data.tables import UpdateMode

from shared.errors import ConflictError, OrganizationNotFoundError
from shared.storage.api_keys import stored_time
from shared.storage.tables import TableStore

ORGANIZATIONS_TABLE = "ConduitOrganizations"
PARTITION = "org"
_CLEARED = "null"  # AllowedWorkflows of an organization that allows all (a MERGE cannot remove a column)


@dataclass(frozen=True)
class Organization:
    """An organization: its id is its scope."""

    id: str
    name: str
    is_active: bool = True
    allowed_workflows: tuple[str, ...] | None = None  # None: every global workflow and provider
    created_at: datetime | None = None
    retention_days: float | None = None  # finished executions kept this long (None: CONDUIT_RETENTION_DAYS; 0: ever)
    etag: str | None = None

    def to_api(self) -> dict[str, Any]:
        allowed = list(self.allowed_workflows) if self.allowed_workflows is not None else None
        created = self.created_at.isoformat().replace("+00:00", "Z") if self.created_at else None
        return {"id": self.id, "name": self.name, "is_active": self.is_active, "allowed_workflows": allowed,
                "retention_days": self.retention_days, "created_at": created}


class OrganizationStore(TableStore):
    """Reads and writes organizations (ConduitOrganizations)."""

    TABLE = ORGANIZATIONS_TABLE

    async def get(self, organization_id: str) -> Organization | None:
        """One point read; None when there is no such organization."""
        try:
            entity = await self._table.get_entity(PARTITION, organization_id)
        except ResourceNotFoundError:
            return None
        return _from_entity(entity)

    async def list(self) -> list[Organization]:
        rows = self._table.query_entities("PartitionKey eq @pk", parameters={"pk": PARTITION})
        return [_from_entity(entity) async for entity in rows]

    async def create(self, organization: Organization) -> Organization:
        """Write a new organization; ConflictError when the id is taken."""
        try:
            response = await self._table.create_entity(_entity(organization))
        except ResourceExistsError:
            raise ConflictError(f"An organization with id '{organization.id}' already exists.",
                                details={"id": organization.id}) from None
        return replace(organization, etag=response["etag"])

    async def replace(self, organization: Organization) -> Organization:
        """Replace the organization read as `organization.etag` (ConflictError when it changed meanwhile)."""
        options: dict[str, Any] = {"mode": UpdateMode.REPLACE}
        if organization.etag:
            options |= {"etag": organization.etag, "match_condition": MatchConditions.IfNotModified}
        try:
            response = await self._table.update_entity(_entity(organization), **options)
        except ResourceNotFoundError:
            raise OrganizationNotFoundError(organization.id) from None
        except ResourceModifiedError:
            raise ConflictError(f"Organization '{organization.id}' changed meanwhile; read it and try again.") from None
        return replace(organization, etag=response["etag"])

    async def delete(self, organization_id: str) -> None:
        try:
            await self._table.delete_entity(PARTITION, organization_id)
        except ResourceNotFoundError:
            raise OrganizationNotFoundError(organization_id) from None


def _entity(organization: Organization) -> dict[str, Any]:
    allowed = organization.allowed_workflows
    entity: dict[str, Any] = {
        "PartitionKey": PARTITION,
        "RowKey": organization.id,
        "Name": organization.name,
        "IsActive": organization.is_active,
        "AllowedWorkflows": json.dumps(list(allowed)) if allowed is not None else _CLEARED,
        "RetentionDays": json.dumps(organization.retention_days),  # "null": the default (a REPLACE writes it)
    }
    if organization.created_at is not None:
        entity["CreatedAt"] = organization.created_at
    return entity


def _from_entity(entity: Any) -> Organization:
    allowed = json.loads(entity.get("AllowedWorkflows") or _CLEARED)
    return Organization(
        id=entity["RowKey"],
        name=entity.get("Name", ""),
        is_active=bool(entity.get("IsActive", True)),
        allowed_workflows=tuple(allowed) if allowed is not None else None,
        created_at=stored_time(entity.get("CreatedAt")),
        retention_days=json.loads(entity.get("RetentionDays") or "null"),
        etag=entity.metadata.get("etag"),
    )
