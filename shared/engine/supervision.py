"""Supervision of running executions — lease renewal, cancel requests, log flushing — from a thread of its own.

Why a thread of its own: user code can block the event loop it runs on (an `async def` workflow that calls
`time.sleep` or a blocking client). If the lease were renewed on that loop it would lapse, and another host would
take the execution over and run it a second time while it still runs here. So one supervisor per process (and
storage account) runs on its own thread, with its own asyncio loop and its own storage clients (async Azure clients
belong to the loop that opened them). The `supervised` layer registers an execution with it when the run starts and
releases it when the run ends, before `persisted` writes the outcome.

For each registered execution two activities run on the supervisor's loop, every CONDUIT_CANCEL_POLL_SECONDS:
- the lease keeper reads the record's small columns (status, lease, deadline, ETag; never the input), renews the
  lease once a third of it has passed — never past the execution's deadline — and on `Cancelling` asks the run to
  stop (`Invocation.request_cancel`, called on the run's own loop). A record finished or taken over elsewhere stops
  the run too: its result would not be stored, and it must not run beside its successor;
- the log flusher writes the lines logged since its last flush, so `GET .../logs?after=` can tail the execution.
They are separate so that a slow or failing log flush never delays or skips a renewal.

Handover: releasing an execution waits for its activity in progress, so when `finish` runs `capture.flushed` is
exact and `invocation.record` (its ETag) no longer moves; a renewal that loses an ETag race reads again next round.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import contextvars
import logging
import threading
from collections.abc import Awaitable, Callable, Coroutine, Iterator
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from azure.core.exceptions import AzureError

from shared.engine.leases import CANCEL_POLL_SECONDS, LEASE_SECONDS, WORKER_ID, renewed_lease
from shared.errors import ExecutionAlreadyFinishedError, ExecutionNotFoundError, StaleRecordError, StorageError
from shared.models import ExecutionRecord, ExecutionResult, ExecutionStatus, utc_now
from shared.storage.account import StorageAccount, as_account
from shared.storage.clients import RequestCounter, StorageProfile, open_tables
from shared.storage.executions import ExecutionStore
from shared.storage.leases import LeaseState

if TYPE_CHECKING:
    from shared.engine.invocation import Invocation

log = logging.getLogger("conduit.supervisor")
Step = Callable[["Invocation"], Awaitable[ExecutionResult]]
T = TypeVar("T")
MAX_FLUSH_LINES = 5_000  # per flush: a burst of output is written over a few rounds, not in one long request
_STORAGE_ERRORS = (StorageError, AzureError, TimeoutError)


def supervised(store_of: Callable[[], ExecutionStore | None], call: Step) -> Step:
    """Run the call as a task while the process's supervisor keeps the execution's lease and watches its record."""

    async def run(invocation: Invocation) -> ExecutionResult:
        store = store_of()
        supervisor = supervisor_for(store) if store is not None and invocation.record is not None else None
        if supervisor is None:
            return await call(invocation)
        watch = supervisor.register(invocation)
        task = asyncio.ensure_future(call(invocation))
        try:
            return await task
        except asyncio.CancelledError:
            task.cancel()  # the host is stopping this invocation: stop the user code too
            raise
        finally:
            await watch.release()

    return run


class Watch:
    """One execution under supervision, shared by its run's loop (register, release) and the supervisor's thread."""

    def __init__(self, invocation: Invocation, record: ExecutionRecord, release_seconds: float) -> None:
        self.invocation = invocation
        self.loop = asyncio.get_running_loop()
        self.record = record  # the latest known version (ETag); supervision only changes its lease columns
        self.lost = False  # finished or taken over elsewhere: nothing more to renew or flush
        self.failures = {"renew": 0, "flush": 0}
        self._cancel_sent = False
        self._release_seconds = release_seconds
        self._lock = threading.Lock()
        self._stopping = False
        self._released = False
        self._busy: set[concurrent.futures.Future[None]] = set()

    @property
    def execution_id(self) -> str:
        return self.record.id

    async def release(self) -> None:
        """End supervision (on the run's loop): no new activity starts, and the one in progress is waited for."""
        _here.discard(self.execution_id)
        with self._lock:
            self._stopping = True
            busy = [asyncio.wrap_future(done) for done in self._busy]
        if busy:
            _, pending = await asyncio.wait(busy, timeout=self._release_seconds)
            if pending:
                log.warning("supervision of execution %s did not finish its round in time", self.execution_id)
        with self._lock:
            self._released = True

    def begin(self) -> concurrent.futures.Future[None] | None:
        """An activity starts (supervisor thread): None once the watch is released or lost."""
        with self._lock:
            if self._stopping or self.lost:
                return None
            done: concurrent.futures.Future[None] = concurrent.futures.Future()
            self._busy.add(done)
            return done

    def end(self, done: concurrent.futures.Future[None]) -> None:
        with self._lock:
            self._busy.discard(done)
        done.set_result(None)

    def publish(self, record: ExecutionRecord) -> None:
        """Hand the run the record with its newest ETag, so `finish` writes with it — unless finish already runs."""
        with self._lock:
            self.record = record
            if not self._released:
                self.invocation.record = record

    def stop_run(self) -> None:
        """Ask the run to stop, on its own loop (request_cancel must be called on the loop's thread); once."""
        if self._cancel_sent:
            return
        self._cancel_sent = True
        with contextlib.suppress(RuntimeError):  # its loop is closed: nothing is left running there
            self.loop.call_soon_threadsafe(self.invocation.request_cancel, context=contextvars.Context())


class Supervisor:
    """Supervises the persisted executions of this process on one storage account, from its own thread and loop.

    The thread starts with the first registered execution and is a daemon: it never keeps the process alive.
    `counter` counts the storage requests supervision sends (tests, benchmarks).
    """

    def __init__(
        self,
        account: StorageAccount | str,
        *,
        lease_seconds: float = LEASE_SECONDS,
        poll_seconds: float = CANCEL_POLL_SECONDS,
        counter: RequestCounter | None = None,
    ) -> None:
        self.account = as_account(account)
        self.lease_seconds = float(lease_seconds)
        self.poll_seconds = float(poll_seconds)
        self.profile = StorageProfile.for_lease(self.lease_seconds)
        self.request_seconds = self.profile.total_timeout  # each storage call, retries included
        self._counter = counter
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._store: ExecutionStore | None = None
        self._tasks: set[asyncio.Task[None]] = set()  # the activities (the loop itself only keeps weak references)

    @property
    def running(self) -> bool:
        return self._loop is not None

    def register(self, invocation: Invocation) -> Watch:
        """Start supervising a persisted execution whose record `invocation.record` is; call on the run's loop."""
        assert invocation.record is not None
        watch = Watch(invocation, invocation.record, release_seconds=2 * self.request_seconds + 1)
        _here.add(watch.execution_id)
        loop = self._running_loop()
        loop.call_soon_threadsafe(self._start, watch, context=contextvars.Context())
        return watch

    def stop(self, timeout: float = 5.0) -> None:
        """Stop the thread (executions still registered lose their supervision, as on a host that stops)."""
        with self._lock:
            loop, thread = self._loop, self._thread
            self._loop = self._thread = None
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(loop.stop)
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout)

    # The supervisor's thread and loop.

    def _running_loop(self) -> asyncio.AbstractEventLoop:
        with self._lock:
            if self._loop is None:
                ready = threading.Event()
                thread = threading.Thread(target=self._run, args=(ready,), name="conduit-supervisor", daemon=True)
                contextvars.Context().run(thread.start)  # no execution's log capture follows it into the thread
                ready.wait(10)
                if self._loop is None:
                    raise StorageError("The execution supervisor could not start.")
                self._thread = thread
            return self._loop

    def _run(self, ready: threading.Event) -> None:
        loop = asyncio.new_event_loop()
        try:
            self._store = _open_store(self.account, self.profile, self._counter)
            self._loop = loop
        finally:
            ready.set()
        try:
            loop.run_forever()
        finally:
            loop.run_until_complete(self._shutdown())
            loop.close()

    async def _shutdown(self) -> None:
        tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        if self._store is not None:
            await self._store.close()

    def _start(self, watch: Watch) -> None:
        for activity in (self._keep_lease, self._flush_logs):
            task = asyncio.get_running_loop().create_task(self._every(watch, activity))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _every(self, watch: Watch, activity: Callable[[Watch], Awaitable[None]]) -> None:
        while True:
            await asyncio.sleep(self.poll_seconds)
            done = watch.begin()
            if done is None:
                return
            try:
                await activity(watch)
            except Exception:  # supervision must never end by surprise; the next round tries again
                log.exception("supervising execution %s failed", watch.execution_id)
            finally:
                watch.end(done)

    async def _timed(self, call: Coroutine[Any, Any, T]) -> T:
        return await asyncio.wait_for(call, self.request_seconds)

    # The activities.

    async def _keep_lease(self, watch: Watch) -> None:
        """Read the small columns; stop the run when it is cancelled or no longer ours; renew when due."""
        assert self._store is not None
        record = watch.record
        try:
            lease = await self._timed(self._store.get_lease(record.scope, record.id))
            if not _still_ours(watch, lease):
                return
            assert lease is not None
            record = _with_lease(record, lease)
            if lease.status is ExecutionStatus.CANCELLING:
                if not watch.invocation.cancel_requested:
                    log.info("cancelling execution %s on request", record.id)
                watch.stop_run()
            until = renewed_lease(utc_now(), lease.lease_expires_at, lease.deadline_at, self.lease_seconds)
            if until is not None:
                record = await self._timed(self._store.update(record, lease_expires_at=until))
        except StaleRecordError:
            pass  # changed between the read and the renewal (a cancel request): the next round reads it again
        except (ExecutionAlreadyFinishedError, ExecutionNotFoundError):
            return  # the next read says how
        except _STORAGE_ERRORS as error:
            _failed(watch, "renew", error)
            return
        _recovered(watch, "renew")
        watch.publish(record)

    async def _flush_logs(self, watch: Watch) -> None:
        """Write the lines logged since the last flush; on failure they stay pending for the next one (or finish)."""
        assert self._store is not None
        capture = watch.invocation.capture
        lines = capture.flush_batch(MAX_FLUSH_LINES)
        if not lines:
            return
        try:
            await self._timed(self._store.append_logs(watch.execution_id, lines, attempt=watch.record.attempt))
        except _STORAGE_ERRORS as error:
            capture.sent_in_doubt(len(lines))
            _failed(watch, "flush", error)
            return
        capture.mark_flushed(len(lines))
        _recovered(watch, "flush")


def _still_ours(watch: Watch, lease: LeaseState | None) -> bool:
    """False (and the run asked to stop) when the record is gone, finished, or held by another worker or by another
    attempt — a takeover by this same process (its lease lapsed while storage was away) counts as another holder."""
    if (lease is not None and not lease.status.is_terminal and lease.lease_owner in (WORKER_ID, None)
            and lease.attempt == watch.record.attempt):
        return True
    if lease is None:
        why = "its record is gone"
    elif lease.status.is_terminal:
        why = f"it was finished elsewhere ({lease.status.value})"
    elif lease.attempt != watch.record.attempt:
        why = f"attempt {lease.attempt} took it over from attempt {watch.record.attempt}"
    else:
        why = f"it was taken over by {lease.lease_owner}"
    log.warning("execution %s: %s; stopping this run, whose result will not be stored", watch.execution_id, why)
    watch.lost = True
    watch.stop_run()
    return False


def _with_lease(record: ExecutionRecord, lease: LeaseState) -> ExecutionRecord:
    return replace(
        record,
        status=lease.status,
        lease_owner=lease.lease_owner,
        lease_expires_at=lease.lease_expires_at,
        deadline_at=lease.deadline_at,
        etag=lease.etag,
    )


def _failed(watch: Watch, what: str, error: BaseException) -> None:
    """Say so the first time in a row; the next rounds keep trying quietly."""
    watch.failures[what] += 1
    if watch.failures[what] == 1:
        log.warning("%s for execution %s failed, will retry: %s", what, watch.execution_id, _describe(error))


def _recovered(watch: Watch, what: str) -> None:
    if watch.failures[what]:
        log.info("%s for execution %s works again after %d failures", what, watch.execution_id, watch.failures[what])
        watch.failures[what] = 0


def _describe(error: BaseException) -> str:
    if isinstance(error, TimeoutError):
        return "no answer in time"
    return f"{type(error).__name__}: {str(error).splitlines()[0] if str(error) else ''}"


def _open_store(account: StorageAccount, profile: StorageProfile, counter: RequestCounter | None) -> ExecutionStore:
    """The supervisor's own clients, with the lease profile: a whole operation, retries included, ends within a
    third of the lease (asyncio.wait_for enforces it too), so a failed renewal leaves time for two more."""
    tables = open_tables(account, counter=counter, profile=profile)
    return ExecutionStore(tables, account=account)


# The process's supervisors, one per storage account.

_here: set[str] = set()  # ids of the executions this process runs (and supervises) now


def running_here(execution_id: str) -> bool:
    """Whether this process is running the execution now. A redelivery must not start it a second time here, even
    if its lease lapsed (storage was away): the running attempt's supervisor renews it once storage is back."""
    return execution_id in _here


_supervisors: dict[StorageAccount, Supervisor] = {}
_supervisors_lock = threading.Lock()


def supervisor_for(store: ExecutionStore) -> Supervisor | None:
    """The process's supervisor for the account of `store` (created on first use); None if the account is unknown."""
    account = store.account or _account_from_env()
    if account is None:
        return None
    supervisor = _supervisors.get(account)
    if supervisor is None:
        with _supervisors_lock:
            supervisor = _supervisors.setdefault(account, Supervisor(account))
    return supervisor


@contextlib.contextmanager
def installed(supervisor: Supervisor) -> Iterator[Supervisor]:
    """Use `supervisor` for its account within the block (tests, benchmarks); stopped and replaced after it."""
    key = supervisor.account
    with _supervisors_lock:
        previous = _supervisors.get(key)
        _supervisors[key] = supervisor
    try:
        yield supervisor
    finally:
        with _supervisors_lock:
            if previous is None:
                _supervisors.pop(key, None)
            else:
                _supervisors[key] = previous
        supervisor.stop()


def stop_all(timeout: float = 5.0) -> None:
    """Stop every supervisor's thread (the runtime closing); they start again with the next execution."""
    with _supervisors_lock:
        supervisors = list(_supervisors.values())
    for supervisor in supervisors:
        supervisor.stop(timeout)


def _account_from_env() -> StorageAccount | None:
    try:
        return StorageAccount.from_env()
    except StorageError:
        log.error("executions are not supervised: the store does not name its storage account")
        return None
