"""`ExecutionContext`: what a running workflow knows about itself, and `get_context()` to reach it anywhere.

Besides Conduit's own API (`logger`, `http`, `step`) it offers what workflows written for the seed system use:
`org_id` / `org_name`, the log helpers `info` / `debug` / `warning` / `error` / `log`, `save_checkpoint`,
`get_config` and `get_secret` (see their docstrings for what each does here).

A secret read through the context is masked from then on in everything the execution stores or returns: the context
holds the execution's `Redactor` and hands it to the capture (log lines, printed text) and the step recorder (steps,
HTTP call records); the engine masks the result, variables and error (shared/capture/redaction.py).
"""

from __future__ import annotations

import base64
import json
import logging
import os
import re
import threading
import time
from collections.abc import Generator
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import httpx

from shared.capture.redaction import MIN_REDACTED_LENGTH, Redactor
from shared.engine.steps import Step, StepRecorder
from shared.errors import ContextError, SecretNotFoundError
from shared.models import GLOBAL_SCOPE, Caller
from shared.serialization import json_safe
from shared.storage.config import ConfigEntry
from shared.storage.secret_box import SecretBox

if TYPE_CHECKING:
    from shared.capture.log_capture import LogCapture
    from shared.engine.config import ConfigReader
    from shared.engine.invocation import Invocation
    from shared.engine.subcalls import SubCalls

CONFIG_PREFIX = "CONDUIT_CONFIG_"
_LEVELS = {"debug": logging.DEBUG, "info": logging.INFO, "warning": logging.WARNING, "warn": logging.WARNING,
           "error": logging.ERROR, "critical": logging.CRITICAL}
_current: ContextVar[ExecutionContext | None] = ContextVar("conduit_execution_context", default=None)
_redactor_lock = threading.Lock()


class DurableWaitNotOffered(RuntimeError):
    """`context.wait_for_event` in a Python workflow: only DAG workflows wait durably."""


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
    config_reader: ConfigReader | None = field(default=None, repr=False)  # stored config; None: settings only
    capture: LogCapture | None = field(default=None, repr=False)
    redactor: Redactor | None = field(default=None, repr=False)  # set by the first secret read (see `_mask`)
    subcalls: SubCalls | None = field(default=None, repr=False)  # the engine's, for `run_workflow`
    invocation: Invocation | None = field(default=None, repr=False)  # the run this context belongs to
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
        """The organization's id, as the seed system's `org_name` stood in for it; None for GLOBAL. Executions know
        their organization by id only (no storage read per run); its name is in GET /api/organizations/{id}."""
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
        """The value of `key` for this execution, from the first place that has it:

        1. `config[key]`, when the caller passed one with the request;
        2. the stored config (`PUT /api/config/{key}`) of the execution's organization, then the global one — typed
           (`int`, `bool`, JSON values as such); a secret is decrypted and, like with `get_secret`, masked from then
           on in everything the execution stores or returns;
        3. the app setting CONDUIT_CONFIG_<KEY> (text): only settings with that prefix, so a workflow can never read
           Conduit's keys or connection strings. The key is upper-cased and every character other than a letter or
           digit becomes `_`: "api_url" and "api-url" both read CONDUIT_CONFIG_API_URL;
        4. `default`.
        Stored keys are matched exactly (case included)."""
        setting = config_setting(key)
        if key in self.config:
            return self.config[key]
        entry = self._stored(key)
        if entry is not None:
            return self._reveal(entry) if entry.is_secret else entry.value
        return os.environ.get(setting, default)

    def get_secret(self, key: str) -> SecretValue:
        """The decrypted value of the secret `key`: the organization's, else the global one.

        From then on the value is masked (`***`) in this execution's logs, printed output, result, error, steps and
        HTTP call records. The value is a `str`; `await context.get_secret(key)` (the seed system's form) works too.
        A key that is not stored, or is stored as a plain (unencrypted) value, raises SecretNotFoundError."""
        config_setting(key)
        entry = self._stored(key)
        where = "globally" if self.scope == GLOBAL_SCOPE else f"in organization {self.scope} or globally"
        if entry is None:
            raise SecretNotFoundError(
                f"No secret '{key}' is stored {where}. An admin stores one with PUT /api/config/{key} and the body "
                '{"type": "secret", "value": "..."}.'
            )
        if not entry.is_secret:
            raise SecretNotFoundError(
                f"'{key}' is stored as a {entry.type} config value ({entry.scope}), not as a secret, so it is neither "
                f"encrypted nor masked. Read it with context.get_config({key!r}), or store it again with type secret."
            )
        return SecretValue(self._reveal(entry))

    def _stored(self, key: str) -> ConfigEntry | None:
        reader = self.config_reader
        if reader is None:
            return None
        reader.readers.add(self.function_name)
        return reader.lookup(self.scope, key)

    def _reveal(self, entry: ConfigEntry) -> str:
        assert entry.token is not None
        plain = SecretBox.from_env().decrypt(entry.token, f"Secret '{entry.key}' of {entry.scope}")
        self._mask(entry.key, plain)
        return plain

    def _mask(self, key: str, value: str) -> None:
        """Mask `value` in everything this execution stores or returns from now on."""
        redactor = self.redactor
        if redactor is None:
            with _redactor_lock:
                redactor = self.redactor
                if redactor is None:
                    redactor = Redactor()
                    self.steps.redactor = redactor
                    if self.capture is not None:
                        self.capture.redactor = redactor
                    self.redactor = redactor
        if not redactor.add(value):
            self.logger.warning("secret '%s' is %d characters long, shorter than %d: it is not masked in this "
                                "execution's output", key, len(value), MIN_REDACTED_LENGTH)

    async def run_workflow(self, name: str, /, **inputs: Any) -> Any:
        """Call the registered @workflow `name` with `inputs` as a step of this execution and return its value (or
        raise its exception). Its input is validated by its own model (InputValidationError naming every field),
        its own `timeout_seconds` applies, bounded by what is left of this execution's (WorkflowTimeoutError, a
        TimeoutError, when it runs out), and its log lines are this execution's, attributed to the step. An unknown
        name, or a data provider, raises WorkflowNotFoundError."""
        if self.subcalls is None:
            raise ContextError("context.run_workflow works only in an execution run by the engine.")
        return await self.subcalls.run(self, name, inputs)

    async def wait_for_event(self, name: str, timeout: float | None = None) -> Any:
        """Not offered in Python workflows: a wait here could only be a sleep that holds its worker and dies with its
        host. Put the wait in a DAG (a `wait_for_event` node between `action` nodes), which pauses durably."""
        raise DurableWaitNotOffered(
            f"context.wait_for_event({name!r}) is not offered in Python workflows: a Python function cannot be paused "
            "and resumed on another host, so the wait would hold a worker and die with it. Use a DAG workflow with a "
            "`wait_for_event` node (see the README's Durable executions) and call this workflow from an `action` node."
        )

    def step(self, name: str, step_type: str = "custom", input_data: Any = None) -> Step:
        """A named, timed step: `async with context.step("load users", step_type="api") as step: ...`."""
        return Step(self.steps, name, step_type, input_data)

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


class SecretValue(str):
    """A secret's value: a plain `str` to use as such, which `await` accepts too (the seed system's
    `await context.get_secret(key)`), giving the same text."""

    __slots__ = ()

    def __await__(self) -> Generator[Any, None, str]:
        return _text(str(self)).__await__()


async def _text(value: str) -> str:
    return value


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
        call = call if error is None or status is not None else call | {"error": error}
        redactor = self._steps.redactor  # every call record passes here: a secret the execution read is masked
        self._calls.append(call if redactor is None else redactor.value(call))
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
