"""The chaos workload: a stream of async executions over HTTP, some with idempotency keys (some of those sent
twice), some cancelled, and copies of execution messages sent straight to the queue.

The ledger keeps what a client of Conduit would know: every execution id it got a 202 for, which keys it used, how
its requests were answered.
"""

from __future__ import annotations

import asyncio
import base64
import json
import random
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import aiohttp
from azure.storage.queue.aio import QueueClient

SCOPES = ("chaos-a", "chaos-b")
QUEUE = "workflow-executions"
_SUBMIT_TRIES = 6  # backoff 0.3 s doubling: about 10 s, longer than an Azurite restart
_TIMEOUT = aiohttp.ClientTimeout(total=20)


@dataclass
class Accepted:
    """An execution Conduit accepted (answered 202 for)."""

    execution_id: str
    scope: str
    workflow: str
    params: dict[str, Any]
    submitted_at: float
    key: str | None = None


@dataclass
class Ledger:
    """What the client side knows at the end."""

    accepted: dict[str, Accepted] = field(default_factory=dict)
    keys: dict[tuple[str, str], set[str]] = field(default_factory=dict)
    answers: Counter[str] = field(default_factory=Counter)  # "202", "503", "ClientOSError", ...
    gave_up: int = 0
    resent_submits: int = 0
    cancels: Counter[str] = field(default_factory=Counter)
    requeued: Counter[str] = field(default_factory=Counter)  # "finished" / "active" / "failed"
    first_submit: float = 0.0
    last_submit: float = 0.0

    def accept(self, item: Accepted) -> None:
        self.accepted.setdefault(item.execution_id, item)
        if item.key is not None:
            self.keys.setdefault((item.scope, item.key), set()).add(item.execution_id)


def pick_workflow(rng: random.Random) -> tuple[str, dict[str, Any]]:
    """The mix: mostly short sleepers, heavy loggers, failures, timeouts and cancellation swallowers."""
    roll = rng.random()
    if roll < 0.25:
        return "chaos_sleep", {"seconds": round(rng.uniform(0, 0.2), 3)}
    if roll < 0.55:
        return "chaos_sleep", {"seconds": round(rng.uniform(0.5, 4), 3)}
    if roll < 0.70:
        return "chaos_logger", {"lines": rng.randint(200, 600)}
    if roll < 0.78:
        return "chaos_thread_logger", {"lines": rng.randint(200, 400)}
    if roll < 0.88:
        return "chaos_fail", {"how": "exit" if rng.random() < 0.1 else "error"}
    if roll < 0.94:
        return "chaos_timeout", {}
    return "chaos_stubborn", {"seconds": round(rng.uniform(4, 7), 1)}


class Workload:
    """Submits, cancels and re-sends; every decision comes from one seeded random generator."""

    def __init__(self, rng: random.Random, ledger: Ledger, base_urls: list[str], admin_key: str,
                 connection_string: str) -> None:
        self.rng = rng
        self.ledger = ledger
        self.base_urls = base_urls
        self.admin_key = admin_key
        self.connection_string = connection_string
        self._tasks: set[asyncio.Task[None]] = set()
        self._session: aiohttp.ClientSession | None = None

    async def __aenter__(self) -> Workload:
        self._session = aiohttp.ClientSession(headers={"x-api-key": self.admin_key}, timeout=_TIMEOUT)
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.drain()
        assert self._session is not None
        await self._session.close()

    def spawn(self, coroutine: Any) -> None:
        task = asyncio.ensure_future(coroutine)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def drain(self) -> None:
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def run(self, executions: int, rate: float, until: float) -> None:
        """Start `executions` submits at about `rate` per second, stopping early at `until` (monotonic)."""
        self.ledger.first_submit = time.time()
        for index in range(executions):
            if time.monotonic() >= until:
                break
            self.spawn(self.submit_one(index))
            await asyncio.sleep(self.rng.expovariate(rate))
        self.ledger.last_submit = time.time()
        await self.drain()

    async def submit_one(self, index: int) -> None:
        workflow, params = pick_workflow(self.rng)
        scope = self.rng.choice(SCOPES)
        key = f"chaos-{index}-{uuid.uuid4().hex[:8]}" if self.rng.random() < 0.3 else None
        resend = key is not None and self.rng.random() < 0.3
        body: dict[str, Any] = {"input_data": params} | ({"idempotency_key": key} if key else {})
        if resend and self.rng.random() < 0.5:
            self.ledger.resent_submits += 1  # the same request twice at once
            self.spawn(self._submit(workflow, scope, body, key, params))
        accepted = await self._submit(workflow, scope, body, key, params)
        if resend and accepted is not None and self.rng.random() < 0.5:
            self.ledger.resent_submits += 1  # and again after the first answer, as a client retrying would
            await asyncio.sleep(self.rng.uniform(0, 2))
            await self._submit(workflow, scope, body, key, params)
        if accepted is not None and workflow == "chaos_sleep" and params["seconds"] > 1 and self.rng.random() < 0.15:
            await asyncio.sleep(self.rng.uniform(0, 2))
            await self.cancel(accepted)

    async def _submit(self, workflow: str, scope: str, body: dict[str, Any], key: str | None,
                      params: dict[str, Any]) -> Accepted | None:
        """POST until answered 202, retrying transport errors, 5xx and 409 (a key's first submit still writing)."""
        for attempt in range(_SUBMIT_TRIES):
            answer, data = await self._post(f"/api/workflows/{workflow}/execute", scope, body)
            self.ledger.answers[answer] += 1
            if answer == "202":
                item = Accepted(data["execution_id"], scope, workflow, params, time.time(), key)
                self.ledger.accept(item)
                return item
            if answer.startswith("4") and answer != "409":
                return None  # refused: nothing accepted (counted in the answers)
            await asyncio.sleep(0.3 * 2**attempt * self.rng.uniform(0.5, 1.5))
        self.ledger.gave_up += 1
        return None

    async def _post(self, path: str, scope: str, body: dict[str, Any] | None) -> tuple[str, dict[str, Any]]:
        assert self._session is not None
        url = self.rng.choice(self.base_urls) + path
        try:
            async with self._session.post(url, json=body, headers={"X-Organization-Id": scope}) as response:
                text = await response.text()
                data = json.loads(text) if text.startswith("{") else {}
                return str(response.status), data
        except (aiohttp.ClientError, TimeoutError, json.JSONDecodeError) as error:
            return type(error).__name__, {}

    async def cancel(self, item: Accepted) -> None:
        answer, _ = await self._post(f"/api/workflows/executions/{item.execution_id}/cancel", item.scope, None)
        self.ledger.cancels[answer] += 1

    async def resend_messages(self, queue: QueueClient, finished: list[Accepted], active: list[Accepted]) -> None:
        """Send copies of execution messages for finished and running executions straight to the queue."""
        picks = [("finished", item) for item in self.rng.sample(finished, min(len(finished), 3))]
        picks += [("active", item) for item in self.rng.sample(active, min(len(active), 3))]
        for kind, item in picks:
            body = json.dumps({"execution_id": item.execution_id, "scope": item.scope}, separators=(",", ":"))
            try:
                await queue.send_message(base64.b64encode(body.encode()).decode())
                self.ledger.requeued[kind] += 1
            except Exception:  # storage may be down right now: that is the point of the run
                self.ledger.requeued["failed"] += 1


def open_queue(connection_string: str) -> QueueClient:
    return QueueClient.from_connection_string(connection_string, QUEUE)
