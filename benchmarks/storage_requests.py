"""Storage requests per sync and per async execution, by operation, through the execution service against Azurite.

A standing figure: no change may add requests to these paths unnoticed. Every request Conduit sends passes the
storage fault seam (shared/storage/faults.py); here it carries zero-latency rules that only count, one per operation,
so the figures are the real requests of the real clients (supervision's own clients included), not an estimate.

- sync: `submit(..., wait=True)` of a workflow that logs 10 lines (record created Running, finished with its logs);
- async: `submit(..., wait=False)` (record Pending + queue message), then the queue worker's `process_message`
  (read, claim, run, finish). The Functions host's own queue requests (receive in batches of up to 16, delete after
  the function returns) are not Conduit's and are printed apart.

    .venv/bin/python benchmarks/storage_requests.py [--executions 200]
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import os
import sys
import tempfile
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from azure.storage.queue.aio import QueueClient

from devhost.azurite import start_azurite

WORKSPACE = '''
from shared import ExecutionContext, workflow


@workflow(name="ten_lines_sync", execution_mode="sync")
async def ten_lines_sync(context: ExecutionContext) -> dict:
    for i in range(10):
        context.logger.info("step %d done", i)
    return {"ok": True}


@workflow(name="ten_lines_async", execution_mode="async")
async def ten_lines_async(context: ExecutionContext) -> dict:
    for i in range(10):
        context.logger.info("step %d done", i)
    return {"ok": True}
'''

OPERATIONS = (
    "table.ConduitExecutions.create",
    "table.ConduitExecutions.batch",
    "table.ConduitExecutions.get",
    "table.ConduitExecutions.query",
    "table.ConduitExecutions.merge",
    "table.ConduitExecutions.*",
    "table.ConduitExecutionDetails.*",
    "table.*",
    "queue.*.send",
    "queue.*",
    "*",
)


class Service:
    """The execution service and queue worker of this tree (the layout before issue 8 had them elsewhere)."""

    def __init__(self) -> None:
        try:
            from shared.executions import service, worker
            from shared.runtime import get_runtime

            self._submit, self._process, self._runtime = service.submit, worker.process_message, get_runtime
            self.call, self.with_services = service.WorkflowCall, True
        except ImportError:
            from shared import execution_service, worker
            from shared.runtime import get_runtime

            self._submit, self._process, self._runtime = execution_service.submit, worker.process_message, get_runtime
            self.call, self.with_services = execution_service.WorkflowCall, False

    async def submit(self, name: str, wait: bool) -> Any:
        call = self.call(workflow_name=name, wait=wait, trigger_payload={"kind": "http"})
        return await (self._submit(await self._runtime(), call) if self.with_services else self._submit(call))

    async def process(self, body: bytes | str) -> Any:
        return await (self._process(await self._runtime(), body) if self.with_services else self._process(body))


def counting() -> Any:
    from shared.storage import faults

    return faults.injected([{"match": op, "fault": "latency", "latency_ms": 0} for op in OPERATIONS])


def breakdown(rules: list[Any], executions: int) -> tuple[float, dict[str, float]]:
    by_op = {rule.match: rule.fired / executions for rule in rules if rule.fired}
    return sum(by_op.values()), by_op


async def measure(executions: int, connection_string: str) -> None:
    service = Service()
    await service.submit("ten_lines_sync", True)  # warm up: tables, runtime, connections
    with counting() as rules:
        for _ in range(executions):
            await service.submit("ten_lines_sync", True)
    report("sync execution (submit, wait)", *breakdown(rules, executions))

    queue = QueueClient.from_connection_string(connection_string, "workflow-executions")
    async with queue:
        await drain(queue, service, count=False)
        with counting() as rules:
            for _ in range(executions):
                await service.submit("ten_lines_async", False)
            receives, deletes = await drain(queue, service, count=True)
        report("async execution (submit, then the queue worker)", *breakdown(rules, executions))
        print(f"  + the host's own queue requests: {receives / executions:.2f} receives and "
              f"{deletes / executions:.2f} deletes per execution (batches of up to 16)")


async def drain(queue: QueueClient, service: Service, count: bool) -> tuple[int, int]:
    """Receive every message as the host does, hand each to the worker, delete it; (receives, deletes)."""
    receives = deletes = 0
    while True:
        batch = [m async for m in queue.receive_messages(messages_per_page=16, max_messages=16)]
        receives += 1
        if not batch:
            return receives, deletes
        for message in batch:
            await service.process(base64.b64decode(message.content))  # the host hands the function decoded bytes
            await queue.delete_message(message)
            deletes += 1


def report(title: str, total: float, by_op: dict[str, float]) -> None:
    print(f"{title}: {total:.2f} storage requests")
    for op, per in sorted(by_op.items(), key=lambda item: -item[1]):
        print(f"  {per:6.2f}  {op}")


def configure(connection_string: str, workspace: Path) -> None:
    (workspace / "flows.py").write_text(WORKSPACE)
    os.environ.update({
        "AzureWebJobsStorage": connection_string,
        "CONDUIT_WORKSPACE": str(workspace),
        "CONDUIT_ADMIN_KEY": "bench",
    })


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--executions", type=int, default=200)
    args = parser.parse_args()
    azurite = start_azurite()
    try:
        with tempfile.TemporaryDirectory() as folder:
            configure(azurite.connection_string, Path(folder))
            asyncio.run(measure(args.executions, azurite.connection_string))
    finally:
        azurite.stop()
