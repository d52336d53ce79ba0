"""Users with JWT bearer tokens, verified with PyJWT, and the claims that say who they are.

HS256 tokens are checked with `CONDUIT_JWT_SECRET`; RS256 / ES256 (and RS384/512, ES384, PS256) tokens with the keys
published at `CONDUIT_JWT_JWKS_URL` — never one algorithm with the other's key (the header's `alg` picks the
source, and each source accepts only its own algorithms). `exp` is required; `exp`, `nbf`, `iss` (when
`CONDUIT_JWT_ISSUER` is set) and `aud` are checked with `CONDUIT_JWT_LEEWAY_SECONDS` of clock skew (default 60).
A JWKS provider is a third party that issues tokens for many applications, so with a JWKS URL the audience must be
configured: without it every token would be refused rather than every application's token accepted.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from shared.errors import UnauthorizedError
from shared.identity.jwks import JwksKeys
from shared.identity.settings import AuthSettings, ClaimNames
from shared.identity.verified_tokens import VerifiedTokens

HMAC_ALGORITHMS = ("HS256",)
PUBLIC_KEY_ALGORITHMS = ("RS256", "RS384", "RS512", "ES256", "ES384", "PS256")


@dataclass(frozen=True)
class Identity:
    """Who a verified token (or Easy Auth principal) says the user is."""

    user_id: str
    email: str | None
    name: str | None
    organization_id: str | None
    roles: frozenset[str]


def looks_like_token(credential: str) -> bool:
    """A JWT has three dot-separated parts; Conduit's API keys and the admin key never carry two dots."""
    return credential.count(".") == 2


class TokenVerifier:
    """Verifies tokens; holds the JWKS caches (one per URL) across requests."""

    def __init__(self) -> None:
        self._jwks: dict[str, JwksKeys] = {}
        self.verified: VerifiedTokens[Identity] = VerifiedTokens()

    def jwks(self, url: str) -> JwksKeys:
        keys = self._jwks.get(url)
        if keys is None:
            keys = self._jwks[url] = JwksKeys(url)
        return keys

    async def verify(self, token: str, settings: AuthSettings) -> Identity:
        """The identity in a valid token; UnauthorizedError saying what is wrong otherwise. A token verified
        before with the same settings is not verified again while it is valid (verified_tokens.py)."""
        known = self.verified.get(token, settings)
        if known is not None:
            return known
        import jwt  # on first use: PyJWT and its cryptography take ~50 ms to import, which every host start would pay

        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise UnauthorizedError("Invalid token: it is not a JWT.") from None
        algorithm = header.get("alg")
        key: Any
        still_published: Callable[[], bool] | None = None
        if algorithm in HMAC_ALGORITHMS and settings.jwt_secret:
            key = settings.jwt_secret
        elif algorithm in PUBLIC_KEY_ALGORITHMS and settings.jwks_url:
            if not settings.audience:
                raise UnauthorizedError("Tokens are not accepted: set CONDUIT_JWT_AUDIENCE beside the JWKS URL.")
            jwks = self.jwks(settings.jwks_url)
            kid = header.get("kid")
            key = await jwks.key(kid, settings.jwks_cache_seconds, settings.jwks_min_refetch_seconds)
            still_published = functools.partial(jwks.publishes, kid, key)
        else:
            raise UnauthorizedError(f"Invalid token: algorithm {algorithm!r} is not accepted here.")
        claims = _decode(token, key, str(algorithm), settings)
        identity = identity_from_claims(claims, settings.claims)
        self.verified.put(token, settings, identity, claims.get("exp"), still_published)
        return identity


def _decode(token: str, key: Any, algorithm: str, settings: AuthSettings) -> dict[str, Any]:
    import jwt

    options: Any = {"require": ["exp"], "verify_aud": bool(settings.audience), "verify_iss": bool(settings.issuer)}
    try:
        return jwt.decode(
            token, key, algorithms=[algorithm], audience=settings.audience or None, issuer=settings.issuer or None,
            leeway=settings.leeway_seconds, options=options,
        )
    except jwt.ExpiredSignatureError:
        raise UnauthorizedError("Invalid token: it has expired.") from None
    except jwt.ImmatureSignatureError:
        raise UnauthorizedError("Invalid token: it is not valid yet (nbf).") from None
    except jwt.InvalidAudienceError:
        raise UnauthorizedError("Invalid token: it was issued for another audience.") from None
    except jwt.InvalidIssuerError:
        raise UnauthorizedError("Invalid token: it was issued by another issuer.") from None
    except jwt.InvalidSignatureError:
        raise UnauthorizedError("Invalid token: its signature does not verify.") from None
    except jwt.PyJWTError as error:
        raise UnauthorizedError(f"Invalid token: {error}.") from None


def identity_from_claims(claims: Mapping[str, Any], names: ClaimNames) -> Identity:
    """Read the configured claims; a token without a user id names nobody."""
    user_id = _text(claims.get(names.user_id))
    if not user_id:
        raise UnauthorizedError(f"Invalid token: it has no '{names.user_id}' claim naming the user.")
    return Identity(
        user_id=user_id,
        email=_text(claims.get(names.email)),
        name=_text(claims.get(names.name)),
        organization_id=_text(claims.get(names.org)),
        roles=frozenset(_roles(claims.get(names.roles))),
    )


def _text(value: Any) -> str | None:
    if isinstance(value, list) and len(value) == 1:
        value = value[0]
    return str(value) if isinstance(value, str | int) and not isinstance(value, bool) and str(value) else None


def _roles(value: Any) -> Iterable[str]:
    """Roles as a list (Entra's `roles`), or one space-separated string (OAuth's `scope` style)."""
    if isinstance(value, str):
        return value.split()
    if isinstance(value, list):
        return [item for item in value if isinstance(item, str)]
    return []
