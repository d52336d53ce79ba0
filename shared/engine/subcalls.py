"""Calling another workflow as a step of the running execution: `await context.run_workflow(name, **inputs)`.

The called workflow runs under the same rules as one started on its own — resolved in the engine's registry, its
input validated by its own model, its `timeout_seconds` enforced by the engine's deadline layer (`deadline.timed`),
so code that swallows cancellation or blocks in a thread is abandoned on time instead of holding the caller — but it
is no execution of its own: it shares the caller's execution id, log capture, steps and secrets, and its log lines
carry the step it runs in. Its time is bounded by what is left of the caller's own timeout. A DAG's `action` node
uses the same call (`SubCalls.call`), with the node's timeout as one more bound and the node's step as its step.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from shared.capture.log_capture import current_step
from shared.engine.context import ExecutionContext, bind_context, unbind_context
from shared.engine.deadline import ExecutionTimedOut, UserBaseException, timed
from shared.engine.invocation import Invocation
from shared.errors import WorkflowNotFoundError
from shared.functions.validation import validate_parameters

if TYPE_CHECKING:
    from shared.engine.core import Engine
    from shared.functions.registry import FunctionMetadata

STEP_TYPE = "workflow"
_MIN_SECONDS = 0.001  # a call whose caller has no time left still gets a deadline, and times out at once


class WorkflowTimeoutError(TimeoutError):
    """A called workflow ran past its time (its own timeout, the node's, or what was left of the caller's)."""


@dataclass(frozen=True)
class Called:
    """A resolved, validated call, ready to run."""

    metadata: FunctionMetadata
    arguments: dict[str, Any]


class SubCalls:
    """One per engine: runs registered workflows for executions of that engine (`ExecutionContext.subcalls`)."""

    def __init__(self, engine: Engine) -> None:
        self._engine = engine

    def resolve(self, name: str, inputs: dict[str, Any]) -> Called:
        """The workflow and its validated arguments: WorkflowNotFoundError for an unknown name or a data provider,
        InputValidationError (every field) for bad input."""
        metadata = self.workflow(name)
        return Called(metadata, validate_parameters(metadata, inputs))

    def workflow(self, name: str) -> FunctionMetadata:
        """The registered @workflow `name` (a DAG too); WorkflowNotFoundError for none or a data provider."""
        metadata = self._engine.registry.get(name)
        if metadata is None or not metadata.is_workflow:
            raise WorkflowNotFoundError(name)
        return metadata

    async def run(self, parent: ExecutionContext, name: str, inputs: dict[str, Any]) -> Any:
        """`context.run_workflow`: the call recorded as a step of type `workflow` named for the workflow."""
        order, started, clock = parent.steps.next_order(), datetime.now(UTC), time.perf_counter()
        error: BaseException | None = None
        value: Any = None
        try:
            called = self.resolve(name, inputs)
            value = await self.call(parent, called, step=(name, STEP_TYPE))
            return value
        except BaseException as exc:
            error = exc
            raise
        finally:
            parent.steps.record(
                name, STEP_TYPE, "Success" if error is None else "Failed", input_data=inputs, output_data=value,
                duration_ms=(time.perf_counter() - clock) * 1000, order=order, started=started,
                error_message=None if error is None else describe(error),
            )

    async def call(self, parent: ExecutionContext, called: Called, *, step: tuple[str, str],
                   timeout: float | None = None) -> Any:
        """Run `called` for the execution of `parent`, its log lines attributed to `step` (name, type); raises what
        the workflow raised, or WorkflowTimeoutError. `timeout` bounds it further (a DAG node's timeout)."""
        metadata = called.metadata
        seconds = min(s for s in (metadata.timeout_seconds, timeout, _remaining(parent)) if s is not None)
        child = replace(parent, function_name=metadata.name, _http=None)
        invocation = child.invocation = _child_invocation(parent, child, called, max(seconds, _MIN_SECONDS))
        token, step_token = bind_context(child), current_step.set(step)
        try:
            return await timed(self._engine.call_function)(invocation)
        except ExecutionTimedOut:
            raise WorkflowTimeoutError(
                f"workflow '{metadata.name}' timed out after {seconds:g} seconds") from None
        except UserBaseException as exc:
            raise exc.original from None  # the caller sees what the workflow raised (SystemExit stays contained)
        finally:
            current_step.reset(step_token)
            unbind_context(token)
            _share_redactor(parent, child)
            await child.aclose()


def _child_invocation(parent: ExecutionContext, child: ExecutionContext, called: Called,
                      seconds: float) -> Invocation:
    outer = parent.invocation
    if outer is None:
        raise RuntimeError("context.run_workflow needs a context created by the engine for a running execution")
    return Invocation(
        request=outer.request, context=child, capture=outer.capture, timeout_seconds=seconds,
        function_name=called.metadata.name, metadata=called.metadata, arguments=called.arguments,
        started_at=outer.started_at, started_clock=time.perf_counter(),
    )


def _remaining(context: ExecutionContext) -> float | None:
    """Seconds left of the calling execution's own timeout."""
    outer = context.invocation
    if outer is None:
        return None
    return outer.timeout_seconds - (time.perf_counter() - outer.started_clock)


def _share_redactor(parent: ExecutionContext, child: ExecutionContext) -> None:
    """A secret the called workflow read stays masked in everything the calling execution stores and returns."""
    if parent.redactor is None and child.redactor is not None:
        parent.redactor = child.redactor


def describe(error: BaseException) -> str:
    """`Type: message`, with every field of a validation error named."""
    details = getattr(error, "details", None)
    text = str(error)
    if isinstance(details, list) and details and all(isinstance(d, dict) and "field" in d for d in details):
        fields = "; ".join(f"{d['field']}: {d.get('message')}" for d in details)
        text = f"{text} ({fields})"
    if isinstance(error, asyncio.CancelledError):
        return "Cancelled"
    return f"{type(error).__name__}: {text}" if text else type(error).__name__
