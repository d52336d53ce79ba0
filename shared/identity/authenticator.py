"""Who is calling: the one place an HTTP request's headers become a `Caller`.

In this order: the bootstrap admin key (`CONDUIT_ADMIN_KEY`, a platform admin), an API key (`cdk_...`: a point read
of its row), a JWT bearer token (three dot-separated parts; tokens.py), and — only with `CONDUIT_TRUST_EASY_AUTH=true`
— App Service's `X-MS-CLIENT-PRINCIPAL` (easy_auth.py). Then the caller's organization must exist and be active
(else 403), and `X-Organization-Id` is checked: a platform admin picks any scope with it, anyone else may only name
its own organization (another one is 403, whether it exists or not, so the answer tells nothing about it).

Warm requests cost no storage request: key rows and organization rows are cached in process for
`CONDUIT_AUTH_CACHE_SECONDS` (default 5). That bound is also how a revoked key or a deactivated organization
reaches every instance: within that many seconds (at once on the instance that made the change). A key's last use
is noted in memory and written at most once a minute per key (last_use.py).
"""

from __future__ import annotations

from collections.abc import Mapping

from shared.errors import ForbiddenError, UnauthorizedError
from shared.identity import auth
from shared.identity.cache import TtlCache
from shared.identity.easy_auth import PRINCIPAL_HEADER, principal_identity
from shared.identity.last_use import LastUse
from shared.identity.settings import AuthSettings
from shared.identity.tokens import Identity, TokenVerifier, looks_like_token
from shared.models import GLOBAL_SCOPE, ORG_ADMIN, ORG_USER, PLATFORM_ADMIN, Caller, CallerKind, utc_now
from shared.storage.api_keys import ApiKey, ApiKeyStore, key_id_of
from shared.storage.organizations import Organization, OrganizationStore

MISSING = "Missing API key: send 'Authorization: Bearer <key or token>' or 'x-api-key: <key>'."


class Authenticator:
    """Resolves callers over one storage account's keys and organizations; one per runtime (event loop)."""

    def __init__(self, keys: ApiKeyStore, organizations: OrganizationStore) -> None:
        self.keys = keys
        self.organizations = organizations
        self.tokens = TokenVerifier()
        self._key_rows: TtlCache[ApiKey] = TtlCache()
        self._org_rows: TtlCache[Organization] = TtlCache()
        self._last_use = LastUse(keys.record_use)

    async def ensure_tables(self) -> None:
        await self.keys.ensure_table()
        await self.organizations.ensure_table()

    async def close(self) -> None:
        await self._last_use.close()
        await self.keys.close()
        await self.organizations.close()

    async def authenticate(self, headers: Mapping[str, str], client_address: str | None = None) -> Caller:
        """The caller behind the headers; UnauthorizedError (401) or ForbiddenError (403) saying what is wrong."""
        settings = AuthSettings.from_env()
        credential = auth.presented_key(headers)
        if credential is not None and auth.is_admin_key(credential, settings.admin_key):
            return auth.admin_caller(headers)
        if credential is not None and key_id_of(credential) is not None:
            return await self._api_key_caller(credential, headers, settings)
        trusted_principal = settings.trust_easy_auth and bool(headers.get(PRINCIPAL_HEADER))
        if credential is not None and looks_like_token(credential) and settings.jwt_enabled:
            identity = await self.tokens.verify(credential, settings)
            return await self._user_caller(identity, headers, settings)
        principal = principal_identity(headers, settings.claims) if trusted_principal else None
        if principal is not None:
            return await self._user_caller(principal, headers, settings)
        if credential is None:
            raise UnauthorizedError(MISSING)
        raise UnauthorizedError("Invalid API key.")

    async def optional(self, headers: Mapping[str, str], client_address: str | None = None) -> Caller | None:
        """The caller, or None when the request carries no valid credentials (public routes that show more to
        callers they know)."""
        try:
            return await self.authenticate(headers, client_address)
        except (UnauthorizedError, ForbiddenError):
            return None

    def forget_key(self, key_id: str) -> None:
        """This instance refuses a key it just revoked at once (others within the cache period)."""
        self._key_rows.forget(key_id)

    def forget_organization(self, organization_id: str) -> None:
        self._org_rows.forget(organization_id)

    async def organization(self, organization_id: str, settings: AuthSettings | None = None) -> Organization | None:
        """The organization's row, from the cache when read within the cache period."""
        seconds = (settings or AuthSettings.from_env()).cache_seconds
        return await self._org_rows.get(organization_id, seconds, self.organizations.get)

    async def flush_last_use(self) -> int:
        return await self._last_use.flush()

    async def _api_key_caller(self, secret: str, headers: Mapping[str, str], settings: AuthSettings) -> Caller:
        key_id = key_id_of(secret)
        assert key_id is not None
        key = await self._key_rows.get(key_id, settings.cache_seconds, self.keys.get)
        if key is None or not key.matches(secret):
            raise UnauthorizedError("Invalid API key.")
        now = utc_now()
        if key.revoked:
            raise UnauthorizedError("This API key was revoked.")
        if key.expired(now):
            raise UnauthorizedError("This API key has expired.")
        allowlist = await self._active_allowlist(key.org_id, settings)
        self._last_use.note(key.id, now, settings.last_use_flush_seconds)
        return Caller(
            user_id=f"key:{key.id}", name=key.name, scope=_own_scope(key.org_id, headers),
            roles=frozenset({ORG_USER}), organization_id=key.org_id, kind="api_key", key_id=key.id,
            workflows=frozenset(key.workflows) if key.workflows is not None else None,
            organization_allowlist=allowlist,
        )

    async def _user_caller(self, identity: Identity, headers: Mapping[str, str], settings: AuthSettings) -> Caller:
        """A signed-in user: PlatformAdmin, OrgAdmin or OrgUser (the default) of its organization."""
        kind: CallerKind = "user"
        if PLATFORM_ADMIN in identity.roles:
            return Caller(user_id=identity.user_id, email=identity.email, name=identity.name, is_platform_admin=True,
                          scope=auth.requested_scope(headers) or GLOBAL_SCOPE, roles=identity.roles, kind=kind)
        if identity.organization_id is None:
            raise ForbiddenError("Your token names no organization; only platform admins act without one.")
        role = ORG_ADMIN if ORG_ADMIN in identity.roles else ORG_USER
        allowlist = await self._active_allowlist(identity.organization_id, settings)
        return Caller(
            user_id=identity.user_id, email=identity.email, name=identity.name,
            scope=_own_scope(identity.organization_id, headers), roles=(identity.roles - {ORG_ADMIN}) | {role},
            organization_id=identity.organization_id, kind=kind, organization_allowlist=allowlist,
        )

    async def _active_allowlist(self, organization_id: str | None, settings: AuthSettings) -> frozenset[str] | None:
        """The organization's allowlist; ForbiddenError when it is inactive or gone (None: a global caller)."""
        if organization_id is None:
            return None
        organization = await self.organization(organization_id, settings)
        if organization is None or not organization.is_active:
            raise ForbiddenError(f"Organization '{organization_id}' is not active.")
        allowed = organization.allowed_workflows
        return frozenset(allowed) if allowed is not None else None


def _own_scope(organization_id: str | None, headers: Mapping[str, str]) -> str:
    """A caller who is no platform admin acts in its own organization (GLOBAL for a global key); naming another
    one in X-Organization-Id is refused."""
    own = organization_id or GLOBAL_SCOPE
    requested = auth.requested_scope(headers)
    if requested is not None and requested != own:
        raise ForbiddenError("X-Organization-Id names an organization you do not belong to.")
    return own

