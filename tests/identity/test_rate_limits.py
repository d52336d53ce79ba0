"""Token buckets and the client address, with a clock the test moves (no sleeping)."""

from __future__ import annotations

import pytest

from shared.errors import RateLimitedError
from shared.identity import rate_limits
from shared.identity.client_address import client_address
from shared.identity.rate_limits import TokenBuckets


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_a_bucket_allows_a_minutes_burst_then_refills_at_the_limits_pace() -> None:
    clock = Clock()
    buckets = TokenBuckets(6, clock=clock)  # 6 a minute: one token every 10 s
    assert [buckets.take("a") for _ in range(6)] == [0.0] * 6
    assert buckets.take("a") == pytest.approx(10.0)  # the seventh waits for the next token
    assert buckets.take("b") == 0.0  # another name has its own bucket
    clock.now += 10
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0


def test_buckets_are_bounded_and_a_forgotten_one_starts_full() -> None:
    buckets = TokenBuckets(1, clock=Clock(), max_buckets=2)
    assert buckets.take("a") == 0.0 and buckets.take("a") > 0
    buckets.take("b")
    buckets.take("c")  # "a" is the least recently used: forgotten
    assert buckets.take("a") == 0.0


def test_each_instance_enforces_its_share_of_the_limit(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUIT_RATE_LIMIT_PER_MINUTE", "100")
    monkeypatch.setenv("CONDUIT_INSTANCE_COUNT_HINT", "3")
    assert rate_limits.instance_limit("key") == 34
    monkeypatch.setenv("CONDUIT_PUBLIC_RATE_LIMIT_PER_MINUTE", "0")
    assert rate_limits.instance_limit("public") == 0
    rate_limits.check("public", "address:anyone")  # 0: no limit, never refused


def test_a_refusal_carries_retry_after_in_whole_seconds(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUIT_PUBLIC_RATE_LIMIT_PER_MINUTE", "7")
    rate_limits.check("public", "address:t")
    for _ in range(6):
        rate_limits.check("public", "address:t")
    with pytest.raises(RateLimitedError) as refused:
        rate_limits.check("public", "address:t")
    assert refused.value.retry_after_seconds == 9  # 60/7 = 8.57 s to the next token, rounded up


def test_the_client_address_is_the_proxys_entry_from_the_right(monkeypatch: pytest.MonkeyPatch) -> None:
    # The client may write anything on the left; the front end's entry (the last) is the peer it saw
    assert client_address({"x-forwarded-for": "1.1.1.1, 203.0.113.5:50123"}) == "203.0.113.5"
    assert client_address({"x-forwarded-for": "[2001:db8::1]:443"}) == "2001:db8::1"
    assert client_address({"x-forwarded-for": "2001:db8::2"}) == "2001:db8::2"
    assert client_address({}) == "unknown"
    # Behind one more proxy that appends (Front Door), the client is the second entry from the right
    monkeypatch.setenv("CONDUIT_PROXY_HOPS", "2")
    assert client_address({"x-forwarded-for": "9.9.9.9, 198.51.100.4, 10.0.0.7:1"}) == "198.51.100.4"
