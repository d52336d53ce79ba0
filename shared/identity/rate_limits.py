"""Rate limits: a token bucket per API key and per client address, in process, with no storage request at all.

Each bucket holds up to one minute's allowance and refills continuously (limit/60 tokens a second), so a client may
burst its whole minute at once and then goes at the limit's pace. A request that finds no token is refused with the
seconds until one is there (429 + Retry-After).

Across instances the limit holds approximately, by division: each instance enforces
`ceil(limit / CONDUIT_INSTANCE_COUNT_HINT)`. Azure's front end spreads requests over instances roughly evenly (it
does not pin clients to an instance), so with N instances and the hint set to N a client gets about `limit` a
minute in all; with fewer instances running than the hint it gets less, with more it gets more. Sharing counts
through storage would cost requests on every call (or a sync loop per instance) for a limit that is a guard against
floods, not a billing meter; the division costs nothing and is off by at most the ratio of instances running to
the hint. Buckets live in a bounded map (the least recently used beyond 10,000 are forgotten, i.e. start full again),
so a flood of addresses cannot grow memory without bound.

Settings: CONDUIT_RATE_LIMIT_PER_MINUTE (per API key and per signed endpoint, default 600),
CONDUIT_PUBLIC_RATE_LIMIT_PER_MINUTE (per client address on public endpoints, default 60),
CONDUIT_INSTANCE_COUNT_HINT (default 1). 0 turns a limit off.
"""

from __future__ import annotations

import logging
import math
import os
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

from shared.errors import RateLimitedError

log = logging.getLogger("conduit.rate_limits")

KEY_LIMIT_SETTING = "CONDUIT_RATE_LIMIT_PER_MINUTE"
PUBLIC_LIMIT_SETTING = "CONDUIT_PUBLIC_RATE_LIMIT_PER_MINUTE"
INSTANCES_SETTING = "CONDUIT_INSTANCE_COUNT_HINT"
DEFAULT_KEY_LIMIT = 600
DEFAULT_PUBLIC_LIMIT = 60
MAX_BUCKETS = 10_000


@dataclass
class _Bucket:
    tokens: float
    updated: float


class TokenBuckets:
    """Buckets of `per_minute` tokens by name; `take(name)` spends one or says how long until one is there."""

    def __init__(self, per_minute: int, *, clock: Callable[[], float] = time.monotonic,
                 max_buckets: int = MAX_BUCKETS) -> None:
        self.per_minute = per_minute
        self._rate = per_minute / 60.0
        self._clock = clock
        self._max = max_buckets
        self._buckets: OrderedDict[str, _Bucket] = OrderedDict()
        self._lock = threading.Lock()

    def take(self, name: str) -> float:
        """0 when a token was spent; else the seconds until the next token."""
        now = self._clock()
        with self._lock:
            bucket = self._buckets.pop(name, None) or _Bucket(float(self.per_minute), now)
            bucket.tokens = min(float(self.per_minute), bucket.tokens + (now - bucket.updated) * self._rate)
            bucket.updated = now
            self._buckets[name] = bucket  # most recently used last
            if len(self._buckets) > self._max:
                self._buckets.popitem(last=False)
            if bucket.tokens >= 1.0:
                bucket.tokens -= 1.0
                return 0.0
            return (1.0 - bucket.tokens) / self._rate


_limiters: dict[tuple[str, int], TokenBuckets] = {}
_limiters_lock = threading.Lock()


def check(kind: str, name: str) -> None:
    """Spend one request of `name` ("key:<id>", "address:<ip>", "endpoint:<name>") under the `kind` limit
    ("key" or "public"); RateLimitedError (429) with Retry-After when none is left."""
    limit = instance_limit(kind)
    if limit == 0:
        return
    wait = _limiter(kind, limit).take(name)
    if wait > 0:
        retry_after = max(1, math.ceil(wait))
        raise RateLimitedError(
            f"Too many requests: the limit is {limit} a minute{' on this instance' if _instances() > 1 else ''}. "
            f"Try again in {retry_after} s.",
            retry_after_seconds=retry_after,
            details={"limit_per_minute": limit, "retry_after_seconds": retry_after},
        )


def instance_limit(kind: str) -> int:
    """This instance's share of the `kind` limit a minute (0: no limit)."""
    setting, default = (PUBLIC_LIMIT_SETTING, DEFAULT_PUBLIC_LIMIT) if kind == "public" else (KEY_LIMIT_SETTING,
                                                                                               DEFAULT_KEY_LIMIT)
    total = _setting(setting, default)
    return 0 if total == 0 else max(1, math.ceil(total / _instances()))


def _instances() -> int:
    return max(1, _setting(INSTANCES_SETTING, 1))


def _limiter(kind: str, limit: int) -> TokenBuckets:
    """One set of buckets per kind and limit: a changed setting starts fresh buckets (tests change it)."""
    with _limiters_lock:
        limiter = _limiters.get((kind, limit))
        if limiter is None:
            limiter = _limiters[(kind, limit)] = TokenBuckets(limit)
        return limiter


def _setting(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    if not raw:
        return default
    try:
        value = int(raw)
    except ValueError:
        value = -1
    if value < 0:
        _warn_once(name, raw, default)
        return default
    return value


_warned: set[str] = set()


def _warn_once(name: str, raw: str, default: int) -> None:
    if name not in _warned:
        _warned.add(name)
        log.warning("ignoring %s=%r: not a whole number >= 0; using %d", name, raw, default)
