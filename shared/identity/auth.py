"""Reading credentials from a request's headers, and the bootstrap admin key (which needs no storage).

A credential is sent as `Authorization: Bearer <credential>` or `x-api-key: <credential>`: the admin key from setting
`CONDUIT_ADMIN_KEY`, an API key, or a JWT (see authenticator.py for the order). `X-Organization-Id` names the scope a
caller wants to act in.
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Mapping

from shared.errors import FieldError, InputValidationError, UnauthorizedError
from shared.models import GLOBAL_SCOPE, PLATFORM_ADMIN, Caller

ORGANIZATION_HEADER = "x-organization-id"
_SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,4096}")


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The credential sent as `Authorization: Bearer <key>` or `x-api-key: <key>`, if any.

    Credentials are printable ASCII. A header with any other byte is refused here, before any comparison: hosts hand
    such bytes over differently (devhost's aiohttp as lone surrogates that cannot even be encoded, a Latin-1
    decoding host as accented letters), and every one of those forms must be a 401, never a 500."""
    authorization = headers.get("authorization") or ""
    scheme, _, token = authorization.partition(" ")
    if scheme.lower() == "bearer" and token.strip():
        return _printable(token.strip())
    key = (headers.get("x-api-key") or "").strip()
    return _printable(key) if key else None


def _printable(key: str) -> str:
    if not _KEY_PATTERN.fullmatch(key):
        raise UnauthorizedError("Invalid API key: keys are printable ASCII characters.")
    return key


def is_admin_key(credential: str, admin_key: str) -> bool:
    """Constant-time comparison with the bootstrap admin key (never matches when the setting is empty)."""
    return bool(admin_key) and hmac.compare_digest(credential.encode(), admin_key.encode())


def admin_caller(headers: Mapping[str, str]) -> Caller:
    """The bootstrap admin: a platform admin acting in X-Organization-Id's scope, GLOBAL without it."""
    return Caller(user_id="admin", name="Platform admin", is_platform_admin=True, scope=requested_scope(headers) or
                  GLOBAL_SCOPE, roles=frozenset({PLATFORM_ADMIN}), kind="admin_key")


def requested_scope(headers: Mapping[str, str]) -> str | None:
    """The organization X-Organization-Id names, None without one; 422 for one that cannot be an id."""
    scope = (headers.get(ORGANIZATION_HEADER) or "").strip()
    if not scope:
        return None
    if not _SCOPE_PATTERN.match(scope):
        raise InputValidationError(
            [FieldError("X-Organization-Id", "must be 1-128 letters, digits, '-', '_', '.' or ':'")]
        )
    return scope


def is_organization_id(value: str) -> bool:
    return bool(_SCOPE_PATTERN.match(value)) and value != GLOBAL_SCOPE
