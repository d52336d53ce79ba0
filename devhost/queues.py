"""The queue trigger: poll a Storage queue and run its function per message, like the host's QueueListener.

Polling: receive up to `batchSize` messages with a 10-minute visibility; fetch again as soon as no more than
`newBatchThreshold` are still running (so at most batchSize + newBatchThreshold run at once); when the queue is empty,
back off with the host's randomised exponential delay from 100 ms up to `maxPollingInterval`. A failed receive (storage
unreachable) backs off the same way, so polling resumes within `maxPollingInterval` of storage coming back: the queue
clients retry a request only briefly themselves (`_RETRY`) instead of the SDK's default of up to a minute.
Processing one message (lease renewal, delete, retry, poison) lives in `devhost.messages`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import random
from typing import Any

from azure.core.exceptions import AzureError
from azure.storage.queue import QueueMessage
from azure.storage.queue._shared.policies_async import LinearRetry  # the async policy; the public one is sync

from devhost.hostconfig import QueueOptions
from devhost.invoker import Invoker
from devhost.loader import FunctionSpec
from devhost.messages import MessageProcessor, ensure_queue
from devhost.settings import close_service, queue_service, resolve, storage_client_options, storage_connection

log = logging.getLogger("devhost.queues")

MIN_POLLING_INTERVAL = 0.1
DEFAULT_LEASE_SECONDS = 600  # QueueListener._visibilityTimeout: 10 minutes
LEASE_ENV = "DEVHOST_QUEUE_LEASE_SECONDS"
# Each request: up to 2 retries 0.5 s apart, 5 s to connect, 20 s to read; the polling loop is the real retry.
_RETRY = {"retry_total": 2, "backoff": 0.5, "random_jitter_range": 0.2}
_TIMEOUTS = {"connection_timeout": 5, "read_timeout": 20}


def queue_service_options() -> dict[str, Any]:
    """Options of devhost's queue clients: short retries and timeouts (the SDK's defaults retry for up to a minute,
    which kept an idle host from noticing for that long that storage was back)."""
    options: dict[str, Any] = {**storage_client_options(), "retry_policy": LinearRetry(**_RETRY)}  # type: ignore[arg-type]
    if "transport" not in options:  # a transport given (the fault seam) brings its own timeouts
        options |= _TIMEOUTS
    return options


def lease_seconds() -> int:
    """The receive visibility (lease): 10 minutes like the host, or DEVHOST_QUEUE_LEASE_SECONDS for tests."""
    raw = os.environ.get(LEASE_ENV, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_LEASE_SECONDS


class Backoff:
    """RandomizedExponentialBackoffStrategy: min, then min + ~2^(n-1)·min (±20 %), capped at max; reset on work."""

    def __init__(self, minimum: float, maximum: float) -> None:
        self._minimum, self._maximum = minimum, max(minimum, maximum)
        self._current, self._exponent = minimum, 0

    def reset(self) -> None:
        self._current, self._exponent = self._minimum, 0

    def next_delay(self) -> float:
        if self._current < self._maximum:
            delay = self._minimum
            if self._exponent > 0:
                delay += random.uniform(0.8, 1.2) * (2 ** (self._exponent - 1)) * self._minimum
            self._current = min(delay, self._maximum)
            self._exponent += 1
        return self._current


class QueueListener:
    """Competing consumer for one queue-triggered function; several devhosts on one storage share the queue."""

    def __init__(self, spec: FunctionSpec, options: QueueOptions, invoker: Invoker) -> None:
        self.spec = spec
        self.options = options
        self.queue_name = resolve(str(spec.trigger["queueName"]))
        self._service = queue_service(storage_connection(spec.trigger.get("connection")), **queue_service_options())
        self._client = self._service.get_queue_client(self.queue_name)
        self._lease = lease_seconds()
        self._processor = MessageProcessor(spec, options, invoker, self._service, self.queue_name, self._lease)
        self._stopping = asyncio.Event()
        self._slot_freed = asyncio.Event()
        self._in_flight: set[asyncio.Task[None]] = set()
        self._poller: asyncio.Task[None] | None = None

    async def start(self) -> None:
        await ensure_queue(self._client)
        self._poller = asyncio.create_task(self._poll(), name=f"poll-{self.queue_name}")
        log.info("Function '%s' listens on queue '%s' (lease %ds).", self.spec.name, self.queue_name, self._lease)

    async def stop_polling(self) -> None:
        """Take no new messages; running ones go on (the host waits for them within the grace period).

        The poller is not cancelled mid-request: a receive cut short would leave its messages invisible for the
        whole lease. It finishes its request and hands back whatever that request returned."""
        self._stopping.set()
        self._slot_freed.set()
        if self._poller is not None:
            await asyncio.gather(self._poller, return_exceptions=True)

    async def wait_idle(self) -> None:
        """Wait until the messages in flight are settled (deleted, retried or poisoned)."""
        while self._in_flight:
            await asyncio.gather(*list(self._in_flight), return_exceptions=True)

    async def close(self) -> None:
        await close_service(self._service)

    async def _poll(self) -> None:
        backoff = Backoff(MIN_POLLING_INTERVAL, self.options.max_polling_interval)
        while not self._stopping.is_set():
            await self._wait_for_capacity()
            if self._stopping.is_set():
                return
            try:
                messages = await self._receive()
            except Exception as exc:  # storage trouble must never end polling: back off and try again
                log.warning("Polling queue '%s' failed: %s", self.queue_name, _first_line(exc))
                messages = []
            if self._stopping.is_set():
                await self._release(messages)
                return
            for message in messages:
                task = asyncio.create_task(self._processor.process(message))
                self._in_flight.add(task)
                task.add_done_callback(self._settled)
            if messages:
                backoff.reset()
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), backoff.next_delay())

    async def _release(self, messages: list[QueueMessage]) -> None:
        """Make messages received during shutdown visible again at once, for another instance to take."""
        for message in messages:
            with contextlib.suppress(AzureError):
                await self._client.update_message(message.id, message.pop_receipt, visibility_timeout=0)

    async def _receive(self) -> list[QueueMessage]:
        """One receive request (one page), never a second one to fill the batch."""
        pages = self._client.receive_messages(
            messages_per_page=self.options.batch_size, visibility_timeout=self._lease
        ).by_page()
        try:
            page = await pages.__anext__()
        except StopAsyncIteration:
            return []
        return [message async for message in page]

    async def _wait_for_capacity(self) -> None:
        """A new batch is fetched only when at most newBatchThreshold messages are still running."""
        while len(self._in_flight) > self.options.new_batch_threshold and not self._stopping.is_set():
            self._slot_freed.clear()
            await self._slot_freed.wait()

    def _settled(self, task: asyncio.Task[None]) -> None:
        self._in_flight.discard(task)
        self._slot_freed.set()
        if not task.cancelled() and task.exception() is not None:
            log.error("Processing a message of queue '%s' failed", self.queue_name, exc_info=task.exception())


def _first_line(error: BaseException) -> str:
    text = str(error).strip().splitlines()
    return f"{type(error).__name__}: {text[0] if text else ''}"
