"""Storage fault injection: a real seam in the storage pipeline, switched on by a setting, never a mock.

Every storage client Conduit (and devhost) opens sends its requests through `FaultyTransport`, which wraps the real
aiohttp transport. With no rules installed it adds one dictionary lookup per request. Rules come from the setting
`CONDUIT_STORAGE_FAULTS` — inline JSON, or `@/path/to/rules.json`, a file re-read when it changes so a running host's
faults can be switched on and off — or, in tests, from `install(rules)` / `injected(rules)`.

A rule::

    {"match": "table.ConduitExecutions.merge", "fault": "error", "status": 503, "latency_ms": 0,
     "probability": 1.0, "times": null, "skip": 0}

- `match`: an fnmatch pattern on the operation name: `table.<TableName>.<verb>` (verbs: create_table, create,
  upsert (an unconditional PUT or MERGE), merge and replace (ETag-conditional), get, query, delete, batch) or
  `queue.<queue-name>.<verb>` (create_queue, send, receive, peek, delete, update, properties, clear).
- `fault`: `error` answers with `status` without reaching storage (the SDK's retry policy sees it, as it would a
  real 503); `latency` waits `latency_ms`, then sends; `timeout` waits `latency_ms`, then fails as a read timeout;
  `drop` fails as a dropped connection; `lost_response` sends the request (storage applies it), then fails as a
  connection lost before the answer came — where a retry meets its own earlier write; `late` fails at once as a
  read timeout and lets the request reach storage `latency_ms` later, after requests sent since (a slow write the
  client gave up on, landing out of order).
- `probability` (0..1), `times` (how often the rule may fire; null = always) and `skip` (let that many matching
  requests through first) choose which requests are hit. The first rule that matches and fires wins.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import json
import logging
import os
import random
import re
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import unquote, urlsplit

from azure.core.exceptions import ServiceRequestError, ServiceResponseError, ServiceResponseTimeoutError
from azure.core.pipeline.transport import AsyncHttpTransport
from azure.core.rest._http_response_impl_async import AsyncHttpResponseImpl

SETTING = "CONDUIT_STORAGE_FAULTS"
FAULTS = ("error", "latency", "timeout", "drop", "lost_response", "late")
_RELOAD_SECONDS = 0.5

log = logging.getLogger("conduit.faults")


@dataclass
class Rule:
    """One fault rule; `fired` and `seen` count what it did (shared by every client of the process)."""

    match: str
    fault: str
    status: int = 503
    latency_ms: float = 0.0
    probability: float = 1.0
    times: int | None = None
    skip: int = 0
    seen: int = field(default=0, compare=False)
    fired: int = field(default=0, compare=False)

    @classmethod
    def parse(cls, raw: dict[str, Any]) -> Rule:
        """A rule from its JSON form; ValueError naming what is wrong."""
        if not isinstance(raw, dict) or not isinstance(raw.get("match"), str):
            raise ValueError(f"A fault rule needs a 'match' pattern: {raw!r}")
        unknown = set(raw) - {"match", "fault", "status", "latency_ms", "probability", "times", "skip"}
        if unknown:
            raise ValueError(f"Unknown fault rule field(s) {sorted(unknown)} in {raw!r}")
        rule = cls(**raw)
        if rule.fault not in FAULTS:
            raise ValueError(f"A fault must be one of {', '.join(FAULTS)}, got {rule.fault!r}")
        return rule

    def fires(self, operation: str) -> bool:
        """Whether this rule hits a request for `operation` (and count it)."""
        if not fnmatch.fnmatchcase(operation, self.match):
            return False
        self.seen += 1
        if self.seen <= self.skip or (self.times is not None and self.fired >= self.times):
            return False
        if self.probability < 1.0 and random.random() >= self.probability:
            return False
        self.fired += 1
        return True


class _Plan:
    """The rules in force: installed by code, or read from the setting (and its file, when it changes)."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._installed: list[Rule] | None = None
        self._from_setting: list[Rule] = []
        self._source: tuple[str, float] | None = None  # (setting value, file mtime) the rules were read from
        self._checked = 0.0

    def rules(self) -> list[Rule]:
        if self._installed is not None:
            return self._installed
        setting = os.environ.get(SETTING, "").strip()
        if not setting:
            return []
        now = time.monotonic()
        if now - self._checked >= _RELOAD_SECONDS or self._source is None or self._source[0] != setting:
            self._checked = now
            self._reload(setting)
        return self._from_setting

    def install(self, rules: list[Rule] | None) -> None:
        with self._lock:
            self._installed = rules

    def _reload(self, setting: str) -> None:
        try:
            text, mtime = _read_setting(setting)
        except OSError:
            text, mtime = "[]", -1.0  # a missing file means no faults
        if self._source == (setting, mtime):
            return
        try:
            rules = [Rule.parse(raw) for raw in json.loads(text or "[]")]
        except ValueError as error:
            log.error("ignoring %s: %s", SETTING, error)
            rules = []
        with self._lock:
            self._from_setting, self._source = rules, (setting, mtime)
        if rules:
            log.warning("storage faults in force: %s", ", ".join(f"{r.fault} on {r.match}" for r in rules))

    def pick(self, operation: str) -> Rule | None:
        rules = self.rules()
        if not rules:
            return None
        with self._lock:
            return next((rule for rule in rules if rule.fires(operation)), None)


def _read_setting(setting: str) -> tuple[str, float]:
    if not setting.startswith("@"):
        return setting, 0.0
    path = setting[1:]
    return open(path, encoding="utf-8").read(), os.stat(path).st_mtime


_plan = _Plan()
_late: set[asyncio.Task[None]] = set()  # requests of `late` faults still to land (strong references)


def install(rules: list[dict[str, Any]]) -> list[Rule]:
    """Put `rules` in force for every client of this process (overrides the setting until `clear()`)."""
    parsed = [Rule.parse(dict(raw)) for raw in rules]
    _plan.install(parsed)
    return parsed


def clear() -> None:
    """Back to the setting (normally: no faults)."""
    _plan.install(None)


@contextlib.contextmanager
def injected(rules: list[dict[str, Any]]) -> Iterator[list[Rule]]:
    """`install(rules)` for the duration of a block."""
    parsed = install(rules)
    try:
        yield parsed
    finally:
        clear()


def fired(match: str | None = None) -> int:
    """How many requests the rules in force hit (only those whose pattern is `match`, when given)."""
    return sum(rule.fired for rule in _plan.rules() if match is None or rule.match == match)


_TABLE_VERBS = {"POST": "create", "DELETE": "delete"}
_QUEUE_VERBS = {"POST": "send", "PUT": "update", "DELETE": "delete"}


def operation_name(service: str, method: str, url: str, headers: Any = None, body: Any = None) -> str:
    """`table.<Table>.<verb>` or `queue.<queue>.<verb>` for one storage request."""
    parts = urlsplit(url)
    segments = [unquote(s) for s in parts.path.split("/") if s]
    if segments and segments[0] == "devstoreaccount1":  # Azurite's path-style account
        segments = segments[1:]
    resource = segments[0] if segments else ""
    if service == "table":
        return _table_operation(method, resource, headers, body)
    return _queue_operation(method, resource, segments, parts.query)


def _table_operation(method: str, resource: str, headers: Any, body: Any) -> str:
    if resource == "$batch":
        return f"table.{_batch_table(body)}.batch"
    if resource.startswith("Tables"):
        table = resource[len("Tables") :].strip("()'") or "*"
        return f"table.{table}.{'create_table' if method == 'POST' else method.lower() + '_table'}"
    table, _, keys = resource.partition("(")
    conditional = headers is not None and bool(headers.get("If-Match"))
    if method == "GET":
        verb = "get" if "PartitionKey=" in keys else "query"
    elif method in ("PUT", "PATCH", "MERGE"):
        verb = ("replace" if method == "PUT" else "merge") if conditional else "upsert"
    else:
        verb = _TABLE_VERBS.get(method, method.lower())
    return f"table.{table}.{verb}"


_BATCH_TARGET = re.compile(rb"(?:POST|PUT|PATCH|MERGE|DELETE|GET) \S*?/([A-Za-z][A-Za-z0-9]{2,62})[(? ]")


def _batch_table(body: Any) -> str:
    """The table a batch transaction writes to, from its first sub-request line."""
    data = body if isinstance(body, bytes) else str(body or "").encode()
    found = _BATCH_TARGET.search(data)
    return found.group(1).decode() if found else "*"


def _queue_operation(method: str, queue: str, segments: list[str], query: str) -> str:
    if len(segments) <= 1:
        if "comp=metadata" in query:
            return f"queue.{queue}.properties"
        return f"queue.{queue}.{'create_queue' if method == 'PUT' else method.lower() + '_queue'}"
    if method == "GET":
        return f"queue.{queue}.{'peek' if 'peekonly=true' in query else 'receive'}"
    if method == "DELETE" and len(segments) == 2:
        return f"queue.{queue}.clear"
    return f"queue.{queue}.{_QUEUE_VERBS.get(method, method.lower())}"


class _Closed:
    async def close(self) -> None:
        return None


def _error_response(request: Any, status: int, service: str) -> AsyncHttpResponseImpl:
    code = "ServerBusy" if status == 503 else "InternalError"
    message = f"Injected fault: {status} ({SETTING})"
    if service == "table":
        content_type = "application/json"
        text = json.dumps({"odata.error": {"code": code, "message": {"lang": "en-US", "value": message}}})
    else:
        content_type = "application/xml"
        text = f"<?xml version='1.0' encoding='utf-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
    body = text.encode()
    response = AsyncHttpResponseImpl(
        request=request,
        internal_response=_Closed(),
        status_code=status,
        reason="Injected fault",
        content_type=content_type,
        headers={"Content-Type": content_type, "x-ms-error-code": code, "Content-Length": str(len(body))},
        stream_download_generator=None,
    )
    response._content = body  # type: ignore[assignment]
    return response


class FaultyTransport(AsyncHttpTransport):
    """Wraps the real async transport and applies the rules in force to each request it sends."""

    def __init__(self, inner: AsyncHttpTransport, service: str) -> None:
        self._inner = inner
        self._service = service

    async def send(self, request: Any, **kwargs: Any) -> Any:
        rule = _plan.pick(self._operation(request)) if _plan.rules() else None
        if rule is None:
            return await self._inner.send(request, **kwargs)
        if rule.fault == "late":
            task = asyncio.get_running_loop().create_task(self._send_late(request, rule.latency_ms / 1000, kwargs))
            _late.add(task)
            task.add_done_callback(_late.discard)
            raise ServiceResponseTimeoutError(f"Injected timeout; the request lands later ({SETTING})")
        if rule.latency_ms:
            await asyncio.sleep(rule.latency_ms / 1000)
        if rule.fault == "latency":
            return await self._inner.send(request, **kwargs)
        if rule.fault == "timeout":
            raise ServiceResponseTimeoutError(f"Injected read timeout ({SETTING})")
        if rule.fault == "drop":
            raise ServiceRequestError(f"Injected dropped connection ({SETTING})")
        if rule.fault == "lost_response":
            response = await self._inner.send(request, **kwargs)
            await response.read()
            await response.close()
            raise ServiceResponseError(f"Injected lost response: the request was applied ({SETTING})")
        return _error_response(request, rule.status, self._service)

    async def _send_late(self, request: Any, delay: float, kwargs: dict[str, Any]) -> None:
        await asyncio.sleep(delay)
        with contextlib.suppress(Exception):  # nobody waits for this answer
            response = await self._inner.send(request, **kwargs)
            await response.read()
            await response.close()

    def _operation(self, request: Any) -> str:
        body = getattr(request, "content", None) if "$batch" in request.url else None
        return operation_name(self._service, request.method, request.url, request.headers, body)

    async def open(self) -> None:
        await self._inner.open()

    async def close(self) -> None:
        await self._inner.close()

    async def __aenter__(self) -> FaultyTransport:
        await self._inner.__aenter__()
        return self

    async def __aexit__(self, *args: Any) -> None:
        await self._inner.__aexit__(*args)
