"""Managing organizations: platform admins create, list, change and delete them; an organization's admin reads its
own organization and restricts its users to some global workflows and providers (`allowed_workflows`).

A change reaches every instance's authentication within CONDUIT_AUTH_CACHE_SECONDS (at once on this one): a
deactivated organization's callers get 403 from then on.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from dataclasses import dataclass, replace
from typing import Any

from shared.errors import FieldError, InputValidationError, OrganizationNotFoundError
from shared.identity import policy
from shared.identity.auth import is_organization_id
from shared.identity.authenticator import Authenticator
from shared.models import Caller, utc_now
from shared.storage.organizations import Organization

CHANGEABLE = ("name", "is_active", "allowed_workflows", "retention_days")


@dataclass
class OrganizationService:
    """Organizations over one authenticator's storage; `functions` are the names an allowlist may hold."""

    authenticator: Authenticator
    functions: Collection[str]

    async def create(self, caller: Caller, fields: Mapping[str, Any]) -> Organization:
        policy.check_manages_organizations(caller)
        errors = [] if is_organization_id(fields["id"]) else [
            FieldError("id", "must be 1-128 letters, digits, '-', '_', '.' or ':', starting with a letter or "
                             "digit, and not GLOBAL")]
        check_allowlist(fields.get("allowed_workflows"), self.functions, errors)
        allowed = fields.get("allowed_workflows")
        organization = Organization(
            id=fields["id"], name=fields["name"], is_active=fields.get("is_active", True),
            allowed_workflows=tuple(allowed) if allowed is not None else None, created_at=utc_now(),
            retention_days=fields.get("retention_days"),
        )
        created = await self.authenticator.organizations.create(organization)
        self.authenticator.forget_organization(organization.id)  # a token of it may have been refused (cached) before
        return created

    async def list(self, caller: Caller) -> list[Organization]:
        policy.check_manages_organizations(caller)
        return await self.authenticator.organizations.list()

    async def get(self, caller: Caller, organization_id: str) -> Organization:
        """The organization, to a platform admin or its own admin; anyone else: 404 as if it did not exist."""
        if not policy.check_reads_organization(caller, organization_id) or not is_organization_id(organization_id):
            raise OrganizationNotFoundError(organization_id)
        organization = await self.authenticator.organizations.get(organization_id)
        if organization is None:
            raise OrganizationNotFoundError(organization_id)
        return organization

    async def update(self, caller: Caller, organization_id: str, changes: Mapping[str, Any]) -> Organization:
        """Change the fields given (PATCH; PUT gives them all)."""
        current = await self.get(caller, organization_id)
        policy.check_changes_organization(caller, organization_id, set(changes))
        errors: list[FieldError] = []
        if "allowed_workflows" in changes:
            check_allowlist(changes["allowed_workflows"], self.functions, errors)
        values = {name: changes[name] for name in CHANGEABLE if name in changes}
        if values.get("allowed_workflows") is not None:
            values["allowed_workflows"] = tuple(values["allowed_workflows"])
        updated = await self.authenticator.organizations.replace(replace(current, **values))
        self.authenticator.forget_organization(organization_id)
        return updated

    async def delete(self, caller: Caller, organization_id: str) -> None:
        policy.check_manages_organizations(caller)
        if not is_organization_id(organization_id):
            raise OrganizationNotFoundError(organization_id)
        await self.authenticator.organizations.delete(organization_id)
        self.authenticator.forget_organization(organization_id)


def check_allowlist(allowed: Collection[str] | None, functions: Collection[str], errors: list[FieldError]) -> None:
    """Raise every problem found (with those already in `errors`): an allowlist names registered functions only."""
    errors += [
        FieldError(f"allowed_workflows.{index}", f"no workflow or data provider named '{name}' is registered")
        for index, name in enumerate(allowed or ()) if name not in functions
    ]
    if errors:
        raise InputValidationError(errors, "Invalid request body")
