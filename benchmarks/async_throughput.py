"""Asynchronous executions end to end: 2,000 no-op async executions submitted over HTTP as fast as possible.

Starts its own Azurite and devhost processes on Conduit's own app (workspace: benchmarks/workspace), then for one
host and for two hosts (the second a queue worker without HTTP), in the same run:
  - submits N executions of `noop_async` over HTTP with 16 concurrent aiohttp clients (each answer must be 202);
  - waits until none is Pending or Running;
  - reads every record back and reports end-to-end executions/s (N / (last completion - first submit)),
    submit rate, and submit-to-start latency p50/p99 (record started_at - the creation time in its id).
Goals on a 2-core machine: >= 200 executions/s with one host, more with two, pickup p50 < 250 ms.

    .venv/bin/python benchmarks/async_throughput.py [--executions 2000] [--clients 16]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import socket
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import aiohttp

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from devhost.azurite import start_azurite  # noqa: E402
from shared.models import ExecutionRecord  # noqa: E402
from shared.storage.executions import ExecutionStore  # noqa: E402

ADMIN_KEY = secrets.token_urlsafe(16)


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def start_host(connection: str, port: int | None, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AzureWebJobsStorage": connection,
        "CONDUIT_ADMIN_KEY": ADMIN_KEY,
        "CONDUIT_WORKSPACE": str(REPO_ROOT / "benchmarks" / "workspace"),
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.250",
    }
    args = [sys.executable, "-m", "devhost", "--script-root", str(REPO_ROOT), "--log-level", "WARNING"]
    args += ["--port", str(port)] if port else ["--no-http"]
    return subprocess.Popen(args, cwd=REPO_ROOT, env=env, stdout=log.open("wb"), stderr=subprocess.STDOUT)


async def wait_healthy(base_url: str) -> None:
    async with aiohttp.ClientSession() as session:
        for _ in range(300):
            try:
                async with session.get(f"{base_url}/api/health") as response:
                    if response.status == 200:
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)
    raise RuntimeError("devhost did not become healthy")


async def submit_all(base_url: str, scope: str, executions: int, clients: int) -> tuple[float, float]:
    """Submit every execution; (time of the first submit, seconds the submitting took)."""
    headers = {"x-api-key": ADMIN_KEY, "X-Organization-Id": scope}
    remaining = iter(range(executions))
    started = time.time()

    async def client(session: aiohttp.ClientSession) -> None:
        for _ in remaining:
            async with session.post(f"{base_url}/api/workflows/noop_async/execute", json={"input_data": {}}) as r:
                assert r.status == 202, await r.text()

    async with aiohttp.ClientSession(headers=headers) as session:
        await asyncio.gather(*(client(session) for _ in range(clients)))
    return started, time.time() - started


async def wait_done(store: ExecutionStore, scope: str, timeout: float = 300) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        busy = [await store.list_executions(scope, status=s, limit=1) for s in ("Pending", "Running")]
        if not any(items for items, _ in busy):
            return
        await asyncio.sleep(0.5)
    raise TimeoutError("executions did not finish in time")


async def all_records(store: ExecutionStore, scope: str) -> list[ExecutionRecord]:
    records, token = [], None
    while True:
        page, token = await store.list_executions(scope, limit=100, continuation_token=token)
        records += [r for r in (await asyncio.gather(*(store.get(scope, p.id) for p in page))) if r]
        if not token:
            return records


def pct(values: list[float], q: int) -> float:
    return statistics.quantiles(values, n=100, method="inclusive")[q - 1]


async def measure(connection: str, base_url: str, scope: str, executions: int, clients: int) -> dict[str, float]:
    first_submit, submit_seconds = await submit_all(base_url, scope, executions, clients)
    async with ExecutionStore.from_connection_string(connection) as store:
        await wait_done(store, scope)
        records = await all_records(store, scope)
    assert len(records) == executions and all(r.status.value == "Success" for r in records), "not all Success"
    last = max(r.completed_at for r in records if r.completed_at)
    pickups = [(r.started_at - r.created_at).total_seconds() * 1000 for r in records if r.started_at and r.created_at]
    return {
        "rate": executions / (last - datetime.fromtimestamp(first_submit, UTC)).total_seconds(),
        "submit_rate": executions / submit_seconds,
        "p50": pct(pickups, 50),
        "p99": pct(pickups, 99),
    }


async def main(executions: int, clients: int) -> None:
    azurite = start_azurite()
    logs = Path(os.environ.get("TMPDIR", "/tmp"))
    hosts: list[subprocess.Popen[bytes]] = []
    try:
        port = free_port()
        hosts.append(start_host(azurite.connection_string, port, logs / "bench-async-host1.log"))
        base_url = f"http://127.0.0.1:{port}"
        await wait_healthy(base_url)
        await measure(azurite.connection_string, base_url, "warmup", 100, clients)
        one = await measure(azurite.connection_string, base_url, "one-host", executions, clients)
        hosts.append(start_host(azurite.connection_string, None, logs / "bench-async-host2.log"))
        await asyncio.sleep(3)  # let the second host start polling
        two = await measure(azurite.connection_string, base_url, "two-hosts", executions, clients)
    finally:
        for host in hosts:
            host.terminate()
        for host in hosts:
            host.wait(timeout=30)
        azurite.stop()
    print(f"{executions} no-op async executions over HTTP, {clients} submitting clients")
    print(f"{'hosts':<8}{'end-to-end exec/s':>20}{'submit req/s':>15}{'pickup p50 ms':>15}{'pickup p99 ms':>15}")
    for name, r in (("1", one), ("2", two)):
        print(f"{name:<8}{r['rate']:>20.0f}{r['submit_rate']:>15.0f}{r['p50']:>15.0f}{r['p99']:>15.0f}")
    print(f"two hosts / one host: {two['rate'] / one['rate']:.2f}x   (goals: >= 200/s with one host, more with two, "
          f"pickup p50 < 250 ms)")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=2000)
    parser.add_argument("--clients", type=int, default=16)
    args = parser.parse_args()
    asyncio.run(main(args.executions, args.clients))
