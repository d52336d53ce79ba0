"""Signing keys of an identity provider, from its JWKS URL: fetched without blocking the event loop, cached, and
fetched again when a token names a key id (`kid`) not in the cache — how a provider's key rotation is picked up.

A refetch for an unknown kid happens at most once per `CONDUIT_JWT_JWKS_MIN_REFETCH_SECONDS` (default 10): tokens
with made-up kids cannot make Conduit hammer the provider. The whole set is also refreshed after
`CONDUIT_JWT_JWKS_CACHE_SECONDS` (default 3600), so a key the provider withdrew stops being accepted.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

import httpx

if TYPE_CHECKING:
    from jwt import PyJWK

from shared.errors import UnauthorizedError

log = logging.getLogger("conduit.identity")
FETCH_TIMEOUT_SECONDS = 5.0


class JwksKeys:
    """The keys of one JWKS URL, by kid."""

    def __init__(self, url: str, clock: Callable[[], float] = time.monotonic) -> None:
        self.url = url
        self._clock = clock
        self._keys: dict[str, PyJWK] = {}
        self._fetched_at: float | None = None
        self._lock = asyncio.Lock()
        self.fetches = 0  # how many times the set was fetched (for tests and the health of a deployment)

    async def key(self, kid: str | None, max_age: float, min_refetch: float) -> PyJWK:
        """The key a token names; UnauthorizedError when the provider does not (or no longer) have it."""
        now = self._clock()
        stale = self._fetched_at is None or now - self._fetched_at >= max_age
        found = self._find(kid)
        if found is not None and not stale:
            return found
        async with self._lock:
            now = self._clock()
            fresh_enough = self._fetched_at is not None and now - self._fetched_at < min_refetch
            if not fresh_enough and (stale or self._find(kid) is None):
                await self._fetch()
        found = self._find(kid)
        if found is None:
            raise UnauthorizedError("Invalid token: it is signed with a key the identity provider does not publish.")
        return found

    def publishes(self, kid: str | None, key: PyJWK) -> bool:
        """Whether `key` is still the one the set (as last fetched) has for `kid`: a token verified with a key the
        provider has since withdrawn is not trusted from memory (verified_tokens.py)."""
        return self._find(kid) is key

    def _find(self, kid: str | None) -> PyJWK | None:
        if kid is None:
            return next(iter(self._keys.values())) if len(self._keys) == 1 else None
        return self._keys.get(kid)

    async def _fetch(self) -> None:
        try:
            async with httpx.AsyncClient(timeout=FETCH_TIMEOUT_SECONDS) as client:
                response = await client.get(self.url)
                response.raise_for_status()
                document = response.json()
        except (httpx.HTTPError, ValueError) as error:
            log.warning("could not fetch the JWKS at %s: %s", self.url, error)
            self._fetched_at = self._clock()  # the rate limit holds for failed fetches too
            if not self._keys:
                raise UnauthorizedError("Invalid token: the identity provider's keys could not be fetched.") from None
            return
        self._keys = _parse(document)
        self._fetched_at = self._clock()
        self.fetches += 1


def _parse(document: Any) -> dict[str, PyJWK]:
    import jwt  # on first use (tokens.py says why)

    keys: dict[str, PyJWK] = {}
    for entry in document.get("keys", []) if isinstance(document, dict) else []:
        if not isinstance(entry, dict) or entry.get("use", "sig") != "sig":
            continue
        try:
            key = jwt.PyJWK(entry)
        except jwt.PyJWTError as error:  # a key type or algorithm PyJWT does not know: skip it, keep the others
            log.info("skipping JWKS key %s: %s", entry.get("kid"), error)
            continue
        keys[str(entry.get("kid", ""))] = key
    return keys
