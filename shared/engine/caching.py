"""The cache layer of a data provider's pipeline (being built: issue 10)."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING

from shared.models import ExecutionResult

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

Step = Callable[["Invocation"], Awaitable[ExecutionResult]]


class ProviderCache:
    """Two tiers (in-process LRU, shared Table storage), single flight, stale-while-revalidate, invalidation."""


def cached(cache_of: Callable[[], ProviderCache | None], call: Step) -> Step:
    """Answer from the cache without calling the provider on a hit; on a miss run it and store its options."""

    async def run(invocation: Invocation) -> ExecutionResult:
        return await call(invocation)

    return run
