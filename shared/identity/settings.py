"""The authentication settings (`CONDUIT_*`), read once per distinct environment rather than once per request.

Tests and operators change settings at run time (`monkeypatch.setenv`, an app-settings restart), so the values are
looked up every request, but parsing happens only when they changed: one tuple of environment reads per request.
"""

from __future__ import annotations

import functools
import logging
import os
from dataclasses import dataclass

log = logging.getLogger("conduit.identity")

ADMIN_KEY = "CONDUIT_ADMIN_KEY"
CACHE_SECONDS = "CONDUIT_AUTH_CACHE_SECONDS"
LAST_USE_FLUSH_SECONDS = "CONDUIT_KEY_LAST_USE_FLUSH_SECONDS"
TRUST_EASY_AUTH = "CONDUIT_TRUST_EASY_AUTH"
JWT_SECRET = "CONDUIT_JWT_SECRET"
JWKS_URL = "CONDUIT_JWT_JWKS_URL"
JWKS_CACHE_SECONDS = "CONDUIT_JWT_JWKS_CACHE_SECONDS"
JWKS_MIN_REFETCH_SECONDS = "CONDUIT_JWT_JWKS_MIN_REFETCH_SECONDS"
ISSUER = "CONDUIT_JWT_ISSUER"
AUDIENCE = "CONDUIT_JWT_AUDIENCE"
LEEWAY_SECONDS = "CONDUIT_JWT_LEEWAY_SECONDS"
TOKEN_CACHE_SECONDS = "CONDUIT_JWT_CACHE_SECONDS"
CLAIMS = {
    "user_id": ("CONDUIT_JWT_CLAIM_USER_ID", "sub"),
    "email": ("CONDUIT_JWT_CLAIM_EMAIL", "email"),
    "name": ("CONDUIT_JWT_CLAIM_NAME", "name"),
    "org": ("CONDUIT_JWT_CLAIM_ORG", "org_id"),
    "roles": ("CONDUIT_JWT_CLAIM_ROLES", "roles"),
}
_NAMES = (ADMIN_KEY, CACHE_SECONDS, LAST_USE_FLUSH_SECONDS, TRUST_EASY_AUTH, JWT_SECRET, JWKS_URL,
          JWKS_CACHE_SECONDS, JWKS_MIN_REFETCH_SECONDS, ISSUER, AUDIENCE, LEEWAY_SECONDS, TOKEN_CACHE_SECONDS,
          *(name for name, _ in CLAIMS.values()))


@dataclass(frozen=True)
class ClaimNames:
    """Which claim of a token (or Easy Auth principal) carries each fact about the user."""

    user_id: str = "sub"
    email: str = "email"
    name: str = "name"
    org: str = "org_id"
    roles: str = "roles"


@dataclass(frozen=True)
class AuthSettings:
    """Everything authentication is configured with."""

    admin_key: str = ""
    cache_seconds: float = 5.0
    last_use_flush_seconds: float = 60.0
    trust_easy_auth: bool = False
    jwt_secret: str = ""
    jwks_url: str = ""
    jwks_cache_seconds: float = 3600.0
    jwks_min_refetch_seconds: float = 10.0
    issuer: str = ""
    audience: str = ""
    leeway_seconds: float = 60.0
    token_cache_seconds: float = 300.0
    claims: ClaimNames = ClaimNames()

    @property
    def jwt_enabled(self) -> bool:
        return bool(self.jwt_secret or self.jwks_url)

    @classmethod
    def from_env(cls) -> AuthSettings:
        return _parse(tuple(os.environ.get(name, "").strip() for name in _NAMES))


@functools.lru_cache(maxsize=8)
def _parse(values: tuple[str, ...]) -> AuthSettings:
    raw = dict(zip(_NAMES, values, strict=True))
    claims = ClaimNames(**{field: raw[name] or default for field, (name, default) in CLAIMS.items()})
    return AuthSettings(
        admin_key=raw[ADMIN_KEY],
        cache_seconds=_seconds(raw, CACHE_SECONDS, 5.0),
        last_use_flush_seconds=_seconds(raw, LAST_USE_FLUSH_SECONDS, 60.0),
        trust_easy_auth=raw[TRUST_EASY_AUTH].lower() in ("1", "true", "yes"),
        jwt_secret=raw[JWT_SECRET],
        jwks_url=raw[JWKS_URL],
        jwks_cache_seconds=_seconds(raw, JWKS_CACHE_SECONDS, 3600.0),
        jwks_min_refetch_seconds=_seconds(raw, JWKS_MIN_REFETCH_SECONDS, 10.0),
        issuer=raw[ISSUER],
        audience=raw[AUDIENCE],
        leeway_seconds=_seconds(raw, LEEWAY_SECONDS, 60.0),
        token_cache_seconds=_seconds(raw, TOKEN_CACHE_SECONDS, 300.0),
        claims=claims,
    )


def _seconds(raw: dict[str, str], name: str, default: float) -> float:
    text = raw[name]
    if not text:
        return default
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not 0 <= value < 10**7:
        log.warning("ignoring %s=%r: not a number of seconds >= 0; using %g", name, text, default)
        return default
    return value
