"""Stored config as workflows read it (`context.get_config` / `context.get_secret`): lazily, cached per scope.

Storage requests are the scarce resource, and most executions read no config at all, so nothing is read until a
workflow asks: its first `get_config` / `get_secret` reads the scope's whole config in one partition read (and, for
a key the organization does not have, GLOBAL's in another), kept in process for CONDUIT_CONFIG_CACHE_SECONDS
(default 5). An execution that reads no config costs no request; one that does costs at most one per scope per
cache period on each instance. A PUT or DELETE through this instance drops the scope's copy at once; other
instances see the change within the cache period.

`get_config` is a plain (sync) call, so a read must finish without awaiting:
- from a worker thread (sync workflows, threads a workflow starts) it runs on the engine's loop
  (`run_coroutine_threadsafe`) and the thread waits for it;
- on the loop's own thread (async workflows) the loop cannot run it while the workflow waits, so the read runs in a
  helper thread with a client of its own, and the loop waits for that one request. To make that rare, a function
  seen reading config has its scope's config loaded (awaited, not blocking) before each of its later runs: on each
  instance only a function's first read, and only when the scope's copy is cold, blocks the loop.
  That wait is bounded by BLOCKING_READ (2 s, shared/storage/config.py): when storage does not answer in time,
  `get_config` raises StorageUnavailableError in the workflow rather than falling back to the app setting — a
  fallback would hand the workflow a value other than the stored one (an organization's override, a rotated secret)
  without telling it, and acting on another tenant's config is worse than a run that fails saying why. The helper's
  read is bounded the same way, so it frees its thread; a late answer still fills the cache for the next read.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass

from shared.errors import StorageUnavailableError
from shared.models import GLOBAL_SCOPE
from shared.storage.clients import StorageProfile
from shared.storage.config import BLOCKING_READ, ConfigEntry, ConfigStore
from shared.storage.outage import is_storage_outage

log = logging.getLogger("conduit.config")
CACHE_SETTING = "CONDUIT_CONFIG_CACHE_SECONDS"
DEFAULT_CACHE_SECONDS = 5.0
_WAIT_SECONDS = 20.0  # a sync read waits this long at most: longer than the storage client's own deadline (15 s)
_helpers = ThreadPoolExecutor(max_workers=2, thread_name_prefix="conduit-config")
Entries = dict[str, ConfigEntry]


@dataclass(frozen=True)
class _Snapshot:
    entries: Entries
    expires: float


def cache_seconds() -> float:
    try:
        return max(0.0, float(os.environ.get(CACHE_SETTING, DEFAULT_CACHE_SECONDS)))
    except ValueError:
        log.warning("ignoring %s=%r: not a number of seconds", CACHE_SETTING, os.environ.get(CACHE_SETTING))
        return DEFAULT_CACHE_SECONDS


class ConfigReader:
    """The config of scopes as this instance's executions read it; one per engine (and event loop)."""

    def __init__(self, store: ConfigStore, *, ttl: float | None = None,
                 loop: asyncio.AbstractEventLoop | None = None) -> None:
        self.store = store
        self.ttl = cache_seconds() if ttl is None else ttl
        self.loop = loop or asyncio.get_running_loop()
        self.readers: set[str] = set()  # functions seen reading config: their scope is loaded before they run
        self.reads = 0  # partition reads sent (for tests and figures)
        self._snapshots: dict[str, _Snapshot] = {}
        self._loading: dict[str, asyncio.Future[Entries]] = {}

    def lookup(self, scope: str, key: str) -> ConfigEntry | None:
        """The value a workflow of `scope` sees for `key`: its organization's, else GLOBAL's (sync, any thread)."""
        for where in (scope, GLOBAL_SCOPE) if scope != GLOBAL_SCOPE else (GLOBAL_SCOPE,):
            entry = self.entries_now(where).get(key)
            if entry is not None:
                return entry
        return None

    async def find(self, scope: str, key: str) -> ConfigEntry | None:
        """`lookup` for async code outside executions (webhook secrets): awaits a cold scope instead of blocking."""
        for where in (scope, GLOBAL_SCOPE) if scope != GLOBAL_SCOPE else (GLOBAL_SCOPE,):
            entry = (await self.entries(where)).get(key)
            if entry is not None:
                return entry
        return None

    def invalidate(self, scope: str) -> None:
        """Forget the cached copy of `scope` (after a PUT or DELETE on this instance)."""
        self._snapshots.pop(scope, None)

    async def preload(self, scope: str) -> None:
        """Load what `lookup` will need for `scope`, awaiting instead of blocking; errors are left to `lookup`."""
        try:
            for where in {scope, GLOBAL_SCOPE}:
                await self.entries(where)
        except Exception as error:  # the run goes on; a read it really makes fails there, with the reason
            log.debug("preloading config of %s failed: %s", scope, error)

    async def entries(self, scope: str) -> Entries:
        """The config of `scope`, from the cache or one partition read shared by every concurrent asker."""
        cached = self._fresh(scope)
        if cached is not None:
            return cached
        loading = self._loading.get(scope)
        if loading is None:
            loading = self._loading[scope] = asyncio.ensure_future(self._load(scope))
            loading.add_done_callback(lambda _: self._loading.pop(scope, None))
        return await asyncio.shield(loading)

    def entries_now(self, scope: str) -> Entries:
        """`entries` from sync code: from the cache, else read (see the module docstring for how, per thread)."""
        cached = self._fresh(scope)
        if cached is not None:
            return cached
        if _on_thread_of(self.loop):
            return self._read_while_the_loop_waits(scope)
        if not self.loop.is_running():
            return _helpers.submit(self._read_elsewhere, scope).result(_WAIT_SECONDS)
        return asyncio.run_coroutine_threadsafe(self.entries(scope), self.loop).result(_WAIT_SECONDS)

    def _read_while_the_loop_waits(self, scope: str) -> Entries:
        """A read from the loop's own thread: every execution of the loop waits, so BLOCKING_READ bounds it."""
        bound = BLOCKING_READ.total_timeout
        try:
            return _helpers.submit(self._read_elsewhere, scope, BLOCKING_READ).result(bound)
        except TimeoutError:  # concurrent.futures.TimeoutError is this one since 3.11
            raise StorageUnavailableError(
                f"The config of {scope} could not be read within {bound:g} s: storage is slow or unavailable. "
                "Try again shortly."
            ) from None

    def _fresh(self, scope: str) -> Entries | None:
        snapshot = self._snapshots.get(scope)
        if snapshot is None or snapshot.expires <= time.monotonic():
            return None
        return snapshot.entries

    async def _load(self, scope: str) -> Entries:
        return self._keep(scope, await _read(self.store, scope))

    def _read_elsewhere(self, scope: str, profile: StorageProfile | None = None) -> Entries:
        """One read on a loop and client of this helper thread's own (the engine's loop is waiting for it); with a
        `profile`, the whole read is bounded by its total time too, so the thread is never held longer."""
        account = self.store.account
        assert account is not None, "a reader's store is opened from an account"
        options = {} if profile is None else {"profile": profile}

        async def read() -> list[ConfigEntry]:
            async with ConfigStore.open(account, counter=self.store.counter, table=self.store.table_name,
                                        **options) as store:
                if profile is None:
                    return await _read(store, scope)
                try:
                    return await asyncio.wait_for(_read(store, scope), profile.total_timeout)
                except TimeoutError:
                    raise StorageUnavailableError(
                        f"The config of {scope} could not be read within {profile.total_timeout:g} s."
                    ) from None

        return self._keep(scope, asyncio.run(read()))

    def _keep(self, scope: str, rows: list[ConfigEntry]) -> Entries:
        self.reads += 1
        entries = {entry.key: entry for entry in rows}
        if self.ttl > 0:
            self._snapshots[scope] = _Snapshot(entries, time.monotonic() + self.ttl)
        return entries


async def _read(store: ConfigStore, scope: str) -> list[ConfigEntry]:
    try:
        return await store.list(scope)
    except Exception as error:
        if not is_storage_outage(error):
            raise
        raise StorageUnavailableError(
            f"The config of {scope} could not be read: storage did not answer ({type(error).__name__})."
        ) from error


def _on_thread_of(loop: asyncio.AbstractEventLoop) -> bool:
    try:
        return asyncio.get_running_loop() is loop
    except RuntimeError:  # a thread without a loop of its own
        return False
