"""The host: load settings and the app, start one listener per trigger, and stop them gracefully.

Start-up order follows Core Tools: settings into the environment, host.json, import function_app, then listeners.
Shutdown (SIGINT/SIGTERM): stop taking work everywhere at once (HTTP stops accepting, queues stop polling, timers stop
scheduling), give running invocations the grace period, and leave unfinished queue messages alone so they reappear
when their lease lapses. Shutdown takes bounded time: a second signal exits at once, and a watchdog thread ends the
process if the stop has not finished `SHUTDOWN_MARGIN` seconds after the grace period (code that never returns, a
thread the app started that never ends, a hung storage call). `request_recycle()` stops the same way and then starts
the host afresh in the same process (os.execv): the way out when abandoned work piles up, and what an invocation
that exceeds functionTimeout triggers, as the host restarts the worker then (see devhost.timeouts). HTTP routes are
built before any listener starts, so a route devhost refuses stops the start-up before anything runs.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from devhost.hostconfig import HostConfig, load_host_config
from devhost.http_server import HttpServer, build_router
from devhost.invoker import Invoker, thread_pool_size
from devhost.leftovers import cancel_pending_tasks, close_open_sessions
from devhost.loader import HTTP, QUEUE, TIMER, FunctionSpec, load_functions
from devhost.locks import SlotClaims
from devhost.queues import QueueListener
from devhost.settings import SettingsError, load_local_settings, storage_connection
from devhost.timeouts import RESTART_GRACE_SECONDS
from devhost.timers import TimerListener

log = logging.getLogger("devhost.host")
T = TypeVar("T")
SHUTDOWN_MARGIN = 10.0  # seconds after the grace period before the watchdog ends a stop that hangs
RECYCLED_ENV = "DEVHOST_RECYCLED"  # set across os.execv: the new process knows it is a recycle, not a start
_current: Host | None = None  # the host of this process, for request_recycle()


def request_recycle(reason: str) -> bool:
    """Stop this process's host gracefully, then start it afresh in the same process (same PID, os.execv).

    Safe from any thread (a watchdog, a health check). False when no host is running in this process."""
    host = _current
    if host is None or host.loop is None:
        return False
    host.loop.call_soon_threadsafe(host.request_recycle, reason)
    return True


def leave_process(code: int, *, recycle: bool) -> None:
    """End the process now — or, to recycle, replace it with a fresh devhost — without waiting for threads that
    will never finish (Python joins pool threads at exit). Logs are flushed first."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    if recycle:
        os.environ[RECYCLED_ENV] = "1"
        os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
    os._exit(code)


def stray_threads() -> list[threading.Thread]:
    """Threads that would keep the interpreter from exiting: alive, not daemon, not the main thread."""
    main = threading.main_thread()
    return [t for t in threading.enumerate() if t is not main and t.is_alive() and not t.daemon]


@dataclass(frozen=True)
class HostOptions:
    script_root: Path
    port: int = 7071
    bind: str = "127.0.0.1"
    http: bool = True
    grace_seconds: float = 10.0
    access_log: bool = False


def _indexed(specs: list[FunctionSpec], make: Callable[[FunctionSpec], T]) -> list[T]:
    """Build a listener per function; one whose settings do not resolve is reported and left out, as the host
    reports a function "in error" and runs the others."""
    listeners = []
    for spec in specs:
        try:
            listeners.append(make(spec))
        except (SettingsError, ValueError) as exc:
            log.error("The '%s' function is in error: %s", spec.name, exc)
    return listeners


class Host:
    """One devhost process's listeners. `run` returns when the host has stopped: True if nothing was cut off."""

    def __init__(self, options: HostOptions) -> None:
        self.options = options
        self.invoker = Invoker(thread_pool_size())
        self.http: HttpServer | None = None
        self.queues: list[QueueListener] = []
        self.timers: list[TimerListener] = []
        self._claims: SlotClaims | None = None
        self._stop = asyncio.Event()
        self._signals = 0
        self._warming: asyncio.Future[object] | None = None  # the app's functions loading after start-up
        self._grace = options.grace_seconds
        self.loop: asyncio.AbstractEventLoop | None = None
        self.recycling = False
        # A recycled process is the same host with a fresh worker: timers do not fire their start-up run again.
        self.recycled = os.environ.pop(RECYCLED_ENV, "") == "1"

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("Stopping: no new work is taken; running functions get %.0fs.", self._grace)
            self._start_watchdog()
        self._stop.set()

    def request_recycle(self, reason: str, grace_seconds: float | None = None) -> None:
        """Stop gracefully (within `grace_seconds` if given), then (in `python -m devhost`) start afresh in this
        process."""
        if not self._stop.is_set():
            log.warning("Recycling the host: %s", reason)
            self.recycling = True
            if grace_seconds is not None:
                self._grace = min(self._grace, grace_seconds)
        self.request_stop()

    def _on_function_timeout(self, spec: FunctionSpec, invocation_id: str) -> None:
        """The host restarts the worker a moment after a timeout, ending every invocation on it; devhost recycles.
        Scheduled, so the trigger first settles the timed-out invocation (500, message retry) as the host does."""

        def restart() -> None:
            log.warning(
                "A function timeout has occurred. Restarting worker process executing invocationId '%s'.",
                invocation_id,
            )
            self.request_recycle(f"Functions.{spec.name} exceeded functionTimeout", RESTART_GRACE_SECONDS)

        asyncio.get_running_loop().call_soon(restart)

    def _start_watchdog(self) -> None:
        """End the process if the stop does not finish in time, whatever it waits for."""
        limit = self._grace + SHUTDOWN_MARGIN

        def expire() -> None:
            log.error("The host did not stop within %.0fs; exiting now.", limit)
            leave_process(1, recycle=self.recycling)

        timer = threading.Timer(limit, expire)
        timer.daemon = True
        timer.start()

    async def run(self) -> bool:
        settings_path = load_local_settings(self.options.script_root)
        config = load_host_config(self.options.script_root)
        specs = load_functions(self.options.script_root)
        log.info("Settings from %s; %d function(s) found.", settings_path or "the environment", len(specs))
        self.invoker.enforce_timeout(config.function_timeout, self._on_function_timeout)
        global _current
        _current, self.loop = self, asyncio.get_running_loop()
        self._watch_signals()
        _offer_recycle_hook()
        try:
            await self._start(specs, config)
            log.info("Host started (%d function(s)).", len(specs))
            self._warming = _warm_up_app()
            await self._stop.wait()
        finally:
            finished = await self._shutdown()
        if self.recycling:  # now: asyncio.run's teardown would wait for tasks that swallow their cancellation
            log.info("Starting the host again (recycle).")
            leave_process(0, recycle=True)
        return finished

    async def _start(self, specs: list[FunctionSpec], config: HostConfig) -> None:
        by_type = {kind: [s for s in specs if s.trigger_type == kind] for kind in (HTTP, QUEUE, TIMER)}
        router = build_router(by_type[HTTP], config.route_prefix)  # first: a refused route starts nothing
        self.queues = _indexed(by_type[QUEUE], lambda spec: QueueListener(spec, config.queues, self.invoker))
        if by_type[TIMER]:
            self._claims = SlotClaims(storage_connection(None))
            await self._claims.open()
            claims = self._claims
            self.timers = _indexed(
                by_type[TIMER], lambda spec: TimerListener(spec, self.invoker, claims, recycled=self.recycled)
            )
        for listener in self.queues:
            await listener.start()
        for timer in self.timers:
            await timer.start()
        if self.options.http:
            self.http = HttpServer(router, self.invoker, access_log=self.options.access_log)
            await self.http.start(self.options.bind, self.options.port, self.options.grace_seconds)

    async def _shutdown(self) -> bool:
        deadline = time.monotonic() + self._grace
        await asyncio.gather(*(q.stop_polling() for q in self.queues), *(t.stop_scheduling() for t in self.timers))
        stopping_http = asyncio.create_task(self.http.stop()) if self.http else None
        pending: list[Awaitable[None]] = [*(q.wait_idle() for q in self.queues), *(t.wait_idle() for t in self.timers)]
        if stopping_http:
            pending.append(stopping_http)
        try:
            await asyncio.wait_for(asyncio.gather(*pending), max(0.0, deadline - time.monotonic()))
            finished = self.invoker.running == 0
        except TimeoutError:
            finished = False
        if not finished:
            log.warning(
                "%d function(s) still running after the grace period; their messages will reappear.",
                self.invoker.running,
            )
        await self._close_clients()
        self.invoker.shutdown(wait=finished)
        return finished

    async def _close_clients(self) -> None:
        """devhost's own storage clients, then whatever the app left pending or open (see devhost.leftovers)."""
        for listener in self.queues:
            await listener.close()
        if self._claims is not None:
            await self._claims.close()
        await cancel_pending_tasks()
        await close_open_sessions()

    def _watch_signals(self) -> None:
        """Plain signal handlers rather than the loop's: they run even while the loop is blocked by code that never
        yields, and still after the loop has closed (a second Ctrl-C while exiting)."""
        for sig in (signal.SIGINT, signal.SIGTERM):
            signal.signal(sig, self._on_signal)

    def _on_signal(self, signum: int, frame: object) -> None:
        self._signals += 1
        if self._signals > 1:
            os.write(2, b"Second stop signal: exiting now.\n")  # no logging here: its lock may be held
            os._exit(1)
        loop = self.loop
        if loop is not None and not loop.is_closed():
            loop.call_soon_threadsafe(self.request_stop)


def _warm_up_app() -> asyncio.Future[object] | None:
    """Load a Conduit app's user functions right after start-up, off the loop, so that modules that fail to load are
    logged on the console now rather than at the first request. devhost imports none of the app's code: this runs
    only for an app that has loaded Conduit's `shared.runtime` (the Functions host loads them at the first trigger,
    which the README says)."""
    runtime = sys.modules.get("shared.runtime")
    load = getattr(runtime, "load_functions", None)
    if load is None:
        return None
    return asyncio.get_running_loop().run_in_executor(None, load)


def _offer_recycle_hook() -> None:
    """Let the hosted app ask for a fresh process (`request_recycle`), as the Functions host restarts a worker that
    exits. devhost hosts any app and imports none of its code: the hook is offered only to an app that has loaded
    Conduit's `shared.engine.recycling`, which recycles a host whose abandoned user code piles up."""
    recycling = sys.modules.get("shared.engine.recycling")
    register = getattr(recycling, "set_recycle_hook", None)
    if register is not None:
        register(request_recycle)
