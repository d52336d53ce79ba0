"""DAG runs: the peer benchmark's 40 chained 10 ms tasks, 10 parallel 100 ms branches, a foreach over 1,000 items.

Starts its own Azurite (in memory) and a devhost on Conduit's own app (workspace: benchmarks/workspace, whose
dag_bench.py builds the DAGs), then:

(a) `bench_dag_chain`: 40 `action` nodes in a chain, each calling a workflow that sleeps 10 ms; persisted, run sync
    over HTTP (`POST /api/workflows/bench_dag_chain/execute`), end to end as the client sees it (goal < 0.8 s); the
    engine's own time per node is (end to end - 0.4 s) / 40. Peers (published): Hatchet 1.22 s, Windmill dedicated
    worker 2.09 s, Temporal 2.97 s, Prefect 4.87 s.
(b) `bench_dag_parallel`: a parallel node, 10 branches of 100 ms, a join (goal < 0.2 s).
(c) `bench_dag_foreach`: loop_foreach over 1,000 items, max_concurrency 50, each item a 10 ms action.

Each is run several times over HTTP (median and best reported). Storage requests per run are counted in this process
(an azure-core pipeline policy on the real clients) by running the same DAGs persisted through an engine here, since
the devhost's own clients cannot be counted from outside; the stored step rows of the HTTP runs are read back to
check that every node has its row.

    .venv/bin/python benchmarks/dag_run.py [--runs 7] [--foreach-runs 3]
"""

from __future__ import annotations

import argparse
import asyncio
import os
import secrets
import statistics
import sys
import tempfile
import time
from pathlib import Path

import httpx

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from benchmarks.devhost_throughput import Devhost  # noqa: E402
from devhost.azurite import start_azurite  # noqa: E402
from shared.engine.core import Engine  # noqa: E402
from shared.functions.discovery import discover  # noqa: E402
from shared.functions.registry import FunctionRegistry  # noqa: E402
from shared.models import ExecutionRequest, ExecutionStatus  # noqa: E402
from shared.storage.clients import RequestCounter  # noqa: E402
from shared.storage.executions import ExecutionStore  # noqa: E402

WORKSPACE = REPO_ROOT / "benchmarks" / "workspace"
CASES = (("(a) 40 chained actions of 10 ms", "bench_dag_chain", 40),
         ("(b) 10 parallel branches of 100 ms", "bench_dag_parallel", 12),
         ("(c) foreach 1,000 items x 10 ms, max 50", "bench_dag_foreach", 1001))


def over_http(base_url: str, admin_key: str, name: str, runs: int) -> tuple[list[float], list[str]]:
    """Seconds per sync run as the client sees it, and the execution ids (one warm-up run first, not counted)."""
    seconds: list[float] = []
    ids: list[str] = []
    with httpx.Client(headers={"x-api-key": admin_key}, timeout=120) as client:
        for attempt in range(runs + 1):
            started = time.perf_counter()
            response = client.post(f"{base_url}/workflows/{name}/execute", json={"input_data": {}})
            elapsed = time.perf_counter() - started
            body = response.json()
            if response.status_code != 200 or body.get("status") != "Success":
                raise RuntimeError(f"{name} answered {response.status_code}: {str(body)[:500]}")
            if attempt:
                seconds.append(elapsed)
                ids.append(body["execution_id"])
    return seconds, ids


def bench_registry() -> FunctionRegistry:
    """The bench workspace, loaded once (its modules are imported once per process)."""
    registry = FunctionRegistry()
    report = discover(registry, [(WORKSPACE, "workspace")])
    assert not report.errors, report.errors
    return registry


async def requests_per_run(registry: FunctionRegistry, connection: str, name: str) -> tuple[int, int]:
    """(storage requests, stored step rows) of one persisted run through an engine in this process."""
    counter = RequestCounter()
    async with ExecutionStore.from_connection_string(connection, counter=counter) as store:
        await store.ensure_tables()
        engine = Engine(registry, store)
        await engine.execute(ExecutionRequest(name="bench_sleep_10ms"))  # the scope is registered, clients warm
        counter.reset()
        request = ExecutionRequest(name=name)
        result = await engine.execute(request)
        requests = counter.reset()
        assert result.status is ExecutionStatus.SUCCESS, result.error_message
        rows = await store.get_steps(request.execution_id)
        engine.close()
    return requests, len(rows)


async def stored_rows(connection: str, execution_id: str) -> int:
    async with ExecutionStore.from_connection_string(connection) as store:
        return len(await store.get_steps(execution_id))


def main(runs: int, foreach_runs: int) -> None:
    azurite = start_azurite()
    admin_key = secrets.token_urlsafe(16)
    env = {"AzureWebJobsStorage": azurite.connection_string, "CONDUIT_ADMIN_KEY": admin_key,
           "CONDUIT_WORKSPACE": str(WORKSPACE)}
    try:
        with tempfile.TemporaryDirectory() as work:
            host = Devhost(REPO_ROOT, env, Path(work))
            try:
                host.wait_healthy()
                rows = []
                registry = bench_registry()
                for label, name, nodes in CASES:
                    seconds, ids = over_http(host.base_url, admin_key, name, foreach_runs if nodes > 100 else runs)
                    stored = asyncio.run(stored_rows(azurite.connection_string, ids[-1]))
                    requests, _ = asyncio.run(requests_per_run(registry, azurite.connection_string, name))
                    rows.append((label, seconds, nodes, stored, requests))
            finally:
                host.stop()
    finally:
        azurite.stop()
    cores = os.cpu_count()
    print(f"DAG runs, sync over HTTP against devhost + Azurite on this machine ({cores} cores), persisted:")
    print(f"{'case':42} {'median':>8} {'best':>8} {'runs':>5} {'node steps stored':>18} {'storage requests':>17}")
    for label, seconds, nodes, stored, requests in rows:
        print(f"{label:42} {statistics.median(seconds):7.3f}s {min(seconds):7.3f}s {len(seconds):5} "
              f"{stored:>12}/{nodes:<5} {requests:>17}")
    chain = statistics.median(rows[0][1])
    print(f"(a) engine time per node: (median {chain:.3f} s - 0.400 s) / 40 = {(chain - 0.4) / 40 * 1000:.1f} ms; "
          "peers: Hatchet 1.22 s, Windmill 2.09 s, Temporal 2.97 s, Prefect 4.87 s")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--foreach-runs", type=int, default=3)
    arguments = parser.parse_args()
    main(arguments.runs, arguments.foreach_runs)
