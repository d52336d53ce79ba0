"""End-to-end fixtures: Conduit's own function_app.py hosted by real devhost processes on the session Azurite.

    async def test_takeover(conduit_hosts: ConduitHosts) -> None:
        first = await conduit_hosts.start(env={"CONDUIT_LEASE_SECONDS": "3"})
        worker = await conduit_hosts.start(http=False, env={"CONDUIT_LEASE_SECONDS": "3"})
        response = await first.client.post("/api/workflows/echo/execute", json={"input_data": {"message": "hi"}})
        first.kill()                     # SIGKILL by default; any signal may be given
        assert await first.wait() == -9
        await worker.wait_for_log(r"some line")
        print(worker.log())

Every host started through `conduit_hosts` (per test) or `conduit_hosts_module` (per module) is stopped when its
fixture ends. A failing test gets the tail of each host's log in its report.
"""

from __future__ import annotations

import asyncio
import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import AsyncIterator, Iterable, Iterator
from pathlib import Path

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
WORKSPACE = Path(__file__).resolve().parent / "workspace"
ADMIN_KEY = "e2e-admin-key"
START_TIMEOUT = 30.0
LOG_TAIL_LINES = 80
# Settings the test process may carry (tests/http sets some in os.environ); a host gets only what its test passes.
_HOST_SETTING_PREFIXES = ("AzureWebJobs", "AzureFunctions", "CONDUIT_", "DEVHOST_")
_running: list[ConduitHost] = []  # hosts not yet stopped by their fixture, for failure reports


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ConduitHost:
    """One `python -m devhost` process serving Conduit; stdout and stderr go, interleaved, to `log_path`."""

    def __init__(self, process: subprocess.Popen[bytes], log_path: Path, port: int | None) -> None:
        self.process = process
        self.log_path = log_path
        self.port = port
        self.base_url = f"http://127.0.0.1:{port}" if port is not None else ""
        self.client = httpx.AsyncClient(base_url=self.base_url, headers={"x-api-key": ADMIN_KEY}, timeout=30)

    @property
    def pid(self) -> int:
        return self.process.pid

    @property
    def returncode(self) -> int | None:
        """None while running; negative for a death by signal (-9 after SIGKILL)."""
        return self.process.poll()

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def log_tail(self, lines: int = LOG_TAIL_LINES) -> str:
        return "\n".join(self.log().splitlines()[-lines:])

    async def wait_for_log(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        """The first match of `pattern` in the log, once it appears; fails if the host exits without it."""
        deadline = time.monotonic() + timeout
        while True:
            found = re.search(pattern, self.log())
            if found:
                return found
            if self.returncode is not None:
                raise AssertionError(f"devhost exited ({self.returncode}) before logging {pattern!r}:\n{self.log()}")
            if time.monotonic() > deadline:
                raise AssertionError(f"devhost did not log {pattern!r} within {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)

    def kill(self, sig: int = signal.SIGKILL) -> None:
        """Send `sig` to the host process (SIGKILL: it dies at once, with whatever it was running)."""
        if self.returncode is None:
            os.kill(self.pid, sig)

    async def wait(self, timeout: float = 20.0) -> int:
        """The exit code, once the process has ended."""
        deadline = time.monotonic() + timeout
        while self.returncode is None:
            if time.monotonic() > deadline:
                raise AssertionError(f"devhost {self.pid} still running after {timeout}s:\n{self.log_tail()}")
            await asyncio.sleep(0.05)
        return self.process.returncode

    async def terminate(self, timeout: float = 20.0) -> int:
        """Stop like Ctrl-C/SIGTERM (graceful, devhost's --grace-period); SIGKILL if it outlasts `timeout`."""
        self.kill(signal.SIGTERM)
        try:
            return await self.wait(timeout)
        except AssertionError:
            self.kill(signal.SIGKILL)
            return await self.wait()
        finally:
            await self.client.aclose()

    async def wait_ready(self, http: bool) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        if not http:
            await self.wait_for_log(r"Host started", START_TIMEOUT)
            return
        while time.monotonic() < deadline:
            if self.returncode is not None:
                raise AssertionError(f"devhost exited ({self.returncode}) during start-up:\n{self.log()}")
            try:
                if (await self.client.get("/api/health", timeout=5)).status_code == 200:
                    return
            except httpx.TransportError:
                pass
            await asyncio.sleep(0.1)
        raise AssertionError(f"devhost /api/health did not answer 200 within {START_TIMEOUT}s:\n{self.log_tail()}")


class ConduitHosts:
    """Starts devhost processes for Conduit's app; `stop_all` ends every one of them (the fixtures call it).

    Hosts of one `ConduitHosts` share a host id, so they scale out one app (as instances of one Function App do).
    """

    def __init__(self, logs: Path, connection_string: str) -> None:
        self._logs = logs
        self._connection_string = connection_string
        self._host_id = f"e2e-{uuid.uuid4().hex[:8]}"
        self.hosts: list[ConduitHost] = []

    def environment(self, extra: dict[str, str] | None = None) -> dict[str, str]:
        """What a host process gets: this process's environment without app settings, then the test's settings."""
        environment = {k: v for k, v in os.environ.items() if not k.startswith(_HOST_SETTING_PREFIXES)}
        environment.update(
            {
                "AzureWebJobsStorage": self._connection_string,
                "AzureFunctionsWebHost__hostid": self._host_id,
                "CONDUIT_ADMIN_KEY": ADMIN_KEY,
                "CONDUIT_WORKSPACE": str(WORKSPACE),
                # An idle host polls its queues at least every 200 ms; a killed host's message is back in 5 s.
                "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.200",
                "DEVHOST_QUEUE_LEASE_SECONDS": "5",
                "PYTHONUNBUFFERED": "1",
                **(extra or {}),
            }
        )
        return environment

    async def start(
        self, *, http: bool = True, env: dict[str, str] | None = None, args: Iterable[str] = ()
    ) -> ConduitHost:
        """Start a host and wait until it serves: /api/health answers 200, or (http=False) "Host started" is logged.

        `env` adds or overrides settings (e.g. {"CONDUIT_LEASE_SECONDS": "3"}); `args` are extra devhost options
        (e.g. ["--grace-period", "2"]).
        """
        port = free_port() if http else None
        command = [sys.executable, "-m", "devhost", "--script-root", str(REPO_ROOT), *args]
        command += ["--port", str(port)] if http else ["--no-http"]
        log_path = self._logs / f"devhost-{len(self.hosts)}-{'http' if http else 'worker'}.log"
        with log_path.open("wb") as log_file:
            process = subprocess.Popen(
                command,
                cwd=REPO_ROOT,
                env=self.environment(env),
                stdin=subprocess.DEVNULL,
                stdout=log_file,
                stderr=subprocess.STDOUT,
            )
        host = ConduitHost(process, log_path, port)
        self.hosts.append(host)
        _running.append(host)
        await host.wait_ready(http)
        return host

    async def stop_all(self) -> None:
        """Stop every host at once (SIGTERM, then SIGKILL after 20 s) and close their clients."""
        await asyncio.gather(*(host.terminate() for host in self.hosts))
        for host in self.hosts:
            _running.remove(host)
        self.hosts.clear()


@pytest.fixture
async def conduit_hosts(tmp_path: Path, storage_connection_string: str) -> AsyncIterator[ConduitHosts]:
    """Hosts for one test; all stopped when the test ends."""
    hosts = ConduitHosts(tmp_path, storage_connection_string)
    try:
        yield hosts
    finally:
        await hosts.stop_all()


@pytest.fixture(scope="module")
async def conduit_hosts_module(
    tmp_path_factory: pytest.TempPathFactory, storage_connection_string: str
) -> AsyncIterator[ConduitHosts]:
    """Hosts shared by the tests of one module (start-up costs about a second per host); stopped at its end."""
    hosts = ConduitHosts(tmp_path_factory.mktemp("e2e-hosts"), storage_connection_string)
    try:
        yield hosts
    finally:
        await hosts.stop_all()


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Iterator[pytest.TestReport]:
    """Attach the tail of every running host's log to a failed test's report."""
    report: pytest.TestReport = yield
    if report.failed:
        for host in _running:
            report.sections.append((f"devhost pid {host.pid} log ({host.log_path})", host.log_tail()))
    return report


async def wait_for_record(store, execution_id: str, condition, timeout: float = 30.0):
    """The execution's record (GLOBAL scope) once `condition(record)` holds; fails naming its status after `timeout`."""
    deadline = time.monotonic() + timeout
    while True:
        record = await store.get("GLOBAL", execution_id)
        if record is not None and condition(record):
            return record
        assert time.monotonic() < deadline, f"execution {execution_id} is still {record and record.status}"
        await asyncio.sleep(0.1)
