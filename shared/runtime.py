"""The process's Conduit: functions discovered once per process; storage clients and engine once per event loop.

Azure's async storage clients belong to the event loop that created them, so the engine and store are kept per
loop (the Functions worker has one; tests and benchmarks may have several). Discovery is per process: importing
user modules twice would run their top-level code twice.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import weakref
from dataclasses import dataclass, field
from typing import Any

from shared.compat import finder as bifrost_compat
from shared.dag.library import DagLibrary
from shared.engine import finisher, supervision
from shared.engine.caching import ProviderCache
from shared.engine.config import ConfigReader
from shared.engine.core import Engine
from shared.engine.watchdog import LoopWatchdog
from shared.executions import detached, service
from shared.executions.service import WorkflowCall
from shared.executions.services import Services
from shared.functions.discovery import DiscoveryReport
from shared.functions.registry import FunctionRegistry, get_registry
from shared.identity.authenticator import Authenticator
from shared.models import ExecutionRequest, ExecutionResult
from shared.storage.account import StorageAccount
from shared.storage.api_keys import ApiKeyStore
from shared.storage.config import ConfigStore
from shared.storage.dags import DagStore
from shared.storage.executions import ExecutionStore
from shared.storage.forms import FormStore
from shared.storage.organizations import OrganizationStore
from shared.storage.queues import ExecutionQueue
from shared.storage.schedules import ScheduleStore


@dataclass
class Runtime(Services):
    """Everything a trigger needs: the services (registry, store, queue, engine) plus what discovery reported."""

    report: DiscoveryReport = field(default_factory=DiscoveryReport)
    forms: FormStore | None = field(default=None, repr=False)  # None in runtimes built without forms (tests)
    watchdog: LoopWatchdog | None = field(default=None, repr=False)
    authenticator: Authenticator | None = field(default=None, repr=False)  # None in runtimes built by tests
    schedules: ScheduleStore | None = field(default=None, repr=False)  # None in runtimes built without schedules
    dags: DagLibrary | None = field(default=None, repr=False)  # stored DAGs; None in runtimes built without them

    def workflow_names(self) -> frozenset[str]:
        return frozenset(metadata.name for metadata in self.registry.list("workflow"))

    def function_names(self) -> frozenset[str]:
        """Workflows and data providers: what an organization's allowlist may name."""
        return frozenset(metadata.name for metadata in self.registry.list())

    async def close(self) -> None:
        # Sync runs answered 202 go on to their end first (their final writes may need the finisher), then the
        # final writes waiting for storage get a last chance.
        await detached.drain(_DETACHED_RUNS_SECONDS)
        await finisher.drain(_PENDING_WRITES_SECONDS)
        if self.watchdog is not None:
            self.watchdog.stop()
        await asyncio.to_thread(supervision.stop_all)  # the supervisor starts again with the next execution
        if self.engine.cache is not None:  # background refreshes of stale options finish (or are cancelled) first
            await self.engine.cache.close(_CACHE_REFRESH_SECONDS)
        self.engine.close()
        await self.queue.close()
        await self.store.close()
        if self.forms is not None:
            await self.forms.close()
        if self.schedules is not None:
            await self.schedules.close()
        if self.dags is not None:
            await self.dags.store.close()
        if self.engine.config is not None:
            await self.engine.config.store.close()
        if self.authenticator is not None:  # writes the keys' last uses noted since its last pass
            await self.authenticator.close()


_discovery_log = logging.getLogger("conduit.discovery")
_PENDING_WRITES_SECONDS = 5.0
_DETACHED_RUNS_SECONDS = 30.0
_CACHE_REFRESH_SECONDS = 5.0
_discovery_lock = threading.Lock()
_discovered: tuple[FunctionRegistry, DiscoveryReport] | None = None
_runtimes: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, Runtime] = weakref.WeakKeyDictionary()
_startup_locks: weakref.WeakKeyDictionary[asyncio.AbstractEventLoop, asyncio.Lock] = weakref.WeakKeyDictionary()


def load_functions() -> tuple[FunctionRegistry, DiscoveryReport]:
    """Discover platform and workspace functions (Python modules, then `*.dag.json` files) into the default
    registry, the first time only.

    Each module that failed to load is logged as a WARNING (one line: path, error), so the console shows it when
    the host starts serving (`make run` asks for health at start-up, which creates the runtime), without a call to
    `GET /api/health`. Discovery stays lazy: importing function_app imports no user module."""
    global _discovered
    with _discovery_lock:
        if _discovered is None:
            bifrost_compat.install()  # before any workspace module runs its `from bifrost import ...`
            registry = get_registry()
            from shared.dag.loader import discover_all  # here: importing function_app stays quick (no Jinja2)

            report = discover_all(registry)  # Python modules, then the *.dag.json files (their actions resolve)
            for error in report.errors:
                _discovery_log.warning("could not load %s: %s", error.path, _one_line(error.error))
            _discovered = (registry, report)
        return _discovered


def _one_line(text: str) -> str:
    return " | ".join(line.strip() for line in text.splitlines() if line.strip())


async def get_runtime() -> Runtime:
    """This loop's runtime, created (tables ensured, functions loaded) on first use."""
    loop = asyncio.get_running_loop()
    runtime = _runtimes.get(loop)
    if runtime is not None:
        return runtime
    lock = _startup_locks.setdefault(loop, asyncio.Lock())
    async with lock:
        runtime = _runtimes.get(loop)
        if runtime is None:
            runtime = await _create_runtime()
            _runtimes[loop] = runtime
    return runtime


async def _create_runtime() -> Runtime:
    registry, report = await asyncio.to_thread(load_functions)
    account = StorageAccount.from_env()
    store = ExecutionStore.open(account)
    queue = ExecutionQueue(account)
    cache = ProviderCache.open(account)
    forms = FormStore.open(account)
    config = ConfigStore.open(account)
    schedules = ScheduleStore.open(account)
    dag_store = DagStore.open(account)
    authenticator = Authenticator(ApiKeyStore.open(account), OrganizationStore.open(account))
    await asyncio.gather(store.ensure_tables(), queue.ensure(), cache.ensure_table(), forms.ensure_table(),
                         config.ensure_table(), schedules.ensure_table(), dag_store.ensure_table(),
                         authenticator.ensure_tables())
    engine = Engine(registry, store, cache=cache, config=ConfigReader(config))
    dags = DagLibrary(dag_store, registry)
    engine.resolver = dags  # every run by name finds stored DAGs (shared.engine.resolution)
    engine.queue = queue  # a run that ends Waiting queues its own wake-up (shared.engine.durable)
    watchdog = LoopWatchdog.watch_running_loop()
    return Runtime(registry=registry, report=report, store=store, engine=engine, queue=queue, forms=forms,
                   watchdog=watchdog, authenticator=authenticator, schedules=schedules, dags=dags)


async def get_authenticator() -> Authenticator:
    """This loop's authenticator (a runtime installed without one gets one over the configured storage)."""
    runtime = await get_runtime()
    if runtime.authenticator is None:
        account = StorageAccount.from_env()
        authenticator = Authenticator(ApiKeyStore.open(account), OrganizationStore.open(account))
        await authenticator.ensure_tables()
        runtime.authenticator = runtime.authenticator or authenticator
    return runtime.authenticator


async def get_schedules() -> ScheduleStore:
    """This loop's schedule store (a runtime installed without one gets one over the configured storage)."""
    runtime = await get_runtime()
    if runtime.schedules is None:
        store = ScheduleStore.open(StorageAccount.from_env())
        await store.ensure_table()
        runtime.schedules = runtime.schedules or store
    return runtime.schedules


async def get_dags() -> DagLibrary:
    """This loop's stored-DAG library (a runtime installed without one gets one over the configured storage, and
    its engine resolves stored DAGs from then on)."""
    runtime = await get_runtime()
    if runtime.dags is None:
        store = DagStore.open(StorageAccount.from_env())
        await store.ensure_table()
        runtime.dags = runtime.dags or DagLibrary(store, runtime.registry)
        runtime.engine.resolver = runtime.engine.resolver or runtime.dags
    return runtime.dags


async def close_runtimes() -> None:
    """Close the storage clients of every runtime (for hosts that shut down cleanly)."""
    for loop, runtime in list(_runtimes.items()):
        if loop is asyncio.get_running_loop():
            _runtimes.pop(loop, None)
            await runtime.close()


def set_runtime(runtime: Runtime) -> None:
    """Install a prepared runtime for the running loop (tests and benchmarks with their own registry)."""
    _runtimes[asyncio.get_running_loop()] = runtime


async def execute(request: ExecutionRequest) -> ExecutionResult:
    """Run `request` on this process's engine: the entry point every trigger uses."""
    runtime = await get_runtime()
    return await runtime.engine.execute(request)


async def execute_workflow(*, backend: str | None = None, **arguments: Any) -> str:
    """Run a workflow from code and return its execution id: the execution-service contract.

    `backend="local"` runs it in this process and waits (as `wait=True`), `"queue"` records it and queues it (as
    `wait=False`); neither lets the workflow's `execution_mode` decide. `arguments` are `WorkflowCall`'s fields.
    Raises ValueError for an unknown workflow or backend (or a backend that contradicts `wait`), RuntimeError
    (`ExecutionFailedError`) when a waited run ends Failed, Timeout or Cancelled; invalid input raises
    InputValidationError, as from HTTP. See `shared.executions.service.execute_workflow`."""
    return await service.execute_workflow(await get_runtime(), WorkflowCall(**arguments), backend)
