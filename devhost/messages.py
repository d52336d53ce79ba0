"""One queue message's life, as the host's QueueProcessor runs it.

Before the call: a message already dequeued more than maxDequeueCount times, or one that is not valid base64 when the
encoding is base64, goes straight to `<queue>-poison`. During the call: the lease is renewed at half time, keeping
the new pop receipt. After: success deletes; failure makes the message visible again after `visibilityTimeout`, or,
at maxDequeueCount, copies it (byte for byte, so in the same encoding) to the poison queue and deletes it.
If the host dies or stops first, nothing is done: the message reappears when its lease lapses (peek-lock).
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import contextlib
import logging
import re
from dataclasses import dataclass

from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage as FunctionQueueMessage
from azure.storage.queue import QueueMessage
from azure.storage.queue.aio import QueueClient, QueueServiceClient

from devhost.hostconfig import QueueOptions
from devhost.invoker import Invoker
from devhost.loader import FunctionSpec

log = logging.getLogger("devhost.queues")

POISON_SUFFIX = "-poison"
RENEW_RETRY_SECONDS = 2.0
_QUEUE_NAME = re.compile(r"^[a-z0-9](?!.*--)[a-z0-9-]{1,61}[a-z0-9]$")


def poison_queue_name(queue_name: str) -> str | None:
    """`<queue>-poison`, or None where the host has no poison queue (already a poison queue, or name too long)."""
    if queue_name.endswith(POISON_SUFFIX):
        return None
    name = queue_name + POISON_SUFFIX
    return name if _QUEUE_NAME.match(name) else None


def decode_body(content: str, encoding: str) -> bytes:
    """The message body as the function sees it; raises ValueError for invalid base64 (which means poison)."""
    if encoding == "none":
        return content.encode("utf-8")
    try:
        return base64.b64decode(content, validate=True)
    except binascii.Error as exc:
        raise ValueError(f"message is not valid base64: {exc}") from exc


async def ensure_queue(client: QueueClient) -> None:
    """Create the queue if it is missing, as the host does for trigger and poison queues."""
    with contextlib.suppress(ResourceExistsError):
        await client.create_queue()


@dataclass
class Lease:
    """The receipt that currently owns the message; each visibility update returns a new one."""

    message_id: str
    pop_receipt: str | None  # the SDK types it optional; a received message always has one


class MessageProcessor:
    """Runs the function for a message and settles the message according to the outcome."""

    def __init__(
        self,
        spec: FunctionSpec,
        options: QueueOptions,
        invoker: Invoker,
        service: QueueServiceClient,
        queue_name: str,
        lease_seconds: int,
    ) -> None:
        self._spec, self._options, self._invoker = spec, options, invoker
        self._queue_name = queue_name
        self._client = service.get_queue_client(queue_name)
        self._poison_name = poison_queue_name(queue_name)
        self._poison = service.get_queue_client(self._poison_name) if self._poison_name else None
        self._poison_ready = False
        self._lease_seconds = lease_seconds

    async def process(self, message: QueueMessage) -> None:
        lease = Lease(message.id, message.pop_receipt)
        deliveries = message.dequeue_count or 0  # never None on a received message
        if deliveries > self._options.max_dequeue_count:
            await self._to_poison(message, lease)
            return
        try:
            body = decode_body(message.content, self._options.message_encoding)
        except ValueError as exc:
            await self._undecodable(message, lease, exc)
            return
        succeeded = await self._run(message, body, lease)
        if succeeded:
            await self._client.delete_message(lease.message_id, lease.pop_receipt)
        elif deliveries >= self._options.max_dequeue_count:
            await self._to_poison(message, lease)
        else:
            await self._client.update_message(
                lease.message_id, lease.pop_receipt, visibility_timeout=int(self._options.visibility_timeout)
            )

    async def _undecodable(self, message: QueueMessage, lease: Lease, error: ValueError) -> None:
        """Not in the queue's encoding: no delivery could ever read it, so it is not retried.

        With a poison queue it is moved there (one line, as the host does). A poison queue has none: there it is
        deleted quietly, since the queue that moved it already said why; left invisible, it would come back after
        every lease with the same lines, forever."""
        if self._poison is None:
            log.debug("Queue '%s' message %s: %s. Deleted (no poison queue).", self._queue_name, message.id, error)
            await self._client.delete_message(lease.message_id, lease.pop_receipt)
            return
        log.error("Queue '%s' message %s: %s. Moving it to the poison queue.", self._queue_name, message.id, error)
        await self._to_poison(message, lease, announce=False)

    async def _run(self, message: QueueMessage, body: bytes, lease: Lease) -> bool:
        """Invoke with the lease kept alive; True on success."""
        argument = FunctionQueueMessage(
            id=message.id,
            body=body,
            dequeue_count=message.dequeue_count,
            insertion_time=message.inserted_on,
            expiration_time=message.expires_on,
            time_next_visible=message.next_visible_on,
            pop_receipt=message.pop_receipt,
        )
        done = asyncio.Event()
        renewer = asyncio.create_task(self._keep_leased(lease, done))
        try:
            await self._invoker.invoke(self._spec, argument, f"New queue message detected on '{self._queue_name}'.")
            return True
        except Exception:
            log.exception("Exception while executing function: Functions.%s", self._spec.name)
            return False
        finally:
            # Let a renewal in progress finish, so the pop receipt we settle with is the current one.
            done.set()
            await renewer

    async def _keep_leased(self, lease: Lease, done: asyncio.Event) -> None:
        """Renew the visibility at half time while the function runs (the host's "halfway to expiring" timer).

        A renewal that fails (storage unreachable) is tried again within a few seconds rather than at the next half
        time, so a short outage does not let the message reappear while it is still being processed."""
        interval = self._lease_seconds / 2
        wait = interval
        while True:
            try:
                await asyncio.wait_for(done.wait(), wait)
                return
            except TimeoutError:
                pass
            try:
                updated = await self._client.update_message(
                    lease.message_id, lease.pop_receipt, visibility_timeout=self._lease_seconds
                )
                lease.pop_receipt = updated.pop_receipt
                wait = interval
            except Exception as exc:  # renewal goes on whatever the failure
                log.warning("Could not renew the lease of message %s: %s", lease.message_id, str(exc).split("\n")[0])
                wait = min(interval, RENEW_RETRY_SECONDS)

    async def _to_poison(self, message: QueueMessage, lease: Lease, *, announce: bool = True) -> None:
        if self._poison is None:
            log.error(
                "Message %s of queue '%s' failed %d times and has no poison queue; it stays invisible.",
                message.id,
                self._queue_name,
                message.dequeue_count,
            )
            return
        if announce:
            log.warning(
                "Message has reached MaxDequeueCount of %d. Moving message to queue '%s'.",
                self._options.max_dequeue_count,
                self._poison_name,
            )
        if not self._poison_ready:
            await ensure_queue(self._poison)
            self._poison_ready = True
        await self._poison.send_message(message.content)
        await self._client.delete_message(lease.message_id, lease.pop_receipt)
