"""Data-provider cache over HTTP through devhost: hits from the in-process tier, hits from the shared (Table storage)
tier only, and misses, against devhost's trivial route as the ceiling — all in one run, 8 aiohttp clients.

Starts its own Azurite (in memory) and devhost processes serving Conduit's function_app.py with the workspace
benchmarks/workspace (its cache_providers.py declares `bench_options`, instant, and `bench_slow_options`, 50 ms;
both cached for an hour), then:
  (1) ceiling: devhost's trivial route (devhost_throughput's `ping` app), for --seconds;
  (2) in-process hits: host A, `POST /api/data-providers/bench_options` with one key, warmed first, for --seconds;
  (3) shared-tier hits: host A first fills the cache with --keys distinct keys; then a FRESH host B (empty in-process
      tier, same Azurite) asks for each key exactly once — so every answer comes from the shared tier, never from
      its own LRU (a second request for a key would);
  (4) misses: host A, `bench_slow_options` with a new key per request (the provider sleeps 50 ms), for --seconds.
Every answer must be 200 with `cached` as the scenario expects (true for hits, false for misses), else it counts
as an error.

Storage requests are counted by a small reverse proxy in front of Azurite's table endpoint, used only by a third
fresh host C (so the timed hosts talk to Azurite directly): C asks for --count-keys pre-filled keys once each
(shared-tier hits), then one of them --count-hits times (in-process hits), then --count-keys new keys of the slow
provider (misses). The in-process figure includes the invalidation generation re-read the cache makes every few
seconds, spread over the hits.

Goals: in-process hits >= 50 % of the trivial route's rate and p50 < 3 ms; storage requests per in-process hit 0,
per shared-tier hit 1. With 8 closed-loop clients each request also waits for the others (p50 ~ 8 / rate), so the
trivial route and the in-process hits are measured with 1 client too, for their latency without queueing.

Usage: .venv/bin/python benchmarks/provider_cache.py [--seconds 5] [--keys 2000]
"""

from __future__ import annotations

import argparse
import asyncio
import itertools
import json
import secrets
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import aiohttp

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(BENCHMARKS.parent))

from devhost_throughput import (  # noqa: E402
    REPO_ROOT,
    Devhost,
    LoadResult,
    free_port,
    http_load,
    percentile,
    write_app,
)

from devhost.azurite import start_azurite  # noqa: E402

CONCURRENCY = 8
FAST, SLOW = "bench_options", "bench_slow_options"
SCENARIOS = ("in-process hits", "shared-tier hits (fresh host)", "misses (50 ms provider)")  # (2), (3), (4)
ONE_CLIENT = "in-process hits, 1 client"  # latency without queueing: 8 closed-loop clients wait ~8/rps each

# A reverse proxy for the table endpoint that counts what passes; `GET /__count` answers the counts by table.
COUNTING_PROXY = """
import collections, json, sys
from aiohttp import ClientSession, TCPConnector, web

upstream = f"http://127.0.0.1:{sys.argv[2]}"
counts = collections.Counter()
HOP = {"connection", "keep-alive", "transfer-encoding", "content-length", "host"}


def table_of(path):
    part = path.strip("/").split("/")[1] if path.count("/") > 1 else path.strip("/")
    return part.split("(")[0] or "?"


async def forward(request):
    if request.path == "/__count":
        return web.json_response(dict(counts))
    counts[f"{request.method} {table_of(request.path)}"] += 1
    headers = {k: v for k, v in request.headers.items() if k.lower() not in HOP}
    body = await request.read()
    # Nothing may be added to what the client signed (aiohttp would add a Content-Type to a request without one).
    async with request.app["session"].request(request.method, upstream + request.path_qs, headers=headers,
                                              data=body or None, allow_redirects=False,
                                              skip_auto_headers=("Content-Type",)) as answer:
        body = await answer.read()
        kept = {k: v for k, v in answer.headers.items() if k.lower() not in HOP}
        return web.Response(status=answer.status, headers=kept, body=body)


async def session(app):
    app["session"] = ClientSession(connector=TCPConnector(limit=64), auto_decompress=False)
    yield
    await app["session"].close()


app = web.Application(client_max_size=8 * 1024 * 1024)
app.cleanup_ctx.append(session)
app.router.add_route("*", "/{tail:.*}", forward)
web.run_app(app, host="127.0.0.1", port=int(sys.argv[1]), access_log=None, print=lambda *_: None)
"""


class CountingProxy:
    """The proxy as a subprocess; `total()` is every table request it has forwarded so far."""

    def __init__(self, table_port: int) -> None:
        self.port = free_port()
        self.process = subprocess.Popen([sys.executable, "-c", COUNTING_PROXY, str(self.port), str(table_port)])
        deadline = time.monotonic() + 15
        while True:
            try:
                self.counts()
                return
            except OSError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the counting proxy did not start") from None
                time.sleep(0.1)

    def counts(self) -> dict[str, int]:
        with urllib.request.urlopen(f"http://127.0.0.1:{self.port}/__count", timeout=5) as answer:
            return dict(json.loads(answer.read()))

    def total(self) -> int:
        return sum(self.counts().values())

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


def through(connection: str, proxy_port: int) -> str:
    """The connection string with its table endpoint replaced by the proxy's."""
    parts = [p for p in connection.split(";") if p and not p.startswith("TableEndpoint=")]
    return ";".join([*parts, f"TableEndpoint=http://127.0.0.1:{proxy_port}/devstoreaccount1"])


def conduit_host(connection: str, work: Path, admin_key: str) -> Devhost:
    env = {"AzureWebJobsStorage": connection, "CONDUIT_ADMIN_KEY": admin_key,
           "CONDUIT_WORKSPACE": str(BENCHMARKS / "workspace")}
    host = Devhost(REPO_ROOT, env, work)
    host.wait_healthy()
    return host


def key_of(run: str, n: int) -> str:
    return f"{run}-{n:06d}"


Bodies = Callable[[], dict[str, Any] | None]


async def provider_load(
    base_url: str, admin_key: str, provider: str, bodies: Bodies, *, seconds: float | None, cached: bool,
    clients: int = CONCURRENCY,
) -> LoadResult:
    """`clients` clients post `bodies()` until it is None or `seconds` pass; an answer whose status is not 200 or
    whose `cached` is not as expected is an error."""
    url = f"{base_url}/data-providers/{provider}"
    latencies: list[float] = []
    errors = 0
    connector = aiohttp.TCPConnector(limit=clients)
    async with aiohttp.ClientSession(connector=connector, headers={"x-api-key": admin_key}) as session:

        async def worker(deadline: float) -> None:
            nonlocal errors
            while time.perf_counter() < deadline:
                body = bodies()
                if body is None:
                    return
                started = time.perf_counter()
                async with session.post(url, json=body) as response:
                    answer = await response.read()
                latencies.append(time.perf_counter() - started)
                errors += response.status != 200 or _cached(answer) is not cached

        began = time.perf_counter()
        await asyncio.gather(*(worker(began + (seconds or 3600)) for _ in range(clients)))
        took = time.perf_counter() - began
    return LoadResult(clients, len(latencies), errors, took,
                      percentile(latencies, 0.5) * 1000, percentile(latencies, 0.99) * 1000)


def _cached(answer: bytes) -> bool | None:
    try:
        return bool(json.loads(answer)["cached"])
    except (ValueError, KeyError, TypeError):
        return None


def each_key(run: str, count: int) -> Bodies:
    """Bodies for keys run-000000 .. run-<count-1>, each once, then None."""
    numbers: Iterator[int] = iter(range(count))

    def body() -> dict[str, Any] | None:
        n = next(numbers, None)
        return None if n is None else {"inputs": {"key": key_of(run, n)}, "no_cache": False}

    return body


def same_key(key: str) -> Bodies:
    body = {"inputs": {"key": key}, "no_cache": False}
    return lambda: body


def new_keys(run: str) -> Bodies:
    counter = itertools.count()
    return lambda: {"inputs": {"key": key_of(run, next(counter))}, "no_cache": False}


def load(
    host: Devhost, key: str, provider: str, bodies: Bodies, *, seconds: float | None, cached: bool,
    clients: int = CONCURRENCY,
) -> LoadResult:
    return asyncio.run(
        provider_load(host.base_url, key, provider, bodies, seconds=seconds, cached=cached, clients=clients)
    )


def timed_scenarios(connection: str, work: Path, args: argparse.Namespace) -> dict[str, LoadResult]:
    """(2) in-process hits and (4) misses on host A, which also fills the shared tier; (3) on a fresh host B."""
    admin_key = secrets.token_urlsafe(16)
    results: dict[str, LoadResult] = {}
    host_a = conduit_host(connection, work, admin_key)
    try:
        warm = load(host_a, admin_key, FAST, each_key("hot", 1), seconds=None, cached=False)
        load(host_a, admin_key, FAST, same_key("hot-000000"), seconds=min(1.0, args.seconds / 5), cached=True)
        results["in-process hits"] = load(host_a, admin_key, FAST, same_key("hot-000000"), seconds=args.seconds,
                                          cached=True)
        results[ONE_CLIENT] = load(host_a, admin_key, FAST, same_key("hot-000000"), seconds=args.seconds / 2,
                                   cached=True, clients=1)
        fill = load(host_a, admin_key, FAST, each_key("shared", args.keys), seconds=None, cached=False)
        print(f"    host A filled the cache: {warm.requests + fill.requests} misses, {fill.errors} errors, "
              f"{fill.rps:.0f}/s", flush=True)
        results["misses (50 ms provider)"] = load(host_a, admin_key, SLOW, new_keys("miss"), seconds=args.seconds,
                                                  cached=False)
    finally:
        host_a.stop()
    host_b = conduit_host(connection, work, admin_key)
    try:
        results["shared-tier hits (fresh host)"] = load(host_b, admin_key, FAST, each_key("shared", args.keys),
                                                        seconds=None, cached=True)
    finally:
        host_b.stop()
    return results


def counted_scenarios(connection: str, table_port: int, work: Path, args: argparse.Namespace) -> dict[str, float]:
    """Storage requests per request of each kind, on a fresh host C whose table requests pass the counting proxy."""
    proxy = CountingProxy(table_port)
    admin_key = secrets.token_urlsafe(16)
    per: dict[str, float] = {}
    try:
        host_c = conduit_host(through(connection, proxy.port), work, admin_key)
        try:
            for name, provider, bodies, cached in (
                ("shared-tier hits (fresh host)", FAST, each_key("shared", args.count_keys), True),
                ("in-process hits", FAST, _limited(same_key("shared-000000"), args.count_hits), True),
                ("misses (50 ms provider)", SLOW, each_key("counted-miss", args.count_keys), False),
            ):
                before = proxy.total()
                result = load(host_c, admin_key, provider, bodies, seconds=None, cached=cached)
                per[name] = (proxy.total() - before) / max(1, result.requests)
                if result.errors:
                    print(f"    counting run '{name}': {result.errors} unexpected answers", flush=True)
            print(f"    table requests host C made, by verb and table: {proxy.counts()}", flush=True)
        finally:
            host_c.stop()
    finally:
        proxy.stop()
    return per


def _limited(bodies: Bodies, count: int) -> Bodies:
    left = itertools.count(count, -1)
    return lambda: bodies() if next(left) > 0 else None


def verdict(ok: bool) -> str:
    return "ok" if ok else "MISSED"


def print_summary(ceiling: LoadResult, timed: dict[str, LoadResult], storage: dict[str, float]) -> None:
    print(f"\nscenario ({CONCURRENCY} aiohttp clients)            req/s  p50 ms  p99 ms  errors  storage req/request")
    print(f"(1) devhost trivial route (ceiling)  {ceiling.rps:8.0f} {ceiling.p50_ms:7.2f} {ceiling.p99_ms:7.2f} "
          f"{ceiling.errors:7d}")
    for number, name in enumerate(SCENARIOS, start=2):
        result = timed[name]
        print(f"({number}) {name:<31}{result.rps:8.0f} {result.p50_ms:7.2f} {result.p99_ms:7.2f} "
              f"{result.errors:7d}  {storage.get(name, float('nan')):8.3f}")
    hits = timed["in-process hits"]
    ratio = hits.rps / ceiling.rps if ceiling.rps else 0.0
    print(f"\nin-process hits / trivial route: {ratio:.0%} (goal >= 50 %: {verdict(ratio >= 0.5)}); "
          f"p50 {hits.p50_ms:.2f} ms (goal < 3 ms: {verdict(hits.p50_ms < 3)})")
    in_process, shared = storage.get("in-process hits", float("nan")), storage.get("shared-tier hits (fresh host)")
    print(f"storage requests per in-process hit {in_process:.3f} (goal 0: {verdict(in_process < 0.01)}), "
          f"per shared-tier hit {shared:.3f} (goal 1: {verdict(shared is not None and abs(shared - 1) < 0.01)})")
    failed = sum(result.errors for result in timed.values())
    if failed:
        print(f"{failed} answers were not 200 with the expected `cached` flag: the figures above are not cache figures")


def run(args: argparse.Namespace) -> None:
    azurite = start_azurite()
    try:
        with tempfile.TemporaryDirectory(prefix="provider-cache-bench-") as tmp:
            work = Path(tmp)
            write_app(work / "ping-app", 2.0)
            env = {"AzureWebJobsStorage": azurite.connection_string, "BENCH_QUEUE": "bench-ping",
                   "BENCH_PICKUP_FILE": str(work / "unused.txt")}
            ping_host = Devhost(work / "ping-app", env, work)
            try:
                ceiling = asyncio.run(_ping(ping_host.base_url, args.seconds, CONCURRENCY))
                ceiling_one = asyncio.run(_ping(ping_host.base_url, args.seconds / 2, 1))
            finally:
                ping_host.stop()
            print(ceiling.line("(1) devhost trivial route"), flush=True)
            print(ceiling_one.line("    devhost trivial route, 1 client"), flush=True)
            timed = timed_scenarios(azurite.connection_string, work, args)
            for name in (*SCENARIOS, ONE_CLIENT):
                print(timed[name].line(f"    {name}"), flush=True)
            storage = counted_scenarios(azurite.connection_string, azurite.ports["table"], work, args)
    finally:
        azurite.stop()
    print_summary(ceiling, timed, storage)
    print(f"with 1 client (no queueing): trivial route p50 {ceiling_one.p50_ms:.2f} ms, in-process hit p50 "
          f"{timed[ONE_CLIENT].p50_ms:.2f} ms (< 3 ms: {verdict(timed[ONE_CLIENT].p50_ms < 3)})")


async def _ping(base_url: str, seconds: float, clients: int) -> LoadResult:
    return await http_load(f"{base_url}/ping", clients, seconds, client="aiohttp")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=5.0, help="measured seconds of the time-bound scenarios")
    parser.add_argument("--keys", type=int, default=2000, help="keys the fresh host reads from the shared tier")
    parser.add_argument("--count-keys", type=int, default=200, help="keys per counted shared-tier and miss run")
    parser.add_argument("--count-hits", type=int, default=1000, help="requests of the counted in-process hit run")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
