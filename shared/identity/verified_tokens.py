"""Tokens already verified on this instance, so that a warm token costs a hash and a dict lookup instead of a
signature check (PyJWT's HS256 decode is ~0.25 ms of CPU, RS256 more: per request, that was a third of a trivial
route's rate over HTTP).

Safe because a JWT cannot be revoked anyway: what a verified token says stays true until it expires. An entry
lives until the token's `exp` (plus the clock-skew allowance the verification itself grants), and at most
`CONDUIT_JWT_CACHE_SECONDS` (default 300; 0 turns the cache off) — the bound after which a changed signing key
(a JWKS key withdrawn, a secret rotated) is checked again. Entries are keyed by the token's SHA-256 and by the
settings they were verified with, so a change of secret, issuer, audience or claim names verifies afresh at once,
and a JWKS token's entry holds only while the key set (as last fetched) still publishes the key that signed it: a
key the provider withdraws is refused from memory too, as soon as the set is fetched again.
What can change while a token is valid is not cached here: the organization's `is_active` and allowlist are read
for every request from the organization cache (authenticator.py). Bounded by count (least recently used first out),
so a flood of distinct valid tokens costs memory of at most `max_entries` identities.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from typing import Any, Generic, TypeVar

from shared.identity.settings import AuthSettings

_MAX_ENTRIES = 10_000
T = TypeVar("T")
Check = Callable[[], bool]


class VerifiedTokens(Generic[T]):
    """sha256(token) -> (settings it was verified with, what it said, monotonic time it stops being trusted)."""

    def __init__(self, max_entries: int = _MAX_ENTRIES, clock: Callable[[], float] = time.monotonic,
                 wall: Callable[[], float] = time.time) -> None:
        self._max = max_entries
        self._clock = clock
        self._wall = wall
        self._entries: OrderedDict[bytes, tuple[AuthSettings, T, float, Check | None]] = OrderedDict()

    def get(self, token: str, settings: AuthSettings) -> T | None:
        """What the token said when it was verified with these settings, while that still holds; else None."""
        if settings.token_cache_seconds <= 0:
            return None
        key = _key(token)
        entry = self._entries.get(key)
        if entry is None:
            return None
        verified_with, value, until, still_valid = entry
        if (self._clock() >= until or (verified_with is not settings and verified_with != settings)
                or (still_valid is not None and not still_valid())):
            del self._entries[key]
            return None
        self._entries.move_to_end(key)
        return value

    def put(self, token: str, settings: AuthSettings, value: T, expires: Any, still_valid: Check | None = None) -> None:
        """Remember a verified token until `expires` (its `exp`, Unix seconds) + the leeway, at most the setting,
        and while `still_valid()` (the signing key still published) holds."""
        if settings.token_cache_seconds <= 0 or not isinstance(expires, int | float) or isinstance(expires, bool):
            return
        now = self._clock()
        left = min(settings.token_cache_seconds, float(expires) + settings.leeway_seconds - self._wall())
        if left <= 0:
            return
        self._entries[_key(token)] = (settings, value, now + left, still_valid)
        while len(self._entries) > self._max:
            self._entries.popitem(last=False)

    def __len__(self) -> int:
        return len(self._entries)


def _key(token: str) -> bytes:
    return hashlib.sha256(token.encode()).digest()
