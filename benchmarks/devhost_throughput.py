"""devhost throughput: HTTP requests/s and latency, and queue pickup latency on an idle host.

Starts its own Azurite (in memory) and a devhost serving a small benchmark app (written to a temp folder), then:
  (a) HTTP ping: the cheapest HTTP function, with N concurrent httpx clients (N = 8 and 32);
      goal >= 2,000 req/s on a 2-core machine;
  queue pickup: time from `send_message` to the function starting, one message at a time on an idle host;
      goal p50 < 250 ms. Idle pickup is bounded by host.json maxPollingInterval (the poller backs off to it),
      so the scenario runs once per interval given with --polling-intervals.
Scenario (b), a sync no-op workflow execution through Conduit's own app, is `conduit_sync_execution` below: give
it Conduit's script root and the execute URL once that app exists.

Usage: .venv/bin/python benchmarks/devhost_throughput.py [--seconds 5] [--samples 20] [--polling-intervals 2,0.4]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
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
) -> LoadResult:
    """`concurrency` clients send requests back to back for `seconds` (after a short warm-up).

    client="httpx": one httpx.AsyncClient per worker — a shared client's connection pool serialises badly (N=32
    was 4x slower than N=8 here). client="aiohttp": a load generator cheap enough not to be the bottleneck.
    """
    send = _aiohttp_sender if client == "aiohttp" else _httpx_sender
    latencies: list[float] = []
    errors = 0
    async with send(concurrency, headers) as senders:

        async def worker(request: Callable[..., Awaitable[int]], deadline: float, record: bool) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                started = time.perf_counter()
                status = await request(method, url, body)
                if record:
                    latencies.append(time.perf_counter() - started)
                    errors += status >= 400

        warm = time.perf_counter() + min(1.0, seconds / 5)
        await asyncio.gather(*(worker(request, warm, False) for request in senders))
        began = time.perf_counter()
        await asyncio.gather(*(worker(request, began + seconds, True) for request in senders))
        took = time.perf_counter() - began
    return LoadResult(
        concurrency, len(latencies), errors, took, percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000
    )


@contextlib.asynccontextmanager
async def _httpx_sender(concurrency: int, headers: dict[str, str] | None) -> AsyncIterator[list[Callable]]:
    clients = [httpx.AsyncClient(timeout=30, headers=headers) for _ in range(concurrency)]

    def sender(session: httpx.AsyncClient) -> Callable[..., Awaitable[int]]:
        async def request(method: str, url: str, body: object | None) -> int:
            return (await session.request(method, url, json=body)).status_code

        return request

    try:
        yield [sender(session) for session in clients]
    finally:
        for session in clients:
            await session.aclose()


@contextlib.asynccontextmanager
async def _aiohttp_sender(concurrency: int, headers: dict[str, str] | None) -> AsyncIterator[list[Callable]]:
    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector, headers=headers) as session:

        async def request(method: str, url: str, body: object | None) -> int:
            async with session.request(method, url, json=body) as response:
                await response.read()
                return response.status

        yield [request] * concurrency


def conduit_sync_execution(base_url: str, admin_key: str, concurrency: int, seconds: float) -> LoadResult:
    """Scenario (b): a sync no-op workflow execution through Conduit's own app (started with its script root).

    Start devhost with `--script-root <repo>` (see `Devhost`) and pass its base URL (with /api) and admin key; the
    workflow name is a placeholder until Conduit ships a no-op platform workflow.
    """
    url = f"{base_url}/workflows/noop/execute"
    headers = {"x-api-key": admin_key}
    return asyncio.run(http_load(url, concurrency, seconds, method="POST", headers=headers, body={"input_data": {}}))


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


def scenario_http_ping(base_url: str, seconds: float) -> None:
    """(a) the cheapest HTTP function through devhost, with both load generators."""
    for client in ("httpx", "aiohttp"):
        for concurrency in (8, 32):
            result = asyncio.run(http_load(f"{base_url}/ping", concurrency, seconds, client=client))
            print(result.line(f"(a) devhost ping, {client} clients"), flush=True)


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


def scenario_queue_pickup(connection: str, work: Path, interval: float, samples: int, number: int) -> None:
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
    print(
        f"queue pickup, idle host, maxPollingInterval {interval:g}s: p50 {statistics.median(found) * 1000:.0f} ms, "
        f"max {max(found) * 1000:.0f} ms ({len(found)} messages)",
        flush=True,
    )


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
                scenario_http_ping(host.base_url, args.seconds)
            finally:
                host.stop()
            httpx_ceiling(args.seconds)
            for number, interval in enumerate(float(x) for x in args.polling_intervals.split(",")):
                scenario_queue_pickup(azurite.connection_string, work, interval, args.samples, number)
    finally:
        azurite.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds per HTTP load run")
    parser.add_argument("--samples", type=int, default=15, help="queue messages per pickup measurement")
    parser.add_argument("--polling-intervals", default="2,0.4", help="maxPollingInterval values (s) to measure")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
