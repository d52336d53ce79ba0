"""The `workflow-executions` queue: messages carry a reference (execution id and scope), never the request.

The request itself lives in the execution record, so any input size the record accepts can be queued, and a
message stays far below the 64 KiB queue limit. Messages are base64, as the Functions queue trigger expects.
"""

from __future__ import annotations

import contextlib
import json
from dataclasses import dataclass
from typing import Any

from azure.core.exceptions import ResourceExistsError
from azure.storage.queue import TextBase64DecodePolicy, TextBase64EncodePolicy
from azure.storage.queue.aio import QueueClient

from shared.errors import BadMessageError
from shared.storage.clients import REQUEST, StorageProfile, normalise_connection_string, queue_client_options

EXECUTIONS_QUEUE = "workflow-executions"
POISON_QUEUE = f"{EXECUTIONS_QUEUE}-poison"


@dataclass(frozen=True)
class ExecutionMessage:
    """What a queue message says: which execution, in which scope."""

    execution_id: str
    scope: str

    def encode(self) -> str:
        return json.dumps({"execution_id": self.execution_id, "scope": self.scope}, separators=(",", ":"))

    @classmethod
    def decode(cls, body: bytes | str) -> ExecutionMessage:
        try:
            data: Any = json.loads(body)
            return cls(execution_id=str(data["execution_id"]), scope=str(data["scope"]))
        except (ValueError, TypeError, KeyError):
            shown = body[:200] if isinstance(body, str) else body[:200].decode("utf-8", "replace")
            raise BadMessageError(f"Not an execution message: {shown!r}") from None


class ExecutionQueue:
    """Sends execution references to a queue (async client, bound to the loop that created it)."""

    def __init__(self, connection_string: str, name: str = EXECUTIONS_QUEUE, profile: StorageProfile = REQUEST) -> None:
        self.name = name
        self._client = QueueClient.from_connection_string(
            normalise_connection_string(connection_string),
            name,
            message_encode_policy=TextBase64EncodePolicy(),
            message_decode_policy=TextBase64DecodePolicy(),
            **queue_client_options(profile),  # deadlines, and no per-request netrc/proxy lookups (see open_tables)
        )

    async def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._client.create_queue()

    async def send(self, message: ExecutionMessage, delay_seconds: int = 0) -> None:
        await self._client.send_message(message.encode(), visibility_timeout=delay_seconds or None)

    async def approximate_count(self) -> int:
        properties = await self._client.get_queue_properties()
        return int(properties.approximate_message_count or 0)

    async def close(self) -> None:
        await self._client.close()
