"""Who is calling: the one place an HTTP request becomes a `Caller`.

Until the authentication model lands, every protected route takes the admin key from setting `CONDUIT_ADMIN_KEY`
(`Authorization: Bearer <key>` or `x-api-key: <key>`), compared in constant time. A platform admin may act in an
organization's scope by sending `X-Organization-Id`; without it the scope is GLOBAL.
"""

from __future__ import annotations

import hmac
import os
import re
from collections.abc import Mapping

from shared.errors import FieldError, InputValidationError, UnauthorizedError
from shared.models import GLOBAL_SCOPE, Caller

ADMIN_KEY_SETTING = "CONDUIT_ADMIN_KEY"
ORGANIZATION_HEADER = "x-organization-id"
_SCOPE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:-]{0,127}$")
_KEY_PATTERN = re.compile(r"[\x21-\x7e]{1,1024}")


def presented_key(headers: Mapping[str, str]) -> str | None:
    """The key sent as `Authorization: Bearer <key>` or `x-api-key: <key>`, if any.

    Keys are printable ASCII. A header with any other byte is refused here, before any comparison: hosts hand such
    bytes over differently (devhost's aiohttp as lone surrogates that cannot even be encoded, a Latin-1 decoding
    host as accented letters), and every one of those forms must be a 401, never a 500."""
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


def resolve_caller(headers: Mapping[str, str]) -> Caller:
    """The caller behind a request's headers, or `UnauthorizedError` saying what is missing or wrong."""
    key = presented_key(headers)
    if key is None:
        raise UnauthorizedError("Missing API key: send 'Authorization: Bearer <key>' or 'x-api-key: <key>'.")
    admin_key = os.environ.get(ADMIN_KEY_SETTING, "")
    if not admin_key or not hmac.compare_digest(key.encode(), admin_key.encode()):
        raise UnauthorizedError("Invalid API key.")
    return Caller(user_id="admin", name="Platform admin", is_platform_admin=True, scope=_requested_scope(headers))


def _requested_scope(headers: Mapping[str, str]) -> str:
    scope = (headers.get(ORGANIZATION_HEADER) or "").strip()
    if not scope:
        return GLOBAL_SCOPE
    if not _SCOPE_PATTERN.match(scope):
        raise InputValidationError(
            [FieldError("X-Organization-Id", "must be 1-128 letters, digits, '-', '_', '.' or ':'")]
        )
    return scope
