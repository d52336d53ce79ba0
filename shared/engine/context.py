"""`ExecutionContext`: what a running workflow knows about itself, and `get_context()` to reach it anywhere."""

from __future__ import annotations

import logging
import time
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

import httpx

from shared.engine.steps import Step, StepRecorder
from shared.errors import ContextError
from shared.models import GLOBAL_SCOPE, Caller

_current: ContextVar[ExecutionContext | None] = ContextVar("conduit_execution_context", default=None)


@dataclass
class ExecutionContext:
    """Passed to a workflow whose first parameter is annotated `ExecutionContext` or named `context`."""

    execution_id: str
    caller: Caller
    scope: str = GLOBAL_SCOPE
    config: dict[str, Any] = field(default_factory=dict)
    function_name: str = "script"
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
    def logger(self) -> logging.Logger:
        """A logger named for the function; its lines (like any logger's) land in this execution's logs."""
        return logging.getLogger(f"workflow.{self.function_name}")

    @property
    def http(self) -> httpx.AsyncClient:
        """An httpx client whose every call is recorded as an integration call of this execution."""
        if self._http is None:
            self._http = httpx.AsyncClient(
                timeout=30.0,
                event_hooks={"request": [self._on_request], "response": [self._on_response]},
            )
        return self._http

    def get_config(self, key: str, default: Any = None) -> Any:
        return self.config.get(key, default)

    def step(self, name: str, step_type: str = "custom", input_data: Any = None) -> Step:
        """A named, timed step: `async with context.step("load users", step_type="api") as step: ...`."""
        return Step(self.steps, name, step_type, input_data)

    async def _on_request(self, request: httpx.Request) -> None:
        request.extensions["conduit_started"] = (time.perf_counter(), self.steps.next_order())

    async def _on_response(self, response: httpx.Response) -> None:
        """Every call through `context.http` becomes an integration call and a step of type `http`."""
        request = response.request
        started, order = request.extensions.get("conduit_started", (time.perf_counter(), None))
        duration = (time.perf_counter() - started) * 1000
        url = str(request.url.copy_with(query=None))
        call = {"method": request.method, "url": url, "status_code": response.status_code,
                "duration_ms": round(duration, 1)}
        self.integration_calls.append(call)
        self.steps.record(
            f"{request.method} {request.url.host}{request.url.path}",
            "http",
            "Success" if response.status_code < 400 else "Failed",
            input_data={"method": request.method, "url": url},
            output_data={"status_code": response.status_code},
            duration_ms=duration,
            error_message=None if response.status_code < 400 else f"HTTP {response.status_code}",
            order=order,
        )

    async def aclose(self) -> None:
        if self._http is not None:
            await self._http.aclose()
            self._http = None


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
