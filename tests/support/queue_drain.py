"""Process what is queued, then return: a burst worker for deterministic tests of queue functions.

It does what the Functions host does for one queue (receive, base64-decode, build a QueueMessage with its dequeue
count, call the function, delete on success) but stops when the queue is empty, so a test can assert on the state
right after the queued work is done.
"""

from __future__ import annotations

import base64
from collections.abc import Awaitable, Callable
from typing import Any

from azure.functions.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from shared.storage.clients import queue_client_options


async def drain(
    connection_string: str,
    queue_name: str,
    function: Callable[[QueueMessage], Awaitable[Any]],
    *,
    max_rounds: int = 50,
    visibility_timeout: int = 30,
) -> list[QueueMessage]:
    """Deliver every message on the queue to `function`; return the messages it completed.

    Its client goes through the storage fault seam like the host's would, so a test can fail its deletes. A message
    whose function raised stays invisible for `visibility_timeout` seconds, then is delivered again."""
    done: list[QueueMessage] = []
    async with QueueClient.from_connection_string(connection_string, queue_name, **queue_client_options()) as client:
        for _ in range(max_rounds):
            batch = [m async for m in client.receive_messages(messages_per_page=32,
                                                              visibility_timeout=visibility_timeout)]
            if not batch:
                return done
            for raw in batch:
                message = QueueMessage(
                    id=raw.id,
                    body=base64.b64decode(raw.content),
                    dequeue_count=raw.dequeue_count,
                    insertion_time=raw.inserted_on,
                    expiration_time=raw.expires_on,
                    pop_receipt=raw.pop_receipt,
                )
                await function(message)
                await client.delete_message(raw.id, raw.pop_receipt)
                done.append(message)
    return done


async def send_raw(connection_string: str, queue_name: str, text: str) -> None:
    """Put a base64 message on a queue, as another service would."""
    async with QueueClient.from_connection_string(connection_string, queue_name) as client:
        await client.send_message(base64.b64encode(text.encode()).decode())


async def peek_count(connection_string: str, queue_name: str) -> int:
    async with QueueClient.from_connection_string(connection_string, queue_name) as client:
        properties = await client.get_queue_properties()
        return int(properties.approximate_message_count or 0)
