"""What the chaos run does to the cluster while executions stream in, each in its own loop until the end time:
SIGKILL a host and start it again, restart Azurite, switch storage faults on and off, re-send execution messages,
and start again any host that ended by itself. Every disruption notes when it ended: the recovery time is measured
from the last one.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import time
from collections import Counter
from dataclasses import dataclass, field

from chaoskit.cluster import Cluster, Host, wait_healthy
from chaoskit.faults import FaultFile
from chaoskit.observe import TERMINAL, Observer
from chaoskit.workload import Ledger, Workload, open_queue


@dataclass
class Disruptions:
    """Counts of what was done, and when the last disruption ended (time.time())."""

    done: Counter[str] = field(default_factory=Counter)
    last_end: float = 0.0
    log: list[str] = field(default_factory=list)

    def note(self, what: str, detail: str = "") -> None:
        self.done[what] += 1
        self.last_end = time.time()
        self.log.append(f"{time.strftime('%H:%M:%S')} {what} {detail}".rstrip())


@dataclass
class Disruptor:
    rng: random.Random
    cluster: Cluster
    faults: FaultFile
    ledger: Ledger
    observer: Observer
    workload: Workload
    kills: int
    azurite_restarts: int
    kill_http: bool
    azurite_signal: str
    record: Disruptions = field(default_factory=Disruptions)
    _azurite_up: asyncio.Event = field(default_factory=asyncio.Event)
    _starting: set[str] = field(default_factory=set)

    async def run(self, duration: float) -> None:
        self._azurite_up.set()
        end = time.monotonic() + duration
        await asyncio.gather(
            self._at_times(self.kills, duration, self.kill_one),
            self._at_times(self.azurite_restarts, duration, self.restart_azurite),
            self._fault_windows(end),
            self._resends(end),
        )
        self.faults.clear()

    async def _at_times(self, count: int, duration: float, action: object) -> None:
        """Do `action` `count` times, at random moments between 10 % and 85 % of the run."""
        moments = sorted(self.rng.uniform(0.1, 0.85) * duration for _ in range(count))
        started = time.monotonic()
        for moment in moments:
            await asyncio.sleep(max(0.0, started + moment - time.monotonic()))
            await action()  # type: ignore[operator]

    async def kill_one(self) -> None:
        candidates = [h for h in self.cluster.hosts if h.alive and (self.kill_http or h.port is None)]
        if not candidates:
            return
        host = self.rng.choice(candidates)
        self.cluster.kill_host(host)
        self.record.note("sigkill", host.name)
        await asyncio.sleep(self.rng.uniform(0.5, 3))
        await self.start(host)
        self.record.note("host_restarted", host.name)

    async def start(self, host: Host) -> None:
        """Start a host once storage is up; an HTTP host must answer /api/health before it counts as back."""
        self._starting.add(host.name)
        try:
            for _ in range(5):
                await self._azurite_up.wait()
                self.cluster.start_host(host)
                if host.port is None:
                    return
                try:
                    await wait_healthy(host.base_url, timeout=45)
                    return
                except RuntimeError:
                    self.cluster.kill_host(host)  # e.g. it could not bind the port yet, or storage went away again
        finally:
            self._starting.discard(host.name)

    async def restart_azurite(self) -> None:
        freeze, down = self.rng.uniform(0.5, 3), self.rng.uniform(1, 4)
        self._azurite_up.clear()
        await asyncio.to_thread(self.cluster.stop_azurite, self.azurite_signal, freeze)
        self.record.note("azurite_stopped", f"frozen {freeze:.1f}s, {self.azurite_signal}")
        await asyncio.sleep(down)
        await asyncio.to_thread(self.cluster.start_azurite)
        self._azurite_up.set()
        self.record.note("azurite_restarted", f"down {down:.1f}s")

    async def _fault_windows(self, end: float) -> None:
        while time.monotonic() < end:
            await asyncio.sleep(min(self.rng.uniform(2, 8), max(0.0, end - time.monotonic())))
            if time.monotonic() >= end:
                break
            rules = self.faults.open_window(self.rng)
            self.record.log.append(f"{time.strftime('%H:%M:%S')} faults on {rules}")
            await asyncio.sleep(min(self.rng.uniform(2, 8), max(0.5, end - time.monotonic())))
            self.faults.clear()
            self.record.note("fault_window")

    async def _resends(self, end: float) -> None:
        async with open_queue(self.cluster.connection_string) as queue:
            while time.monotonic() < end:
                await asyncio.sleep(self.rng.uniform(1, 3))
                statuses = self.observer.statuses()
                items = list(self.ledger.accepted.values())
                finished = [i for i in items if statuses.get(i.execution_id) in TERMINAL]
                active = [i for i in items if statuses.get(i.execution_id, "Pending") not in TERMINAL]
                await self.workload.resend_messages(queue, finished, active)

    async def keep_hosts_up(self, stop: asyncio.Event) -> None:
        """Start again hosts that ended by themselves (not killed by us): user code may take a host down."""
        while not stop.is_set():
            for host in self.cluster.reap(self._starting):
                self.record.log.append(f"{time.strftime('%H:%M:%S')} {host.name} exited by itself; starting it")
                await self.start(host)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), 1.0)
