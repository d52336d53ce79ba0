"""`ExecutionContext`: what a running workflow knows about itself, and `get_context()` to reach it anywhere.

Besides Conduit's own API (`logger`, `http`, `step`) it offers what workflows written for the seed system use:
`org_id` / `org_name`, the log helpers `info` / `debug` / `warning` / `error` / `log`, `save_checkpoint`,
`get_config` and `get_secret` (see their docstrings for what each does here).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.engine.steps import Step, StepRecorder
from shared.errors import ContextError, NotOfferedError
from shared.models import GLOBAL_SCOPE, Caller
from shared.serialization import json_safe

CONFIG_PREFIX = "CONDUIT_CONFIG_"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}
_current: ContextVar[ExecutionContext | None] = ContextVar("conduit_execution_context", default=None)


@dataclass
class ExecutionContext:
    """Passed to a workflow whose first parameter is annotated `ExecutionContext` or named `context`."""

    execution_id: str
    caller: Caller
    scope: str = GLOBAL_SCOPE
    config: dict[str, Any] = field(default_factory=dict)
    function_name: str = "script"
    # What started this execution: {"kind": "http" | "webhook" | "schedule" | "form" | ...}; a webhook's also holds
    # its request (endpoint, method, query, headers without credentials, raw body; see `raw_body`).
    trigger: dict[str, Any] = field(default_factory=lambda: {"kind": "api"})
    integration_calls: list[dict[str, Any]] = field(default_factory=list)
    steps: StepRecorder = field(default_factory=StepRecorder, repr=False)
    _http: httpx.AsyncClient | None = field(default=None, repr=False)

    @property
    def user_id(self) -> str:
        return self.caller.user_id

    @property
    def email(self) -> str | None:
        return self.caller.email

    @property
    def name(self) -> str | None:
        return self.caller.name

    @property
    def organization_id(self) -> str | None:
        return None if self.scope == GLOBAL_SCOPE else self.scope

    @property
    def is_platform_admin(self) -> bool:
        return self.caller.is_platform_admin

    @property
    def raw_body(self) -> bytes | None:
        """A webhook request's body exactly as it arrived (bytes), e.g. to parse XML or check a signature of your
        own; None for executions not started by a webhook endpoint."""
        body = self.trigger.get("body")
        if not isinstance(body, str):
            return None
        if self.trigger.get("body_encoding") == "base64":
            return base64.b64decode(body)
        return body.encode("utf-8")

    @property
    def logger(self) -> logging.Logger:
        """A logger named for the function; its lines (like any logger's) land in this execution's logs."""
        return logging.getLogger(f"workflow.{self.function_name}")

    @property
    def http(self) -> httpx.AsyncClient:
        """An httpx client whose every call, answered or not, is recorded as a step and an integration call."""
        if self._http is None:
            self._http = RecordedClient(self.steps, self.integration_calls)
        return self._http

    @property
    def org_id(self) -> str | None:
        """The organization the execution runs for (its scope); None for GLOBAL."""
        return self.organization_id

    @property
    def org_name(self) -> str | None:
        """The organization's id until organizations (with names) arrive with the identity issue; None for GLOBAL."""
        return self.organization_id

    def debug(self, message: str, data: Any = None) -> None:
        """A DEBUG line (stored when the workflow or the request asks for DEBUG); `data` is appended as JSON."""
        self._emit(logging.DEBUG, message, data)

    def info(self, message: str, data: Any = None) -> None:
        """An INFO line of this execution, from `context.logger`; `data` is appended as JSON (`message {"k": 1}`)."""
        self._emit(logging.INFO, message, data)

    def warning(self, message: str, data: Any = None) -> None:
        self._emit(logging.WARNING, message, data)

    def error(self, message: str, data: Any = None) -> None:
        self._emit(logging.ERROR, message, data)

    def log(self, level: str | int, message: str, data: Any = None) -> None:
        """A line at `level`: a name ("info", "WARNING"; any case) or a `logging` number; a ValueError otherwise."""
        self._emit(_level_of(level), message, data)

    def _emit(self, level: int, message: str, data: Any) -> None:
        # Through the function's logger, so the line is captured and attributed like any other (step, level
        # opt-in); stacklevel points other handlers at the workflow's own line.
        self.logger.log(level, "%s", with_data(message, data), stacklevel=3)

    def save_checkpoint(self, name: str, data: Any = None) -> None:
        """Record progress: a step of type `checkpoint` named `name`, `output_data` = `data` (JSON-safe), Success."""
        self.steps.record(str(name), "checkpoint", "Success", output_data=data)

    def get_config(self, key: str, default: Any = None) -> Any:
        """`config[key]` when the caller passed one, else the app setting CONDUIT_CONFIG_<KEY> (text), else `default`.

        Only settings with that prefix are readable, so a workflow can never read Conduit's keys or connection
        strings. The key is upper-cased and every character other than a letter or digit becomes `_`:
        "api_url" and "api-url" both read CONDUIT_CONFIG_API_URL."""
        if key in self.config:
            return self.config[key]
        return os.environ.get(config_setting(key), default)

    def get_secret(self, key: str) -> Any:
        """Not offered yet: secrets arrive with the identity issue. The error says what to use until then."""
        raise NotOfferedError(
            f"context.get_secret({key!r}) is not offered by Conduit yet: secrets arrive with the identity issue. "
            f"Until then put the value in the app setting {config_setting(key)} (on Azure it can be a Key Vault "
            f"reference) and read it with context.get_config({key!r})."
        )

    def step(self, name: str, step_type: str = "custom", input_data: Any = None) -> Step:
        """A named, timed step: `async with context.step("load users", step_type="api") as step: ...`."""
        return Step(self.steps, name, step_type, input_data)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class RecordedClient(httpx.AsyncClient):
    """`context.http`: every request it sends becomes a step of type `http`, named `METHOD host[:port]/path`.

    An answered request is recorded when its response arrives (each redirect hop too); one that gets no answer
    (connection refused, a timeout, a cancelled execution) is recorded as a Failed step with the error, in the order
    it started, so `execution_order` has no gaps. URLs are recorded without query string or credentials."""

    def __init__(self, steps: StepRecorder, calls: list[dict[str, Any]]) -> None:
        super().__init__(timeout=30.0, event_hooks={"request": [self._on_request], "response": [self._on_response]})
        self._steps = steps
        self._calls = calls

    async def send(self, request: httpx.Request, **kwargs: Any) -> httpx.Response:
        try:
            return await super().send(request, **kwargs)
        except BaseException as error:
            self._record_failure(_request_of(error, request), error)
            raise

    async def _on_request(self, request: httpx.Request) -> None:
        request.extensions["conduit_started"] = (time.perf_counter(), self._steps.next_order())

    async def _on_response(self, response: httpx.Response) -> None:
        status = response.status_code
        failed = status >= 400
        self._record(response.request, status, "Failed" if failed else "Success",
                     f"HTTP {status}" if failed else None)

    def _record_failure(self, request: httpx.Request, error: BaseException) -> None:
        if "conduit_started" in request.extensions and "conduit_recorded" not in request.extensions:
            text = str(error)
            self._record(request, None, "Failed", f"{type(error).__name__}: {text}" if text else type(error).__name__)

    def _record(self, request: httpx.Request, status: int | None, outcome: str, error: str | None) -> None:
        request.extensions["conduit_recorded"] = True
        started, order = request.extensions["conduit_started"]
        duration = (time.perf_counter() - started) * 1000
        url = str(request.url.copy_with(query=None, fragment=None, userinfo=b""))
        call = {"method": request.method, "url": url, "status_code": status, "duration_ms": round(duration, 1)}
        self._calls.append(call if error is None or status is not None else call | {"error": error})
        self._steps.record(
            f"{request.method} {request.url.netloc.decode('ascii')}{request.url.path}",
            "http",
            outcome,
            input_data={"method": request.method, "url": url},
            output_data=None if status is None else {"status_code": status},
            duration_ms=duration,
            error_message=error,
            order=order,
        )


def _request_of(error: BaseException, sent: httpx.Request) -> httpx.Request:
    """The request (redirect hop) an error belongs to: httpx names it on its own errors."""
    if isinstance(error, httpx.RequestError):
        try:
            return error.request
        except RuntimeError:  # raised before any request was bound to it
            pass
    return sent


def config_setting(key: str) -> str:
    """The app setting `get_config(key)` reads: "api_url" -> CONDUIT_CONFIG_API_URL."""
    if not isinstance(key, str) or not key.strip():
        raise ValueError(f"a config key is a non-empty string, got {key!r}")
    return CONFIG_PREFIX + re.sub(r"[^0-9A-Za-z]", "_", key.strip()).upper()


def with_data(message: Any, data: Any) -> str:
    """`message`, then `data` as JSON after one space (`created {"user": "ada"}`); values JSON cannot hold become
    `"<TypeName>"`, so logging never fails on them. No data, no suffix."""
    text = str(message)
    if data is None:
        return text
    return f"{text} {json.dumps(json_safe(data), ensure_ascii=False)}"


def _level_of(level: str | int) -> int:
    if isinstance(level, int) and not isinstance(level, bool) and level in _LEVELS.values():
        return level
    number = _LEVELS.get(level.strip().lower()) if isinstance(level, str) else None
    if number is None:
        raise ValueError(f"context.log level must be one of debug, info, warning, error, critical, got {level!r}")
    return number


def get_context() -> ExecutionContext:
    """The context of the execution this code runs in; a clear error outside one."""
    context = _current.get()
    if context is None:
        raise ContextError(
            "get_context() was called outside of an execution. It only works in code that Conduit runs "
            "(a workflow, data provider or script) and in the tasks and threads that code starts."
        )
    return context


def bind_context(context: ExecutionContext) -> Any:
    """Make `context` current in this task; returns the token for `unbind_context`."""
    return _current.set(context)


def unbind_context(token: Any) -> None:
    _current.reset(token)
