"""The host: load settings and the app, start one listener per trigger, and stop them gracefully.

Start-up order follows Core Tools: settings into the environment, host.json, import function_app, then listeners.
Shutdown (SIGINT/SIGTERM): stop taking work everywhere at once (HTTP stops accepting, queues stop polling, timers stop
scheduling), give running invocations the grace period, and leave unfinished queue messages alone so they reappear
when their lease lapses.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

from devhost.hostconfig import HostConfig, load_host_config
from devhost.http_server import HttpServer
from devhost.invoker import Invoker, thread_pool_size
from devhost.leftovers import cancel_pending_tasks, close_open_sessions
from devhost.loader import HTTP, QUEUE, TIMER, FunctionSpec, load_functions
from devhost.locks import SlotClaims
from devhost.queues import QueueListener
from devhost.settings import SettingsError, load_local_settings, storage_connection
from devhost.timers import TimerListener

log = logging.getLogger("devhost.host")
T = TypeVar("T")


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

    def request_stop(self) -> None:
        if not self._stop.is_set():
            log.info("Stopping: no new work is taken; running functions get %.0fs.", self.options.grace_seconds)
        self._stop.set()

    async def run(self) -> bool:
        settings_path = load_local_settings(self.options.script_root)
        config = load_host_config(self.options.script_root)
        specs = load_functions(self.options.script_root)
        log.info("Settings from %s; %d function(s) found.", settings_path or "the environment", len(specs))
        self._watch_signals()
        try:
            await self._start(specs, config)
            log.info("Host started (%d function(s)).", len(specs))
            await self._stop.wait()
        finally:
            finished = await self._shutdown()
        return finished

    async def _start(self, specs: list[FunctionSpec], config: HostConfig) -> None:
        by_type = {kind: [s for s in specs if s.trigger_type == kind] for kind in (HTTP, QUEUE, TIMER)}
        self.queues = _indexed(by_type[QUEUE], lambda spec: QueueListener(spec, config.queues, self.invoker))
        if by_type[TIMER]:
            self._claims = SlotClaims(storage_connection(None))
            await self._claims.open()
            claims = self._claims
            self.timers = _indexed(by_type[TIMER], lambda spec: TimerListener(spec, self.invoker, claims))
        for listener in self.queues:
            await listener.start()
        for timer in self.timers:
            await timer.start()
        if self.options.http:
            self.http = HttpServer(by_type[HTTP], config.route_prefix, self.invoker, access_log=self.options.access_log)
            await self.http.start(self.options.bind, self.options.port, self.options.grace_seconds)

    async def _shutdown(self) -> bool:
        deadline = time.monotonic() + self.options.grace_seconds
        await asyncio.gather(*(q.stop_polling() for q in self.queues), *(t.stop_scheduling() for t in self.timers))
        stopping_http = asyncio.create_task(self.http.stop()) if self.http else None
        pending = [*(q.wait_idle() for q in self.queues), *(t.wait_idle() for t in self.timers)]
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
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, self._on_signal)

    def _on_signal(self) -> None:
        if self._stop.is_set():
            log.warning("Second stop signal: exiting now.")
            logging.shutdown()
            os._exit(1)
        self.request_stop()
