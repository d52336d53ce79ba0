"""An async workflow's first read of a cold scope makes the event loop wait: storage trouble holds the loop (and so
every other execution on it) at most BLOCKING_READ's 2 s, then the read fails in the workflow saying why. Slow
storage comes from the fault seam (shared/storage/faults.py), on real Azurite; a task ticking on the loop measures
how long the loop was held."""

from __future__ import annotations

import asyncio

from shared.engine.config import ConfigReader
from shared.engine.core import Engine
from shared.functions.registry import FunctionRegistry
from shared.models import ExecutionStatus
from shared.storage import faults
from shared.storage.config import BLOCKING_READ, ConfigStore
from shared.storage.secret_box import SecretBox
from tests.config.conftest import run

SLOW_MS = 8000  # far beyond the bound: without it the loop would stand still this long


class Ticker:
    """Ticks on the loop every 50 ms and remembers the longest gap between two ticks: how long the loop was held."""

    def __init__(self) -> None:
        self.worst = 0.0
        self._task: asyncio.Task[None] | None = None

    async def __aenter__(self) -> Ticker:
        self._task = asyncio.create_task(self._tick())
        await asyncio.sleep(0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self._task is not None
        await asyncio.sleep(0.2)  # a tick due while the loop was held runs now, and measures the gap
        self._task.cancel()

    async def _tick(self) -> None:
        loop = asyncio.get_running_loop()
        last = loop.time()
        while True:
            await asyncio.sleep(0.05)
            now = loop.time()
            self.worst = max(self.worst, now - last)
            last = now


async def test_a_cold_read_during_a_storage_slowdown_holds_the_loop_at_most_the_bound_and_fails_clearly(
    config_registry: FunctionRegistry, config_store: ConfigStore, org: str, key: str, secrets_key: SecretBox
) -> None:
    # Given a value of the organization, and an engine whose config cache for it is cold
    await config_store.put(org, key, "string", "stored", "admin", secrets_key)
    engine = Engine(config_registry, config=ConfigReader(config_store, ttl=60))
    try:
        # When storage takes 8 s to answer the config read of an async workflow (which runs on the loop)
        rule = {"match": "table.ConduitConfig.query", "fault": "latency", "latency_ms": SLOW_MS, "times": 1}
        with faults.injected([rule]):
            async with Ticker() as ticker:
                result = await run(engine, "cfg_async", org, key=key)
        # Then the loop was held about the bound (2 s), not the 8 s (generous margin for a shared machine)
        assert ticker.worst >= 1.0, "the ticker saw the loop held: the read did block it, as designed"
        assert ticker.worst < BLOCKING_READ.total_timeout + 2.5, ticker.worst
        # And the workflow failed saying the config could not be read in time, with no value made up
        assert result.status is ExecutionStatus.FAILED
        assert result.error_type == "StorageUnavailableError"
        assert f"within {BLOCKING_READ.total_timeout:g} s" in (result.error_message or "")
        # When storage answers again, Then the next run reads the stored value
        assert (await run(engine, "cfg_async", org, key=key)).result == {"value": "stored"}
    finally:
        engine.close()
