"""The data-provider cache as an admin sees it: invalidate one provider everywhere, purge what has expired.

The cache itself is a layer of the engine (shared/engine/caching.py); this module is what the HTTP route and the
clean-up timer call, so neither holds any of its logic.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from shared.engine.core import Engine
from shared.errors import DataProviderNotFoundError
from shared.identity import policy
from shared.models import Caller

log = logging.getLogger("conduit.cleanup")


@dataclass
class CachePurge:
    """What one purge of the shared tier deleted (or that it could not run)."""

    entries: int = 0
    leases: int = 0
    error: str | None = None

    @property
    def changed(self) -> bool:
        return bool(self.entries or self.leases or self.error)

    def summary(self) -> str:
        if self.error:
            return f"provider cache not purged ({self.error})"
        return f"{self.entries} expired provider cache entries and {self.leases} stale leases purged"


async def invalidate_provider_cache(engine: Engine, caller: Caller, name: str) -> dict[str, Any]:
    """Invalidate `name`'s cached options on every instance: `{"provider", "invalidated", "generation",
    "visible_everywhere_within_seconds"}`. 404 for a name that is no data provider."""
    policy.require_platform_admin(caller, "invalidate a data provider's cache")
    metadata = engine.registry.get(name)
    if metadata is None or not metadata.is_data_provider:
        raise DataProviderNotFoundError(name)
    cache = engine.cache
    generation = await cache.invalidate(metadata.name) if cache is not None else 0
    return {
        "provider": metadata.name,
        "invalidated": True,
        "generation": generation,
        # This instance forgets at once; every other one re-reads the generation at most this long after.
        "visible_everywhere_within_seconds": cache.generation_seconds if cache is not None else 0,
    }


async def purge_provider_cache(engine: Engine) -> CachePurge:
    """Delete expired entries and stale leases of the shared tier; a storage failure is reported, not raised, so
    the rest of the clean-up pass goes on."""
    if engine.cache is None:
        return CachePurge()
    try:
        entries, leases = await engine.cache.purge()
    except Exception as error:
        log.warning("could not purge the provider cache: %s", error)
        return CachePurge(error=type(error).__name__)
    return CachePurge(entries, leases)
