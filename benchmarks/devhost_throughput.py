"""devhost throughput: HTTP requests/s and latency, and queue pickup latency on an idle host.

Starts its own Azurite (in memory) and a devhost serving a small benchmark app (written to a temp folder), then:
  (a) HTTP ping: the cheapest HTTP function, with N concurrent httpx clients (N = 8 and 32);
      goal >= 2,000 req/s on a 2-core machine;
  queue pickup: time from `send_message` to the function starting, one message at a time on an idle host;
      goal p50 < 250 ms. Idle pickup is bounded by host.json maxPollingInterval (the poller backs off to it),
      so the scenario runs once per interval given with --polling-intervals.
  (b) Conduit execution: `POST /api/workflows/noop/execute` through Conduit's own function_app.py (script root =
      the repo, workspace = benchmarks/workspace), a sync no-op workflow persisted like every execution, with 8
      aiohttp clients; every answer must be 200 with status Success. Goal >= 300 executions/s, p50 < 15 ms.
A table at the end puts (a) and (b) at 8 aiohttp clients side by side, with the ratio b/a and the goals.

Usage: .venv/bin/python benchmarks/devhost_throughput.py [--seconds 5] [--samples 15] [--polling-intervals 2,0.25]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import secrets
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from pathlib import Path

import aiohttp
import httpx
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

REPO_ROOT = Path(__file__).resolve().parent.parent
BENCH_WORKSPACE = Path(__file__).resolve().parent / "workspace"
sys.path.insert(0, str(REPO_ROOT))

from devhost.azurite import start_azurite  # noqa: E402

BENCH_APP = """
import json, os, time
import azure.functions as func

app = func.FunctionApp(http_auth_level=func.AuthLevel.ANONYMOUS)


@app.route(route="ping", methods=["GET"])
async def ping(req: func.HttpRequest) -> func.HttpResponse:
    return func.HttpResponse("pong")


@app.queue_trigger(arg_name="msg", queue_name="%BENCH_QUEUE%", connection="AzureWebJobsStorage")
async def pickup(msg: func.QueueMessage) -> None:
    started = time.time()
    sent = json.loads(msg.get_body())["sent"]
    with open(os.environ["BENCH_PICKUP_FILE"], "a") as out:
        out.write(f"{started - sent}\\n")
"""


@dataclass(frozen=True)
class LoadResult:
    concurrency: int
    requests: int
    errors: int
    seconds: float
    p50_ms: float
    p99_ms: float

    @property
    def rps(self) -> float:
        return self.requests / self.seconds

    def line(self, label: str) -> str:
        return (
            f"{label:<34} N={self.concurrency:<3} {self.rps:8.0f} req/s   p50 {self.p50_ms:6.1f} ms   "
            f"p99 {self.p99_ms:6.1f} ms   ({self.requests} requests, {self.errors} errors)"
        )


Sender = Callable[[str, str, object | None], Awaitable[tuple[int, bytes]]]


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


async def http_load(
    url: str,
    concurrency: int,
    seconds: float,
    *,
    client: str = "httpx",
    method: str = "GET",
    headers: dict[str, str] | None = None,
    body: object | None = None,
    expect: Callable[[bytes], bool] | None = None,
) -> LoadResult:
    """`concurrency` clients send requests back to back for `seconds` (after a short warm-up).

    client="httpx": one httpx.AsyncClient per worker — a shared client's connection pool serialises badly (N=32
    was 4x slower than N=8 here). client="aiohttp": a load generator cheap enough not to be the bottleneck.
    An answer is an error if its status is >= 400 or `expect(body)` is false.
    """
    send = _aiohttp_sender if client == "aiohttp" else _httpx_sender
    latencies: list[float] = []
    errors = 0
    async with send(concurrency, headers) as senders:

        async def worker(request: Sender, deadline: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status, answer = await request(method, url, body)
                if record:
                    latencies.append(time.perf_counter() - started)
                    errors += status >= 400 or (expect is not None and not expect(answer))

        warm = time.perf_counter() + min(1.0, seconds / 5)
        await asyncio.gather(*(worker(request, warm, False) for request in senders))
        began = time.perf_counter()
        await asyncio.gather(*(worker(request, began + seconds, True) for request in senders))
        took = time.perf_counter() - began
    return LoadResult(
        concurrency, len(latencies), errors, took, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    )


@contextlib.asynccontextmanager
async def _httpx_sender(concurrency: int, headers: dict[str, str] | None) -> AsyncIterator[list[Sender]]:
    clients = [httpx.AsyncClient(timeout=30, headers=headers) for _ in range(concurrency)]

    def sender(session: httpx.AsyncClient) -> Sender:
        async def request(method: str, url: str, body: object | None) -> tuple[int, bytes]:
            response = await session.request(method, url, json=body)
            return response.status_code, response.content

        return request

    try:
        yield [sender(session) for session in clients]
    finally:
        for session in clients:
            await session.aclose()


@contextlib.asynccontextmanager
async def _aiohttp_sender(concurrency: int, headers: dict[str, str] | None) -> AsyncIterator[list[Sender]]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def request(method: str, url: str, body: object | None) -> tuple[int, bytes]:
            async with session.request(method, url, json=body) as response:
                return response.status, await response.read()

        yield [request] * concurrency


def succeeded(body: bytes) -> bool:
    """An execute answer that reports a successful execution."""
    try:
        return bool(json.loads(body)["status"] == "Success")
    except (ValueError, KeyError, TypeError):
        return False


def conduit_sync_execution(base_url: str, admin_key: str, concurrency: int, seconds: float) -> LoadResult:
    """Scenario (b): `noop` executions through Conduit's own app, with aiohttp clients (as for (a))."""
    return asyncio.run(
        http_load(
            f"{base_url}/workflows/noop/execute",
            concurrency,
            seconds,
            client="aiohttp",
            method="POST",
            headers={"x-api-key": admin_key},
            body={"input_data": {}},
            expect=succeeded,
        )
    )


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Devhost:
    """A devhost subprocess for a script root, with extra environment; logs go to a file in `workdir`."""

    def __init__(self, script_root: Path, env: dict[str, str], workdir: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}/api"
        command = [sys.executable, "-m", "devhost", "--script-root", str(script_root), "--port", str(self.port)]
        with (workdir / f"devhost-{self.port}.log").open("wb") as log:
            self.process = subprocess.Popen(
                command, cwd=REPO_ROOT, env={**os.environ, **env}, stdout=log, stderr=subprocess.STDOUT
            )
        self._log = workdir / f"devhost-{self.port}.log"
        deadline = time.monotonic() + 30
        while "Host started" not in self._log.read_text():
            if self.process.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("devhost did not start:\n" + self._log.read_text())
            time.sleep(0.05)

    def wait_healthy(self, timeout: float = 30) -> None:
        """Wait for `GET /api/health` to answer 200 (Conduit creates its runtime on first use)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            with contextlib.suppress(httpx.TransportError):
                if httpx.get(f"{self.base_url}/health", timeout=10).status_code == 200:
                    return
            time.sleep(0.1)
        raise RuntimeError("Conduit's health check did not answer 200:\n" + self._log.read_text())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=20)


def queue_pickup(connection: str, queue: str, pickup_file: Path, samples: int, interval: float) -> list[float]:
    """Send one message at a time once the host has backed off fully; pickup latencies in seconds.

    The pause is randomised over one polling interval: a fixed pause would lock the send to the same phase of the
    poller's cycle and measure one point of it instead of the average."""
    client = QueueClient.from_connection_string(connection, queue, message_encode_policy=TextBase64EncodePolicy())
    latencies: list[float] = []
    for index in range(samples):
        idle_seconds = interval * 2 + 1 + random.uniform(0, interval)
        time.sleep(idle_seconds)
        client.send_message(json.dumps({"sent": time.time(), "n": index}))
        deadline = time.monotonic() + idle_seconds + 10
        while len(pickup_file.read_text().split()) <= index:
            if time.monotonic() > deadline:
                raise RuntimeError("a queue message was not picked up")
            time.sleep(0.01)
        latencies.append(float(pickup_file.read_text().split()[index]))
    return latencies


def write_app(folder: Path, max_polling_interval: float) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "function_app.py").write_text(BENCH_APP)
    interval = time.strftime("%H:%M:%S", time.gmtime(int(max_polling_interval))) + f"{max_polling_interval % 1:.3f}"[1:]
    host = {"version": "2.0", "extensions": {"queues": {"maxPollingInterval": interval}}}
    (folder / "host.json").write_text(json.dumps(host))


BARE_SERVER = """
import sys
from aiohttp import web
async def ping(request):
    return web.Response(text="pong")
app = web.Application()
app.router.add_get("/api/ping", ping)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=lambda *_: None)
"""


def scenario_http_ping(base_url: str, seconds: float) -> LoadResult:
    """(a) the cheapest HTTP function through devhost, with both load generators; the aiohttp N=8 result."""
    results = {}
    for client in ("httpx", "aiohttp"):
        for concurrency in (8, 32):
            result = asyncio.run(http_load(f"{base_url}/ping", concurrency, seconds, client=client))
            results[client, concurrency] = result
            print(result.line(f"(a) devhost ping, {client} clients"), flush=True)
    return results["aiohttp", 8]


def scenario_conduit_execution(connection: str, work: Path, seconds: float) -> LoadResult:
    """(b) Conduit's own app on devhost, settings as `make run` has them, the bench workspace's `noop` workflow."""
    admin_key = secrets.token_urlsafe(16)
    env = {
        "AzureWebJobsStorage": connection,
        "CONDUIT_ADMIN_KEY": admin_key,
        "CONDUIT_WORKSPACE": str(BENCH_WORKSPACE),
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.250",
    }
    host = Devhost(REPO_ROOT, env, work)
    try:
        host.wait_healthy()
        result = conduit_sync_execution(host.base_url, admin_key, 8, seconds)
    finally:
        host.stop()
    print(result.line("(b) Conduit noop execution, aiohttp"), flush=True)
    return result


def httpx_ceiling(seconds: float) -> None:
    """The same load against a bare aiohttp server: what the httpx client itself can send on this machine."""
    port = free_port()
    server = subprocess.Popen([sys.executable, "-c", BARE_SERVER, str(port)])
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                httpx.get(f"http://127.0.0.1:{port}/api/ping")
                break
            except httpx.TransportError:
                time.sleep(0.1)
        for concurrency in (8, 32):
            result = asyncio.run(http_load(f"http://127.0.0.1:{port}/api/ping", concurrency, seconds))
            print(result.line("    bare aiohttp server, httpx clients"), flush=True)
    finally:
        server.terminate()
        server.wait()


def scenario_queue_pickup(connection: str, work: Path, interval: float, samples: int, number: int) -> float:
    app = work / f"pickup-app{number}"
    write_app(app, interval)
    pickup_file = work / f"pickup{number}.txt"
    pickup_file.write_text("")
    queue = f"bench-{number}"
    env = {"AzureWebJobsStorage": connection, "BENCH_QUEUE": queue, "BENCH_PICKUP_FILE": str(pickup_file)}
    host = Devhost(app, env, work)
    try:
        found = queue_pickup(connection, queue, pickup_file, samples, interval)
    finally:
        host.stop()
    p50_ms = statistics.median(found) * 1000
    print(
        f"queue pickup, idle host, maxPollingInterval {interval:g}s: p50 {p50_ms:.0f} ms, "
        f"max {max(found) * 1000:.0f} ms ({len(found)} messages)",
        flush=True,
    )
    return p50_ms


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_summary(ping: LoadResult, conduit: LoadResult, pickups: dict[float, float]) -> None:
    """The compact table: (a) and (b) at 8 aiohttp clients, b/a, pickup p50 per polling interval, with goals."""
    print("\nscenario (8 aiohttp clients)       req/s  p50 ms  p99 ms  errors  goal")
    print(
        f"(a) devhost ping                {ping.rps:8.0f} {ping.p50_ms:7.2f} {ping.p99_ms:7.2f} {ping.errors:7d}  "
        f">= 2,000 req/s: {verdict(ping.rps >= 2000 and ping.errors == 0)}"
    )
    conduit_ok = conduit.rps >= 300 and conduit.p50_ms < 15 and conduit.errors == 0 and conduit.requests > 0
    print(
        f"(b) Conduit noop execution      {conduit.rps:8.0f} {conduit.p50_ms:7.2f} {conduit.p99_ms:7.2f} "
        f"{conduit.errors:7d}  >= 300/s, p50 < 15 ms, all Success: {verdict(conduit_ok)}"
    )
    print(
        f"b/a                             {conduit.rps / ping.rps:8.2f} {conduit.p50_ms / ping.p50_ms:6.1f}x"
        "                   (req/s ratio; p50 multiple)"
    )
    for interval, p50_ms in pickups.items():
        goal = f"p50 < 250 ms: {verdict(p50_ms < 250)}" if interval <= 0.25 else "(bounded by the interval)"
        print(f"queue pickup, polling {interval:g}s   p50 {p50_ms:5.0f} ms                 {goal}")


def run(args: argparse.Namespace) -> None:
    azurite = start_azurite()
    try:
        with tempfile.TemporaryDirectory(prefix="devhost-bench-") as tmp:
            work = Path(tmp)
            write_app(work / "http-app", 2.0)
            env = {
                "AzureWebJobsStorage": azurite.connection_string,
                "BENCH_QUEUE": "bench-http",
                "BENCH_PICKUP_FILE": str(work / "unused.txt"),
            }
            host = Devhost(work / "http-app", env, work)
            try:
                ping = scenario_http_ping(host.base_url, args.seconds)
            finally:
                host.stop()
            if not args.skip_ceiling:
                httpx_ceiling(args.seconds)
            conduit = scenario_conduit_execution(azurite.connection_string, work, args.seconds)
            pickups = {
                interval: scenario_queue_pickup(azurite.connection_string, work, interval, args.samples, number)
                for number, interval in enumerate(float(x) for x in args.polling_intervals.split(",") if x)
            }
    finally:
        azurite.stop()
    print_summary(ping, conduit, pickups)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per HTTP load run")
    parser.add_argument("--samples", type=int, default=15, help="queue messages per pickup measurement")
    parser.add_argument("--polling-intervals", default="2,0.25", help="maxPollingInterval values (s) to measure")
    parser.add_argument("--skip-ceiling", action="store_true", help="skip the bare-server httpx comparison")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
