"""Fixtures that run devhost as a real subprocess against the session's Azurite, with the test app in tests/devhost/app.

Each test gets its own copy of the app (so it can have its own local.settings.json), its own queue names and its own
record folder, so tests sharing the one Azurite never see each other's messages.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
TEST_APP = Path(__file__).resolve().parent / "app"
RARE_SCHEDULE = "0 0 0 1 1 *"  # once a year: keeps the timer quiet in tests that do not need it


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(condition: Callable[[], Any], timeout: float, interval: float = 0.05) -> Any:
    """Poll `condition` until it returns something truthy; fail the test with a clear message otherwise."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"condition not met within {timeout}s")


@dataclass
class AppUnderTest:
    """A copy of the test app with its own settings, queue names and record folder."""

    root: Path
    records: Path
    values: dict[str, str]
    env: dict[str, str] = field(default_factory=dict)

    def queue(self, kind: str) -> str:
        return self.values[f"{kind.upper()}_QUEUE"]

    def read(self, kind: str) -> list[dict[str, Any]]:
        """The events the app recorded for `kind`, oldest first."""
        events = [json.loads(p.read_text()) for p in self.records.glob(f"{kind}-*.json")]
        return sorted(events, key=lambda e: e["at"])


@dataclass
class Devhost:
    """A running `python -m devhost` process whose combined output goes to a log file."""

    process: subprocess.Popen[bytes]
    log_path: Path
    port: int | None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, pattern: str, timeout: float = 20.0) -> re.Match[str]:
        def found() -> re.Match[str] | None:
            if self.process.poll() is not None and not re.search(pattern, self.log()):
                raise AssertionError(f"devhost exited ({self.process.returncode}):\n{self.log()}")
            return re.search(pattern, self.log())

        return wait_until(found, timeout)

    def signal(self, sig: int) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, sig)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def build_app(base: Path, connection: str, **values: str) -> AppUnderTest:
    """A script root: the test app's files plus a local.settings.json with unique queue names and host id."""
    root = base / f"app-{uuid.uuid4().hex[:6]}"
    shutil.copytree(TEST_APP, root, ignore=shutil.ignore_patterns("__pycache__"))
    records = root / "records"
    records.mkdir()
    suffix = uuid.uuid4().hex[:10]
    settings = {
        "AzureWebJobsStorage": connection,
        "FUNCTIONS_WORKER_RUNTIME": "python",
        "WORK_QUEUE": f"work-{suffix}",
        "FAIL_QUEUE": f"fail-{suffix}",
        "SLOW_QUEUE": f"slow-{suffix}",
        "TICK_SCHEDULE": RARE_SCHEDULE,
        "DEVHOST_TEST_RECORD_DIR": str(records),
        "AzureFunctionsWebHost__hostid": f"test-{suffix}",
        **values,
    }
    (root / "local.settings.json").write_text(json.dumps({"IsEncrypted": False, "Values": settings}))
    return AppUnderTest(root, records, settings)


def spawn_devhost(
    app: AppUnderTest, log_path: Path, *args: str, http: bool = True, env: dict[str, str] | None = None
) -> Devhost:
    """Start `python -m devhost` for the app and wait for "Host started"."""
    port = free_port() if http else None
    command = [sys.executable, "-m", "devhost", "--script-root", str(app.root), *args]
    command += ["--port", str(port)] if http else ["--no-http"]
    # Settings come from the app's local.settings.json unless a test passes them as environment variables.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("AzureWebJobs", "AzureFunctions"))}
    environment.update(app.env, **(env or {}))
    with log_path.open("wb") as log_file:
        process = subprocess.Popen(command, cwd=REPO_ROOT, env=environment, stdout=log_file, stderr=subprocess.STDOUT)
    host = Devhost(process, log_path, port)
    try:
        host.wait_for_log(r"Host started")
    except BaseException:
        host.stop()
        raise
    return host


@pytest.fixture
def make_app(tmp_path: Path, storage_connection_string: str) -> Callable[..., AppUnderTest]:
    return lambda **values: build_app(tmp_path, storage_connection_string, **values)


@pytest.fixture
def start_devhost(tmp_path: Path) -> Iterator[Callable[..., Devhost]]:
    """Start devhost processes for a test app; all are stopped (SIGTERM, then SIGKILL) when the test ends."""
    started: list[Devhost] = []

    def start(app: AppUnderTest, *args: str, http: bool = True, env: dict[str, str] | None = None) -> Devhost:
        host = spawn_devhost(app, tmp_path / f"devhost-{len(started)}.log", *args, http=http, env=env)
        started.append(host)
        return host

    yield start
    for host in started:
        host.stop()


def http_client(host: Devhost) -> httpx.Client:
    return httpx.Client(base_url=host.base_url, timeout=30)
