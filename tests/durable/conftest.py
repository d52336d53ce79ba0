"""Durable executions on the session's Azurite: real store, a queue of each test's own, the worker that hosts run."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from typing import Any

import pytest
from azure.storage.queue.aio import QueueClient

from shared.engine.core import Engine
from shared.executions.service import WorkflowCall, submit
from shared.executions.services import Services
from shared.executions.worker import process_message
from shared.functions.registry import FunctionRegistry
from shared.models import SYSTEM_CALLER, ExecutionRecord
from shared.storage.clients import queue_client_options
from shared.storage.executions import ExecutionStore
from shared.storage.queues import ExecutionQueue


@dataclass
class Host:
    """What one Functions host of Conduit runs for queued executions, over one registry."""

    services: Services
    connection_string: str

    @property
    def store(self) -> ExecutionStore:
        return self.services.store

    async def submit(self, workflow: str, **inputs: Any) -> str:
        submission = await submit(self.services, WorkflowCall(workflow, inputs, caller=SYSTEM_CALLER, wait=False))
        return submission.execution_id

    async def record(self, execution_id: str) -> ExecutionRecord:
        found = await self.store.get("GLOBAL", execution_id)
        assert found is not None
        return found

    async def work(self, until: Callable[[ExecutionRecord], bool], execution_id: str, *,
                   seconds: float = 20.0) -> tuple[ExecutionRecord, int]:
        """Deliver queued messages (as the host's queue trigger does) until the record satisfies `until`; the record
        and how many messages were delivered. Hidden (delayed) messages are waited for, as a host would."""
        delivered, end = 0, time.monotonic() + seconds
        async with QueueClient.from_connection_string(self.connection_string, self.services.queue.name,
                                                      **queue_client_options()) as client:
            while True:
                record = await self.record(execution_id)
                if until(record):
                    return record, delivered
                assert time.monotonic() < end, f"gave up waiting; the record is {record.status} {record.waiting}"
                batch = [m async for m in client.receive_messages(messages_per_page=32, visibility_timeout=30)]
                for raw in batch:
                    await process_message(self.services, base64.b64decode(raw.content), raw.dequeue_count)
                    await client.delete_message(raw.id, raw.pop_receipt)
                    delivered += 1
                if not batch:
                    await asyncio.sleep(0.2)


@pytest.fixture
async def host_for(storage_connection_string: str) -> AsyncIterator[Callable[[FunctionRegistry], Any]]:
    """`await host_for(registry)`: a host with its own queue (so tests never take each other's messages)."""
    opened: list[Services] = []

    async def make(registry: FunctionRegistry) -> Host:
        store = ExecutionStore.from_connection_string(storage_connection_string)
        await store.ensure_tables()
        queue = ExecutionQueue(storage_connection_string, name=f"durable-{uuid.uuid4().hex[:12]}")
        await queue.ensure()
        services = Services(registry=registry, store=store, engine=Engine(registry, store), queue=queue)
        opened.append(services)
        return Host(services, storage_connection_string)

    yield make
    for services in opened:
        services.engine.close()
        await services.store.close()
        await services.queue.close()
