"""Authentication cost per request over HTTP through devhost, 8 aiohttp clients, every scheme in one run.

Starts its own Azurite (in memory), a local JWKS server (an RSA key, served by `python -m http.server`) and one
devhost serving Conduit's function_app.py with the workspace benchmarks/workspace, configured with the admin key,
`CONDUIT_JWT_SECRET` (HS256) and `CONDUIT_JWT_JWKS_URL` / `AUDIENCE` / `ISSUER` (RS256). It makes an organization
and an API key of it, mints an HS256 and an RS256 token of a user of that organization, then measures for --seconds
each (after a warm-up; every answer must be 200):
  (1) baseline: `GET /api/health` without credentials (the public answer: storage ping, versions);
  (2) `GET /api/workflows` — the cheapest authenticated route (the registry's list filtered by the policy, no
      storage request) — with the admin key, a hashed API key (warm), an HS256 token and an RS256 token;
  (3) `GET /api/health` WITH each credential but the admin key: the same route and answer as (1), so the difference
      is authentication alone (the admin key would get the admin's health details, another answer).
The scenarios run in --rounds interleaved rounds (the machine is shared; drift then falls on all alike).
Then storage requests per request: a second devhost whose table requests pass a counting proxy (as in
provider_cache.py) answers --count warm requests per scheme; the in-process key and organization rows are re-read
once per CONDUIT_AUTH_CACHE_SECONDS (5 s), which is the only storage cost a warm key or token should have.

Goal: no scheme costs more than 20 % of the unauthenticated rate once warm; 0 storage requests per request for a
warm API key or token.

Usage: .venv/bin/python benchmarks/auth_cost.py [--seconds 15] [--rounds 3] [--count 2000] [--token-cache-seconds 0]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import aiohttp
import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from jwt.algorithms import RSAAlgorithm

BENCHMARKS = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCHMARKS))
sys.path.insert(0, str(BENCHMARKS.parent))

from devhost_throughput import REPO_ROOT, Devhost, LoadResult, free_port, http_load  # noqa: E402
from provider_cache import CountingProxy, through  # noqa: E402

from devhost.azurite import start_azurite  # noqa: E402

CONCURRENCY = 8
HS_SECRET = secrets.token_urlsafe(32)
ISSUER, AUDIENCE, KID = "https://issuer.bench", "conduit-bench", "bench-rsa-1"
BASELINE = "health, no credentials"
GOAL = 0.20


class JwksServer:
    """`python -m http.server` over a folder holding jwks.json."""

    def __init__(self, folder: Path, public_jwk: dict[str, Any]) -> None:
        folder.mkdir(parents=True, exist_ok=True)
        (folder / "jwks.json").write_text(json.dumps({"keys": [public_jwk]}))
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/jwks.json"
        self.process = subprocess.Popen([sys.executable, "-m", "http.server", str(self.port), "--bind", "127.0.0.1",
                                         "--directory", str(folder)], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 15
        while True:
            try:
                httpx.get(self.url, timeout=2).raise_for_status()
                return
            except httpx.HTTPError:
                if self.process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("the JWKS server did not start") from None
                time.sleep(0.1)

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=10)


TOKEN_CACHE: dict[str, str] = {}  # CONDUIT_JWT_CACHE_SECONDS when --token-cache-seconds is given


def host_env(connection: str, admin_key: str, jwks_url: str) -> dict[str, str]:
    return TOKEN_CACHE | {"AzureWebJobsStorage": connection, "CONDUIT_ADMIN_KEY": admin_key,
            "CONDUIT_WORKSPACE": str(BENCHMARKS / "workspace"), "CONDUIT_JWT_SECRET": HS_SECRET,
            "CONDUIT_JWT_JWKS_URL": jwks_url, "CONDUIT_JWT_AUDIENCE": AUDIENCE, "CONDUIT_JWT_ISSUER": ISSUER,
            # the per-key limit (default 600/min) would answer most of the load 429; its check is still made
            "CONDUIT_RATE_LIMIT_PER_MINUTE": "100000000"}


def claims(org: str) -> dict[str, Any]:
    now = int(time.time())
    return {"sub": "bench-user", "org_id": org, "roles": ["OrgUser"], "iss": ISSUER, "aud": AUDIENCE, "iat": now,
            "exp": now + 3600}


def credentials(base_url: str, admin_key: str, private: Any) -> dict[str, dict[str, str]]:
    """An organization, an API key of it and two tokens of its user; each checked to answer 200 (and so warmed)."""
    admin = {"x-api-key": admin_key}
    org = f"bench-{secrets.token_hex(4)}"
    httpx.post(f"{base_url}/organizations", json={"id": org, "name": "Bench"}, headers=admin,
               timeout=30).raise_for_status()
    key = httpx.post(f"{base_url}/keys", json={"name": "bench", "org_id": org}, headers=admin, timeout=30)
    key.raise_for_status()
    schemes = {
        "admin key": admin,
        "API key (hashed, warm)": {"Authorization": f"Bearer {key.json()['secret']}"},
        "JWT HS256": {"Authorization": f"Bearer {jwt.encode(claims(org), HS_SECRET, algorithm='HS256')}"},
        "JWT RS256 (JWKS)": {"Authorization": "Bearer " + jwt.encode(claims(org), private, algorithm="RS256",
                                                                     headers={"kid": KID})},
    }
    for name, headers in schemes.items():
        answer = httpx.get(f"{base_url}/workflows", headers=headers, timeout=30)
        if answer.status_code != 200:
            raise RuntimeError(f"{name}: GET /api/workflows answered {answer.status_code}: {answer.text}")
    return schemes


def timed(base_url: str, schemes: dict[str, dict[str, str]], seconds: float, rounds: int) -> dict[str, LoadResult]:
    """Every scenario `rounds` times, interleaved (the machine is shared: load from elsewhere then falls on every
    scenario alike); per scenario the requests of all rounds over their seconds, the median p50 and p99."""
    scenarios: dict[str, tuple[str, dict[str, str]]] = {BASELINE: ("health", {})}
    scenarios |= {f"workflows, {name}": ("workflows", headers) for name, headers in schemes.items()}
    scenarios |= {f"health, {name}": ("health", headers) for name, headers in schemes.items() if name != "admin key"}
    runs: dict[str, list[LoadResult]] = {name: [] for name in scenarios}
    for number in range(rounds):
        for name, (path, headers) in scenarios.items():
            result = asyncio.run(http_load(f"{base_url}/{path}", CONCURRENCY, seconds / rounds, client="aiohttp",
                                           headers=headers))
            runs[name].append(result)
            print(result.line(f"    round {number + 1}: {name}"), flush=True)
    return {name: combined(results) for name, results in runs.items()}


def combined(results: list[LoadResult]) -> LoadResult:
    return LoadResult(results[0].concurrency, sum(r.requests for r in results), sum(r.errors for r in results),
                      sum(r.seconds for r in results), statistics.median(r.p50_ms for r in results),
                      statistics.median(r.p99_ms for r in results))


async def count_load(url: str, headers: dict[str, str], count: int) -> int:
    """`count` requests by CONCURRENCY clients; the number of answers that were not 200."""
    left, errors = count, 0
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=CONCURRENCY), headers=headers) as session:
        async def worker() -> None:
            nonlocal left, errors
            while left > 0:
                left -= 1
                async with session.get(url) as answer:
                    await answer.read()
                    errors += answer.status != 200
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    return errors


def counted(connection: str, table_port: int, work: Path, jwks_url: str, private: Any,
            count: int) -> dict[str, tuple[float, float]]:
    """(storage requests per request, seconds taken) per scheme, warm, on a host whose table requests are counted."""
    proxy = CountingProxy(table_port)
    admin_key = secrets.token_urlsafe(16)
    per: dict[str, tuple[float, float]] = {}
    try:
        host = Devhost(REPO_ROOT, host_env(through(connection, proxy.port), admin_key, jwks_url), work)
        try:
            host.wait_healthy()
            schemes = credentials(host.base_url, admin_key, private)  # each already used once: warm
            for name, headers in schemes.items():
                before, started = proxy.total(), time.perf_counter()
                errors = asyncio.run(count_load(f"{host.base_url}/workflows", headers, count))
                took = time.perf_counter() - started
                per[name] = ((proxy.total() - before) / count, took)
                if errors:
                    print(f"    counting run '{name}': {errors} answers were not 200", flush=True)
            print(f"    table requests of the counted host, by verb and table: {proxy.counts()}", flush=True)
        finally:
            host.stop()
    finally:
        proxy.stop()
    return per


def summary(results: dict[str, LoadResult], storage: dict[str, tuple[float, float]]) -> None:
    base = results[BASELINE].rps
    print(f"\nscenario ({CONCURRENCY} aiohttp clients)                 req/s  p50 ms  p99 ms errors  cost vs "
          f"unauthenticated  storage req/request")
    for name, result in results.items():
        cost = 1 - result.rps / base if base else float("nan")
        scheme = name.split(", ", 1)[1]
        stored = storage.get(scheme)
        stored_text = f"{stored[0]:.4f}" if stored and name.startswith("workflows") else ""
        print(f"{name:<45}{result.rps:8.0f} {result.p50_ms:7.2f} {result.p99_ms:7.2f} {result.errors:6d}  "
              f"{cost:+8.0%}  {'ok' if cost <= GOAL else 'MISSED':>6}   {stored_text}")
    print(f"\nbaseline: the unauthenticated health route ({base:.0f}/s); goal: cost <= {GOAL:.0%}")
    for scheme, (per, took) in storage.items():
        if scheme != "admin key":
            print(f"storage requests per warm request, {scheme}: {per:.4f} over {took:.1f} s (goal 0; the key and "
                  f"organization rows are re-read once per CONDUIT_AUTH_CACHE_SECONDS)")


def run(args: argparse.Namespace) -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    public = RSAAlgorithm.to_jwk(private.public_key(), as_dict=True) | {"kid": KID, "use": "sig", "alg": "RS256"}
    azurite = start_azurite()
    try:
        with tempfile.TemporaryDirectory(prefix="auth-cost-bench-") as tmp:
            work = Path(tmp)
            jwks = JwksServer(work / "jwks", public)
            try:
                admin_key = secrets.token_urlsafe(16)
                host = Devhost(REPO_ROOT, host_env(azurite.connection_string, admin_key, jwks.url), work)
                try:
                    host.wait_healthy()
                    schemes = credentials(host.base_url, admin_key, private)
                    results = timed(host.base_url, schemes, args.seconds, args.rounds)
                finally:
                    host.stop()
                storage = counted(azurite.connection_string, azurite.ports["table"], work, jwks.url, private,
                                  args.count)
            finally:
                jwks.stop()
    finally:
        azurite.stop()
    summary(results, storage)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=15.0, help="measured seconds per scenario")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds the seconds are split into")
    parser.add_argument("--count", type=int, default=2000, help="requests per scheme of the counted run")
    parser.add_argument("--token-cache-seconds", help="CONDUIT_JWT_CACHE_SECONDS for the hosts (0: verify every "
                                                      "token every time, as before the verified-token cache)")
    args = parser.parse_args()
    if args.token_cache_seconds is not None:
        TOKEN_CACHE["CONDUIT_JWT_CACHE_SECONDS"] = args.token_cache_seconds
    run(args)


if __name__ == "__main__":
    main()
