"""What durability costs: storage requests per DAG node, a resume after a crash, a pause and its wake-up.

Starts its own Azurite (in memory) and runs, through a real engine, store and queue in this process (the worker a
host runs, `process_message`), the 40-node chain of benchmarks/dag_run.py (each node an action of 10 ms):

(a) queued, start to end: Table requests per node;
(b) a takeover: the run is stopped as a killed host would stop it while node 30 runs, its lease expires, and another
    worker takes it over — the 29 completed nodes are reused, not run: requests and seconds of the takeover run;
(c) paused: the same chain with a `delay` node after node 20 that parks the run (Waiting) and is woken through the
    queue: requests beyond (a) for the pause and the wake-up (the delay's own second is not counted in time).

Table requests are counted by an azure-core policy on the store's clients; queue requests (send, receive, delete) are
counted by hand from what the run did.

    .venv/bin/python benchmarks/durable_cost.py [--runs 5]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import itertools
import os
import statistics
import sys
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))
os.environ.setdefault("CONDUIT_PARK_AFTER_SECONDS", "0.5")

from azure.storage.queue.aio import QueueClient  # noqa: E402

from benchmarks.dag_run import bench_registry  # noqa: E402
from devhost.azurite import start_azurite  # noqa: E402
from shared import workflow  # noqa: E402
from shared.dag.definition import DagDefinition  # noqa: E402
from shared.dag.registration import dag_metadata  # noqa: E402
from shared.engine.core import Engine  # noqa: E402
from shared.executions.service import WorkflowCall, submit  # noqa: E402
from shared.executions.services import Services  # noqa: E402
from shared.executions.worker import process_message  # noqa: E402
from shared.functions.registry import FunctionRegistry, use_registry  # noqa: E402
from shared.models import SYSTEM_CALLER, ExecutionStatus, utc_now  # noqa: E402
from shared.storage.clients import RequestCounter, queue_client_options  # noqa: E402
from shared.storage.executions import ExecutionStore  # noqa: E402
from shared.storage.queues import ExecutionMessage, ExecutionQueue  # noqa: E402

NODES = 40
gates: dict[str, asyncio.Event] = {}


def chain(name: str, middle: dict[str, Any] | None = None, at: int = 20) -> DagDefinition:
    def action(i: int) -> dict[str, Any]:
        return {"id": f"n{i}", "type": "action", "data": {"workflow": "bench_sleep_10ms", "input": {"step": i}}}

    nodes = [action(i) for i in range(NODES)]
    if middle is not None:
        nodes.insert(at, middle)
    edges = [{"source": a["id"], "target": b["id"]} for a, b in itertools.pairwise(nodes)]
    return DagDefinition.model_validate({"name": name, "nodes": nodes, "edges": edges,
                                         "parameters": [{"name": "gate", "default_value": ""}]})


def registry_with_cases() -> FunctionRegistry:
    registry = bench_registry()
    with use_registry(registry):

        @workflow(name="bench_gate")
        async def bench_gate(context, gate: str) -> str:
            await gates[gate].wait()
            return gate

    registry.register(dag_metadata(chain("durable_chain")))
    gate_node = {"id": "gate", "type": "action",
                 "data": {"workflow": "bench_gate", "input": {"gate": "{{ inputs.gate }}"}}}
    registry.register(dag_metadata(chain("durable_crash", gate_node, at=29)))
    registry.register(dag_metadata(chain("durable_pause", {"id": "pause", "type": "delay", "data": {"seconds": 1}})))
    return registry


class Worker:
    """The host's queue worker over one queue, counting what it receives and deletes."""

    def __init__(self, services: Services, connection: str, probe: ExecutionStore) -> None:
        self.services, self.connection, self.probe = services, connection, probe
        self.queue_requests = 0

    async def until(self, execution_id: str, done: Any, seconds: float = 60) -> None:
        end = time.monotonic() + seconds
        async with QueueClient.from_connection_string(self.connection, self.services.queue.name,
                                                      **queue_client_options()) as client:
            while time.monotonic() < end:
                record = await self.probe.get("GLOBAL", execution_id, light=True)  # not counted
                if record is not None and done(record):
                    return
                batch = [m async for m in client.receive_messages(messages_per_page=32, visibility_timeout=60)]
                self.queue_requests += 1
                for raw in batch:
                    await process_message(self.services, base64.b64decode(raw.content), raw.dequeue_count)
                    await client.delete_message(raw.id, raw.pop_receipt)
                    self.queue_requests += 1
                if not batch:
                    await asyncio.sleep(0.1)
        raise TimeoutError(f"execution {execution_id} did not get there")


async def one_round(registry: FunctionRegistry, connection: str) -> dict[str, float]:
    counter = RequestCounter()
    async with ExecutionStore.from_connection_string(connection, counter=counter) as store, \
            ExecutionStore.from_connection_string(connection) as probe:
        await store.ensure_tables()
        queue = ExecutionQueue(connection, name=f"durable-bench-{uuid.uuid4().hex[:8]}")
        await queue.ensure()
        engine = Engine(registry, store)
        services = Services(registry=registry, store=store, engine=engine, queue=queue)
        worker = Worker(services, connection, probe)

        def terminal(record: Any) -> bool:
            return record.status.is_terminal

        async def queued(name: str, **inputs: Any) -> str:
            submission = await submit(services, WorkflowCall(name, inputs, caller=SYSTEM_CALLER, wait=False))
            return submission.execution_id

        await worker.until(await queued("durable_chain"), terminal)  # warm: scope registered, clients open
        figures: dict[str, float] = {}

        # (a) a queued 40-node run
        counter.reset()
        started = time.perf_counter()
        execution_id = await queued("durable_chain")
        await worker.until(execution_id, terminal)
        figures["a_seconds"] = time.perf_counter() - started
        figures["a_requests"] = counter.reset()

        # (b) a takeover after a crash while node 30 runs
        gate = uuid.uuid4().hex
        gates[gate] = asyncio.Event()
        execution_id = await queued("durable_crash", gate=gate)
        task = asyncio.ensure_future(worker.until(execution_id, terminal))
        while len(await probe.get_steps(execution_id)) < 29:
            await asyncio.sleep(0.02)
        await asyncio.sleep(0.05)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        record = await probe.get("GLOBAL", execution_id)
        assert record is not None and record.status is ExecutionStatus.RUNNING
        await store.update(record, lease_expires_at=utc_now() - timedelta(seconds=1))
        gates[gate].set()
        await queue.send(ExecutionMessage(execution_id, "GLOBAL"))
        counter.reset()
        started = time.perf_counter()
        await worker.until(execution_id, terminal)
        figures["b_seconds"] = time.perf_counter() - started
        figures["b_requests"] = counter.reset()
        final = await probe.get("GLOBAL", execution_id)
        assert final is not None and final.status is ExecutionStatus.SUCCESS and final.attempt == 2

        # (c) paused by a delay after node 20, woken through the queue
        counter.reset()
        worker.queue_requests = 0
        execution_id = await queued("durable_pause")
        await worker.until(execution_id, terminal)
        figures["c_requests"] = counter.reset()
        engine.close()
        await queue.close()
    return figures


def main(runs: int) -> None:
    azurite = start_azurite()
    try:
        registry = registry_with_cases()
        rounds = [asyncio.run(one_round(registry, azurite.connection_string)) for _ in range(runs)]
    finally:
        azurite.stop()

    def med(key: str) -> float:
        return statistics.median(r[key] for r in rounds)
    print(f"Durable DAG runs through the queue worker on Azurite ({os.cpu_count()} cores), {runs} rounds, medians:")
    print(f"(a) 40 nodes queued: {med('a_seconds'):.3f} s, {med('a_requests'):.0f} Table requests "
          f"({med('a_requests') / NODES:.2f} per node)")
    print(f"(b) takeover after a crash at node 30: {med('b_seconds'):.3f} s, {med('b_requests'):.0f} Table requests "
          "(29 nodes reused, 11 run)")
    print(f"(c) with a delay that pauses and wakes through the queue: {med('c_requests'):.0f} Table requests, "
          f"{med('c_requests') - med('a_requests'):+.0f} against (a) for the pause and the wake-up")
    print("Queue requests (send, receive, delete) are not in these counts: (a) 3, (c) 3 more for the wake-up.")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    main(parser.parse_args().runs)
