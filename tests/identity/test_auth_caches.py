"""The in-process caches that make a warm credential cost no storage request and no signature check: verified
tokens (bounded by count, by the token's expiry and by CONDUIT_JWT_CACHE_SECONDS, per settings) and the row cache's
single read when an entry expires under load."""

from __future__ import annotations

import asyncio
import time
from dataclasses import replace
from typing import Any

import jwt
import pytest

from shared.errors import UnauthorizedError
from shared.identity.cache import TtlCache
from shared.identity.settings import AuthSettings
from shared.identity.tokens import TokenVerifier
from shared.identity.verified_tokens import VerifiedTokens

SETTINGS = AuthSettings(jwt_secret="s" * 40, leeway_seconds=60, token_cache_seconds=300)


class Clocks:
    def __init__(self) -> None:
        self.mono, self.wall = 1000.0, 1_700_000_000.0


def tokens(clocks: Clocks, max_entries: int = 10) -> VerifiedTokens[str]:
    return VerifiedTokens(max_entries, clock=lambda: clocks.mono, wall=lambda: clocks.wall)


def test_an_entry_lives_until_the_tokens_expiry_plus_leeway_at_most_the_setting() -> None:
    clocks = Clocks()
    cache = tokens(clocks)
    # Given a token expiring in 100 s (leeway 60) and one expiring in an hour
    cache.put("short", SETTINGS, "alice", clocks.wall + 100)
    cache.put("long", SETTINGS, "bob", clocks.wall + 3600)
    assert (cache.get("short", SETTINGS), cache.get("long", SETTINGS)) == ("alice", "bob")
    # When 159 s pass, Then both still hold; at 160 s the short one is gone (exp + leeway), the long one not
    clocks.mono += 159
    assert cache.get("short", SETTINGS) == "alice"
    clocks.mono += 1
    assert cache.get("short", SETTINGS) is None and cache.get("long", SETTINGS) == "bob"
    # And the long one is verified again after CONDUIT_JWT_CACHE_SECONDS (300) although valid for longer
    clocks.mono += 140
    assert cache.get("long", SETTINGS) is None


def test_other_settings_a_disabled_cache_and_no_exp_keep_nothing() -> None:
    clocks = Clocks()
    cache = tokens(clocks)
    cache.put("t", SETTINGS, "alice", clocks.wall + 600)
    # A rotated secret (or any other setting) verifies afresh
    assert cache.get("t", replace(SETTINGS, jwt_secret="x" * 40)) is None
    cache.put("t", SETTINGS, "alice", clocks.wall + 600)
    assert cache.get("t", SETTINGS) == "alice"
    off = replace(SETTINGS, token_cache_seconds=0)
    assert cache.get("t", off) is None
    cache.put("u", off, "bob", clocks.wall + 600)
    cache.put("v", SETTINGS, "carol", None)  # a token without exp is never accepted, nor kept
    cache.put("w", SETTINGS, "dan", clocks.wall - 61)  # expired beyond the leeway
    assert len(cache) == 1


def test_a_token_of_a_withdrawn_signing_key_is_not_trusted_from_memory() -> None:
    # Given a JWKS token remembered while its key is published
    clocks, published = Clocks(), {"k1": True}
    cache = tokens(clocks)
    cache.put("t", SETTINGS, "alice", clocks.wall + 600, lambda: published["k1"])
    assert cache.get("t", SETTINGS) == "alice"
    # When the refetched set no longer has the key, Then the token is verified again (and refused there)
    published["k1"] = False
    assert cache.get("t", SETTINGS) is None


def test_bounded_by_count_least_recently_used_out() -> None:
    clocks = Clocks()
    cache = tokens(clocks, max_entries=3)
    for name in "abc":
        cache.put(name, SETTINGS, name, clocks.wall + 600)
    assert cache.get("a", SETTINGS) == "a"  # used: b is now the oldest
    cache.put("d", SETTINGS, "d", clocks.wall + 600)
    assert len(cache) == 3 and cache.get("b", SETTINGS) is None and cache.get("a", SETTINGS) == "a"


async def test_the_verifier_remembers_a_valid_token_and_never_a_bad_one() -> None:
    verifier = TokenVerifier()
    now = int(time.time())
    good = jwt.encode({"sub": "alice", "org_id": "org-a", "exp": now + 600}, SETTINGS.jwt_secret, algorithm="HS256")
    forged = jwt.encode({"sub": "alice", "org_id": "org-a", "exp": now + 600}, "f" * 40, algorithm="HS256")
    # Given a verified token, Then it is remembered, and answered the same from memory
    first = await verifier.verify(good, SETTINGS)
    assert len(verifier.verified) == 1 and await verifier.verify(good, SETTINGS) == first
    # And a forged one is refused every time, never remembered
    for _ in range(2):
        with pytest.raises(UnauthorizedError):
            await verifier.verify(forged, SETTINGS)
    assert len(verifier.verified) == 1
    # And with another secret the remembered token is verified again (and refused)
    with pytest.raises(UnauthorizedError):
        await verifier.verify(good, replace(SETTINGS, jwt_secret="o" * 40))


async def test_an_expired_row_is_read_once_by_concurrent_requests() -> None:
    # Given a row cache and a slow read
    reads: list[str] = []

    async def read(key: str) -> Any:
        reads.append(key)
        await asyncio.sleep(0.05)
        return {"id": key}

    cache: TtlCache[Any] = TtlCache()
    # When 8 requests ask at once for a key nobody read yet, Then one read serves them all
    answers = await asyncio.gather(*(cache.get("org-a", 5, read) for _ in range(8)))
    assert reads == ["org-a"] and all(answer == {"id": "org-a"} for answer in answers)


async def test_a_failed_read_fails_its_waiters_and_is_not_cached() -> None:
    calls = 0

    async def read(key: str) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.01)
        raise OSError("storage down")

    cache: TtlCache[Any] = TtlCache()
    results = await asyncio.gather(*(cache.get("k", 5, read) for _ in range(3)), return_exceptions=True)
    assert calls == 1 and all(isinstance(result, OSError) for result in results)
    with pytest.raises(OSError):
        await cache.get("k", 5, read)
    assert calls == 2
