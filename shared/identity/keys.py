"""Managing API keys: create (the secret is answered once), list (never a secret or hash), revoke.

Who may manage which keys is asked of `policy`; the rows live in `shared.storage.api_keys`. A revoke is seen at once
by this instance (its cached row is dropped) and by every other one within CONDUIT_AUTH_CACHE_SECONDS.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from shared.errors import ApiKeyNotFoundError, FieldError, InputValidationError
from shared.identity import policy
from shared.identity.authenticator import Authenticator
from shared.models import Caller, utc_now
from shared.storage.api_keys import ApiKey, new_secret, secret_hash


@dataclass(frozen=True)
class NewKey:
    """What `POST /api/keys` asks for."""

    name: str
    org_id: str | None = None
    workflows: tuple[str, ...] | None = None
    expires_at: datetime | None = None


@dataclass
class KeyService:
    """API keys over one authenticator's storage; `workflows` are the names a key may be limited to."""

    authenticator: Authenticator
    workflows: Collection[str]

    async def create(self, caller: Caller, wanted: NewKey) -> tuple[ApiKey, str]:
        """The new key and its secret (never stored, never shown again)."""
        org_id = policy.key_owner_for(caller, wanted.org_id)
        await self._check(wanted)
        key_id, secret = new_secret()
        key = ApiKey(id=key_id, name=wanted.name, org_id=org_id, workflows=wanted.workflows,
                     expires_at=wanted.expires_at, created_at=utc_now(), created_by=caller.user_id,
                     hash=secret_hash(secret))
        return await self.authenticator.keys.create(key), secret

    async def list(self, caller: Caller) -> list[ApiKey]:
        every, org_id = policy.keys_listed_for(caller)
        return await self.authenticator.keys.list(org_id, every=every)

    async def revoke(self, caller: Caller, key_id: str) -> ApiKey:
        """Revoke a key the caller manages; another organization's key answers 404 like a missing one."""
        key = await self.authenticator.keys.get(key_id) if _could_be_key_id(key_id) else None
        if key is None:
            raise ApiKeyNotFoundError(key_id)
        policy.check_manages_key(caller, key_id, key.org_id)
        if not key.revoked:
            await self.authenticator.keys.revoke(key_id)
        self.authenticator.forget_key(key_id)
        return ApiKey(**{**key.__dict__, "revoked": True})

    async def _check(self, wanted: NewKey) -> None:
        """Every problem of the request at once."""
        errors = [
            FieldError(f"workflows.{index}", f"no workflow named '{name}' is registered")
            for index, name in enumerate(wanted.workflows or ()) if name not in self.workflows
        ]
        if wanted.expires_at is not None and wanted.expires_at <= utc_now():
            errors.append(FieldError("expires_at", "must be in the future"))
        if wanted.org_id is not None and await self.authenticator.organizations.get(wanted.org_id) is None:
            errors.append(FieldError("org_id", f"no organization with id '{wanted.org_id}' exists"))
        if errors:
            raise InputValidationError(errors, "Invalid request body")


def _could_be_key_id(key_id: str) -> bool:
    return len(key_id) == 16 and all(c in "0123456789abcdef" for c in key_id)
