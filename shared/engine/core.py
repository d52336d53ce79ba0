"""The engine: the one way user code runs, whatever triggered it.

`Engine.execute` resolves and validates first (errors there are the caller's: unknown workflow, bad input, a
script that does not compile) and then runs a pipeline of small layers, each wrapping the next:

    persisted -> supervised -> captured -> retried -> classified -> timed -> call the user function

A data provider (`request.role == "data_provider"`) runs transient through a pipeline of its own:

    cached -> captured -> shaped -> classified -> timed -> call the provider

`cached` (caching.py) answers from the provider cache without calling the function on a hit; `shaped` (options.py)
fails a run whose value is not a list of options, so nothing else is ever cached.

`persisted` writes the record before and after, `captured` attributes log lines and binds the context,
`classified` turns a return value or an exception into a status, `timed` (deadline.py) runs the user call as a
task of its own and ends the execution at its deadline or on a cancel request, whether the user code cooperates or
not. Once the pipeline runs, `execute` never raises for anything the user code did, `SystemExit` included.
"""

from __future__ import annotations

import asyncio
import functools
import os
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Any

from shared.capture.log_capture import LogCapture, capture_for
from shared.engine import recycling
from shared.engine.caching import cached
from shared.engine.context import ExecutionContext
from shared.engine.deadline import timed
from shared.engine.durable import continues, last_order, load_history
from shared.engine.invocation import Invocation, Pipeline
from shared.engine.layers import captured, classified
from shared.engine.options import shaped
from shared.engine.persistence import persisted
from shared.engine.resolution import DefinitionResolver, resolve_request
from shared.engine.retries import retried
from shared.engine.scripts import Script, compile_script, namespace_for
from shared.engine.subcalls import SubCalls
from shared.engine.supervision import supervised
from shared.engine.threads import SyncRunner
from shared.errors import DataProviderNotFoundError, InputValidationError, WorkflowNotFoundError
from shared.functions.registry import FunctionRegistry, get_registry
from shared.functions.signature import call_shape
from shared.functions.validation import validate_parameters
from shared.identity import policy
from shared.models import Caller, ExecutionRecord, ExecutionRequest, ExecutionResult, ExecutionStatus, utc_now

if TYPE_CHECKING:
    from shared.engine.caching import ProviderCache
    from shared.engine.config import ConfigReader
    from shared.storage.executions import ExecutionStore
    from shared.storage.queues import ExecutionQueue

SCRIPT_TIMEOUT_SECONDS = 1800


class Engine:
    """Runs executions for one registry, persisting them to one store (or none, for transient-only use)."""

    def __init__(
        self,
        registry: FunctionRegistry | None = None,
        store: ExecutionStore | None = None,
        *,
        sync_workers: int | None = None,
        cache: ProviderCache | None = None,
        config: ConfigReader | None = None,
    ) -> None:
        self.registry = registry if registry is not None else get_registry()
        self.store = store
        self.cache = cache
        self.config = config  # stored config for `context.get_config`/`get_secret`; None: app settings only
        self.resolver: DefinitionResolver | None = None  # stored DAGs; the runtime attaches it (resolution.py)
        self.queue: ExecutionQueue | None = None  # wakes Waiting executions; the runtime attaches it
        self.threads = SyncRunner(sync_workers or int(os.environ.get("CONDUIT_SYNC_WORKERS", "64")))
        self.subcalls = SubCalls(self)
        store_of = lambda: self.store  # noqa: E731 - the store may be attached after construction
        cache_of = lambda: self.cache  # noqa: E731 - so may the cache
        queue_of = lambda: self.queue  # noqa: E731 - the runtime attaches the queue that wakes Waiting executions
        self._pipeline: Pipeline = persisted(
            store_of, supervised(store_of, captured(retried(classified(timed(self._call))))), queue_of)
        self._provider_pipeline: Pipeline = cached(cache_of, captured(shaped(classified(timed(self._call)))))

    async def execute(self, request: ExecutionRequest) -> ExecutionResult:
        """Run one execution. Raises only for caller errors, before any user code runs or anything is stored."""
        if self.resolver is not None:  # no coroutine to await on the hot path of an engine without stored DAGs
            await resolve_request(request, self.registry, self.resolver)
        return await self.run(self.prepare(request))

    async def resolve(self, request: ExecutionRequest) -> None:
        """Find a workflow the registry does not hold (a stored DAG) and pin its version on the request; call it
        before `prepare` wherever a run by name starts (see shared.engine.resolution)."""
        await resolve_request(request, self.registry, self.resolver)

    async def run(self, invocation: Invocation) -> ExecutionResult:
        """Run a prepared invocation through the pipeline; never raises for anything the user code did.

        A host that is recycling (shared.engine.recycling) starts no new execution: `HostRecyclingError` (503)."""
        if not recycling.accepting_work():
            raise recycling.refuse()
        return await self._run(invocation)

    async def _run(self, invocation: Invocation) -> ExecutionResult:
        recycler = recycling.current()
        recycler.in_flight += 1
        pipeline = self._provider_pipeline if invocation.request.role == "data_provider" else self._pipeline
        try:
            return await pipeline(invocation)
        finally:
            recycler.in_flight -= 1

    async def run_claimed(self, record: ExecutionRecord) -> ExecutionResult | None:
        """Run a queued execution whose record a worker has claimed (Running, leased to this worker).

        Its input was valid when it was submitted; if it no longer is (the workflow changed or went away), the
        execution fails with the reason instead of running.
        """
        request = request_from_record(record)
        try:
            await self.resolve(request)  # the version the record pins, whatever is current now
            invocation = self.prepare(request)
        except (InputValidationError, WorkflowNotFoundError) as error:
            assert self.store is not None
            failed = record.finished(ExecutionStatus.FAILED, error.message, type(error).__name__, utc_now())
            await self.store.finish(replace(failed, log_count=0), logs=[], steps=[])
            return None
        invocation.record = record
        invocation.capture.keep_flushed = False  # nobody reads a queued run's result: flushed lines leave memory
        invocation.started_at = record.started_at or invocation.started_at
        steps = invocation.context.steps
        steps.attempt = record.attempt
        if continues(record) and self.store is not None:  # what earlier runs of it stored (shared.engine.durable)
            steps.history = await load_history(self.store, record)
            steps.continue_after(last_order(steps.history, record.attempt))
        if record.resumes or record.retries:
            invocation.capture.continue_after(record.log_count)
        return await self._run(invocation)  # claimed: it runs even if the host started recycling meanwhile

    def prepare(self, request: ExecutionRequest) -> Invocation:
        """Resolve what to run and validate its input."""
        scope = request.effective_scope
        if request.code is not None:
            if request.role == "data_provider":
                raise DataProviderNotFoundError(request.name or "script")
            policy.check_script(request.caller)
            script = compile_script(request.code, request.name or "script")
            name = request.name or "script"
            context = self._context(request, scope, name)
            namespace = namespace_for(script, {"context": context, **request.parameters})
            capture = capture_for(request, name, module="__main__")
            return self._invocation(request, context, name, SCRIPT_TIMEOUT_SECONDS, capture, script, namespace)
        metadata = request.definition if request.definition is not None else self.registry.get(request.name or "")
        as_provider = request.role == "data_provider"
        if as_provider and (metadata is None or not metadata.is_data_provider):
            raise DataProviderNotFoundError(request.name or "")
        if metadata is None:
            raise WorkflowNotFoundError(request.name or "")
        if as_provider:
            request.transient = True  # a provider's runs are never stored as executions
        arguments = validate_parameters(metadata, request.parameters)
        context = self._context(request, scope, metadata.name)
        capture = capture_for(request, metadata.name, module=metadata.function.__module__, declared=metadata.log_level)
        timeout = metadata.provider_timeout_seconds if as_provider else metadata.timeout_seconds
        invocation = self._invocation(request, context, metadata.name, timeout, capture)
        invocation.metadata, invocation.arguments = metadata, arguments
        return invocation

    def _context(self, request: ExecutionRequest, scope: str, name: str) -> ExecutionContext:
        return ExecutionContext(
            execution_id=request.execution_id,
            caller=request.caller,
            scope=scope,
            config=dict(request.config),
            function_name=name,
            trigger=dict(request.trigger_data if request.trigger_data is not None else request.trigger),
            config_reader=self.config,
            subcalls=self.subcalls,
        )

    @staticmethod
    def _invocation(
        request: ExecutionRequest,
        context: ExecutionContext,
        name: str,
        timeout: float,
        capture: LogCapture,
        script: Script | None = None,
        ns: dict[str, Any] | None = None,
    ) -> Invocation:
        context.capture = capture  # a secret read by the execution is masked in its lines from then on
        invocation = context.invocation = Invocation(
            request=request,
            context=context,
            capture=capture,
            timeout_seconds=timeout,
            function_name=name,
            script=script,
            script_namespace=ns,
            started_at=utc_now(),
            started_clock=time.perf_counter(),
        )
        return invocation

    async def call_function(self, invocation: Invocation) -> Any:
        """Call a prepared invocation's function, as the pipeline's innermost step does (`context.run_workflow`
        wraps it in a deadline of its own)."""
        return await self._call(invocation)

    async def _call(self, invocation: Invocation) -> Any:
        """Call the user function (or script). Sync code runs in a worker thread so the loop stays free."""
        config = self.config
        if config is not None and invocation.function_name in config.readers:  # awaited now, not blocking later
            await config.preload(invocation.context.scope)
        if invocation.script is not None:
            return await self._run_script(invocation)
        metadata = invocation.metadata
        assert metadata is not None and invocation.arguments is not None
        function, kwargs = metadata.function, invocation.arguments
        shape = call_shape(function)
        args = (invocation.context,) if shape.takes_context else ()
        if shape.is_async:
            return await function(*args, **kwargs)
        outcome = await self.threads.run(invocation, lambda: function(*args, **kwargs))
        if asyncio.iscoroutine(outcome):  # a sync wrapper that returned a coroutine
            return await outcome
        return outcome

    async def _run_script(self, invocation: Invocation) -> Any:
        from shared.engine.scripts import run_async, run_sync

        script, namespace = invocation.script, invocation.script_namespace
        assert script is not None and namespace is not None
        if script.is_async:
            await run_async(script, namespace)
        else:
            await self.threads.run(invocation, functools.partial(run_sync, script, namespace))
        return namespace

    def close(self) -> None:
        self.threads.close()


def request_from_record(record: ExecutionRecord) -> ExecutionRequest:
    """Rebuild the request a queued execution was submitted with; the record is where it lives."""
    caller = record.caller or {}
    return ExecutionRequest(
        caller=Caller(
            user_id=str(caller.get("user_id") or "system"),
            email=caller.get("email"),
            name=caller.get("name"),
            is_platform_admin=bool(caller.get("is_platform_admin", False)),
            scope=record.scope,
            organization_id=caller.get("organization_id"),
            kind=caller.get("kind") or "admin_key",
            key_id=caller.get("key_id"),
        ),
        name=record.workflow_name,
        parameters=record.input_data or {},
        execution_id=record.id,
        scope=record.scope,
        trigger=record.trigger or {"kind": "queue"},
        trigger_data=record.trigger_data,
        definition_version=record.definition_version,
        definition_scope=record.definition_scope,
    )
