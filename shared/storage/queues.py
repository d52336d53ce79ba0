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
from azure.storage.queue import (
    BinaryBase64DecodePolicy,
    BinaryBase64EncodePolicy,
    TextBase64DecodePolicy,
    TextBase64EncodePolicy,
)
from azure.storage.queue.aio import QueueClient

from shared.errors import BadMessageError
from shared.serialization import JsonTooDeepError, loads_bounded
from shared.storage.account import StorageAccount
from shared.storage.clients import REQUEST, StorageProfile, close_client, open_queue
from shared.storage.keys import key_problem

EXECUTIONS_QUEUE = "workflow-executions"
POISON_QUEUE = f"{EXECUTIONS_QUEUE}-poison"
_MESSAGE_DEPTH = 8  # a reference is one flat object; anything deeper is not one of ours


@dataclass(frozen=True)
class ExecutionMessage:
    """What a queue message says: which execution, in which scope."""

    execution_id: str
    scope: str

    def encode(self) -> str:
        return json.dumps({"execution_id": self.execution_id, "scope": self.scope}, separators=(",", ":"))

    @classmethod
    def decode(cls, body: bytes | str) -> ExecutionMessage:
        """The reference in a message body; `BadMessageError` saying why for anything else (it can never succeed).

        Bodies come from outside (anyone with the connection string can send), so nothing here may fail otherwise:
        not UTF-8, not JSON, nested too deeply to parse, not an object, ids that are not storage keys."""
        try:
            data: Any = loads_bounded(body, max_depth=_MESSAGE_DEPTH)
        except ValueError as exc:  # UnicodeDecodeError and JsonTooDeepError included
            raise BadMessageError(f"Not an execution message ({_reason(exc)}): {_excerpt(body)}") from None
        if not isinstance(data, dict):
            raise BadMessageError(f"Not an execution message (not a JSON object): {_excerpt(body)}")
        problems = [f"{name} {problem}" for name in ("execution_id", "scope")
                    if (problem := key_problem(data.get(name))) is not None]
        if problems:
            raise BadMessageError(f"Not an execution message ({'; '.join(problems)}): {_excerpt(body)}")
        return cls(execution_id=data["execution_id"], scope=data["scope"])


def _reason(error: ValueError) -> str:
    if isinstance(error, JsonTooDeepError):
        return "JSON nested too deeply"
    if isinstance(error, UnicodeDecodeError):
        return "not UTF-8 text"
    return "not JSON"


def _excerpt(body: bytes | str, limit: int = 120) -> str:
    """The start of the body, printable and on one line, for the one log line that names a bad message."""
    text = body[:limit] if isinstance(body, str) else body[:limit].decode("utf-8", "replace")
    suffix = "…" if len(body) > limit else ""
    return repr(text + suffix)


class ExecutionQueue:
    """Sends execution references to a queue (async client, bound to the loop that created it)."""

    def __init__(
        self, account: StorageAccount | str, name: str = EXECUTIONS_QUEUE, profile: StorageProfile = REQUEST
    ) -> None:
        self.name = name
        self._client = _open_queue(account, name, profile, TextBase64EncodePolicy(), TextBase64DecodePolicy())
        # Bytes as received, so the poison handler sees exactly what the worker saw; opened lazily (no I/O here).
        self._poison = _open_queue(account, f"{name}-poison", profile, BinaryBase64EncodePolicy(),
                                   BinaryBase64DecodePolicy())
        self._poison_ready = False

    async def ensure(self) -> None:
        with contextlib.suppress(ResourceExistsError):
            await self._client.create_queue()

    async def send(self, message: ExecutionMessage, delay_seconds: int = 0) -> None:
        """Send `message`, hidden for `delay_seconds` (at most 7 days). A delayed message never expires: the
        queue's default time to live (7 days) would otherwise drop a wake-up hidden for as long."""
        await self._client.send_message(message.encode(), visibility_timeout=delay_seconds or None,
                                        time_to_live=-1 if delay_seconds else None)

    async def send_to_poison(self, body: bytes | str) -> None:
        """Forward a message body as it was received to `<queue>-poison`, base64 like the host's own messages.

        An unreadable message can never succeed: retrying it only repeats the same failure (and traceback) five
        times. The poison handler logs why it is unreadable, once, and drops it."""
        if not self._poison_ready:
            with contextlib.suppress(ResourceExistsError):
                await self._poison.create_queue()
            self._poison_ready = True
        await self._poison.send_message(body.encode("utf-8", "surrogateescape") if isinstance(body, str) else body)

    async def approximate_count(self) -> int:
        properties = await self._client.get_queue_properties()
        return int(properties.approximate_message_count or 0)

    async def close(self) -> None:
        await close_client(self._client)
        await close_client(self._poison)


def _open_queue(account: StorageAccount | str, name: str, profile: StorageProfile, encode: Any, decode: Any
                ) -> QueueClient:
    return open_queue(account, name, profile=profile, message_encode_policy=encode, message_decode_policy=decode)
