"""A local cluster the chaos run may hurt: one Azurite that keeps its data on disk, and devhost hosts on it.

Azurite is restarted on the same ports and folder. It is stopped with SIGTERM after a freeze (SIGSTOP: requests hang
as on an unresponsive service), not with SIGKILL: Azurite saves its tables and queues every 5 s (LokiJS autosave),
so a SIGKILL loses writes it already acknowledged (checked: an entity written 0.5 s before a SIGKILL is gone after
the restart). Real Table and Queue storage never loses an acknowledged write, so such a loss would be a finding
about the emulator, not about Conduit. `--azurite-signal kill` does it anyway.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

BENCHMARKS = Path(__file__).resolve().parent.parent
REPO_ROOT = BENCHMARKS.parent
sys.path.insert(0, str(REPO_ROOT))

from devhost.azurite import Azurite, start_azurite  # noqa: E402

WORKSPACE = BENCHMARKS / "chaos_workspace"
_APP_PREFIXES = ("AzureWebJobs", "AzureFunctions", "CONDUIT_", "DEVHOST_")


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def host_settings(lease_seconds: int) -> dict[str, str]:
    """What every host gets besides storage, key and faults: short leases and timers, so recovery is quick."""
    return {
        "CONDUIT_LEASE_SECONDS": str(lease_seconds),
        "CONDUIT_DEADLINE_GRACE_SECONDS": "5",
        "CONDUIT_PENDING_GRACE_SECONDS": "20",
        "CONDUIT_CANCEL_POLL_SECONDS": "0.5",
        # Clean-up and recovery passes far more often than by default, so the grace period after the chaos suffices.
        "CONDUIT_CLEANUP_SCHEDULE": "*/10 * * * * *",
        "CONDUIT_RECOVERY_SCHEDULE": "*/3 * * * * *",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.250",
        "AzureFunctionsJobHost__extensions__queues__visibilityTimeout": "00:00:01",
        "DEVHOST_QUEUE_LEASE_SECONDS": "5",
        "PYTHONUNBUFFERED": "1",
    }


@dataclass
class Host:
    """One devhost process slot: it is killed and started again under the same name and port."""

    name: str
    port: int | None
    log_path: Path
    process: subprocess.Popen[bytes] | None = None
    starts: int = 0

    @property
    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"


@dataclass
class Cluster:
    """Azurite plus hosts; every process it starts, it stops (`close`)."""

    folder: Path
    admin_key: str
    settings: dict[str, str]
    log_level: str = "WARNING"
    azurite: Azurite | None = None
    ports: tuple[int, int, int] = (0, 0, 0)
    hosts: list[Host] = field(default_factory=list)
    host_id: str = field(default_factory=lambda: f"chaos-{uuid.uuid4().hex[:8]}")
    unexpected_exits: list[tuple[str, int]] = field(default_factory=list)

    @property
    def connection_string(self) -> str:
        assert self.azurite is not None
        return self.azurite.connection_string

    def start_azurite(self) -> None:
        self.azurite = start_azurite(location=self.folder / "azurite", ports=self.ports)
        self.ports = (self.azurite.ports["blob"], self.azurite.ports["queue"], self.azurite.ports["table"])

    def stop_azurite(self, how: str, freeze_seconds: float) -> None:
        """Freeze Azurite for a while (requests hang), then stop it: SIGTERM (saves its data) or SIGKILL."""
        assert self.azurite is not None
        group = self.azurite.process.pid
        if freeze_seconds > 0:
            os.killpg(group, signal.SIGSTOP)
            time.sleep(freeze_seconds)
        os.killpg(group, signal.SIGKILL if how == "kill" else signal.SIGTERM)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(group, signal.SIGCONT)  # a frozen process handles its SIGTERM only once it runs again
        self.azurite.process.wait(timeout=30)

    def add_host(self, http: bool) -> Host:
        index = len(self.hosts)
        kind = "http" if http else "worker"
        host = Host(f"{kind}{index}", free_port() if http else None, self.folder / f"host{index}-{kind}.log")
        self.hosts.append(host)
        return host

    def environment(self) -> dict[str, str]:
        environment = {k: v for k, v in os.environ.items() if not k.startswith(_APP_PREFIXES)}
        return environment | self.settings | {
            "AzureWebJobsStorage": self.connection_string,
            "AzureFunctionsWebHost__hostid": self.host_id,
            "CONDUIT_ADMIN_KEY": self.admin_key,
            "CONDUIT_WORKSPACE": str(WORKSPACE),
        }

    def start_host(self, host: Host) -> None:
        command = [sys.executable, "-m", "devhost", "--script-root", str(REPO_ROOT), "--log-level", self.log_level,
                   "--grace-period", "2"]
        command += ["--port", str(host.port)] if host.port else ["--no-http"]
        with host.log_path.open("ab") as log:
            log.write(f"\n===== chaos: start {host.starts + 1} at {time.time():.3f}\n".encode())
            log.flush()
            host.process = subprocess.Popen(command, cwd=REPO_ROOT, env=self.environment(), stdin=subprocess.DEVNULL,
                                            stdout=log, stderr=subprocess.STDOUT)
        host.starts += 1

    def kill_host(self, host: Host) -> None:
        if host.alive:
            assert host.process is not None
            host.process.kill()
            host.process.wait()
        host.process = None

    def reap(self, skip: set[str] | frozenset[str] = frozenset()) -> list[Host]:
        """Hosts that ended without being killed by us (user code took them down): noted, to be started again."""
        dead = [host for host in self.hosts
                if host.name not in skip and host.process is not None and host.process.poll() is not None]
        for host in dead:
            assert host.process is not None
            self.unexpected_exits.append((host.name, host.process.returncode))
            host.process = None
        return dead

    def close(self) -> None:
        for host in self.hosts:
            if host.alive:
                assert host.process is not None
                host.process.terminate()
        for host in self.hosts:
            if host.process is not None:
                try:
                    host.process.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    host.process.kill()
                    host.process.wait()
        if self.azurite is not None:
            self.azurite.stop()


async def wait_healthy(base_url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    async with aiohttp.ClientSession() as session:
        while time.monotonic() < deadline:
            try:
                async with session.get(f"{base_url}/api/health", timeout=aiohttp.ClientTimeout(total=5)) as response:
                    if response.status == 200:
                        return
            except (aiohttp.ClientError, TimeoutError):
                pass
            await asyncio.sleep(0.2)
    raise RuntimeError(f"devhost at {base_url} did not become healthy within {timeout:.0f} s")
