"""Data providers for benchmarks/provider_cache.py: one that answers at once, one that takes 50 ms, both cached."""

import asyncio

from shared import data_provider, param


@data_provider(name="bench_options", description="Ten options per key, at once: cache hits.", cache_ttl_seconds=3600)
@param("key", type="string", required=True)
async def bench_options(key: str) -> list[dict]:
    return [{"label": f"Option {i} of {key}", "value": f"{key}-{i}"} for i in range(10)]


@data_provider(name="bench_slow_options", description="Ten options per key after 50 ms: cache misses.",
               cache_ttl_seconds=3600)
@param("key", type="string", required=True)
async def bench_slow_options(key: str) -> list[dict]:
    await asyncio.sleep(0.05)  # a directory or PSA lookup is rarely faster
    return [{"label": f"Option {i} of {key}", "value": f"{key}-{i}"} for i in range(10)]
