"""Steps: named, timed parts of an execution (`context.step(...)`) and every `context.http` call.

Log lines emitted inside a step carry its name and type (through `log_capture.current_step`), so a user can
read one step's lines on their own.
"""

from __future__ import annotations

import threading
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from shared.capture.log_capture import current_step
from shared.capture.redaction import Redactor
from shared.serialization import json_safe

StepSink = Callable[[Sequence[Mapping[str, Any]]], Awaitable[Any]]


class StepRecorder:
    """The steps of one execution, in the order they started.

    Steps are written with the execution's outcome, unless one must be durable earlier (a DAG node's output before
    its successors start): `persist` writes it now through `sink`, which the `persisted` layer sets for executions
    that are stored, and remembers it so that `finish` does not write it again (`unwritten`). A transient
    execution has no sink, and `persist` writes nothing."""

    def __init__(self, attempt: int = 1) -> None:
        self.steps: list[dict[str, Any]] = []
        self.attempt = attempt
        self.redactor: Redactor | None = None  # set once the execution reads a secret
        self.sink: StepSink | None = None
        # The steps stored for this execution before this run (a continued run's: shared.engine.durable).
        self.history: list[dict[str, Any]] = []
        self._written: set[int] = set()
        self._order = 0
        self._lock = threading.Lock()

    async def persist(self, steps: Sequence[Mapping[str, Any]]) -> bool:
        """Write `steps` now when the execution is stored (one request for a few rows); False when it is not."""
        sink = self.sink
        if sink is None or not steps:
            return False
        await sink(steps)
        with self._lock:
            self._written.update(int(step["execution_order"]) for step in steps)
        return True

    def unwritten(self, steps: Sequence[Mapping[str, Any]]) -> list[Mapping[str, Any]]:
        """The steps `persist` has not written yet: those the final write still has to store."""
        with self._lock:
            return [step for step in steps if step.get("execution_order") not in self._written]

    def continue_after(self, order: int) -> None:
        """Number this run's steps after `order`: a continuation of the same attempt must not rewrite its rows."""
        with self._lock:
            self._order = max(self._order, order)

    def next_order(self) -> int:
        with self._lock:
            self._order += 1
            return self._order

    def add(self, step: dict[str, Any]) -> None:
        with self._lock:
            self.steps.append(step)

    def record(
        self,
        name: str,
        step_type: str,
        status: str,
        *,
        input_data: Any = None,
        output_data: Any = None,
        duration_ms: float = 0.0,
        error_message: str | None = None,
        order: int | None = None,
        started: datetime | None = None,
        extra: Mapping[str, Any] | None = None,
    ) -> dict[str, Any]:
        """Add a finished step; used by `Step`, checkpoints, the http client hooks, workflow calls and DAG nodes:
        every step passes here, so this is where a secret the execution read is masked in its name, data and error.
        `extra` adds fields of the step's kind (a DAG node's `node_id`, `node_type`, `iteration`)."""
        redactor = self.redactor
        extra = json_safe(dict(extra)) if extra else {}
        if redactor is not None:
            name, error_message = redactor.text(name), redactor.optional(error_message)
            input_data, output_data = redactor.value(json_safe(input_data)), redactor.value(json_safe(output_data))
            extra = redactor.value(extra)
        step = {
            "id": uuid.uuid4().hex,
            "step_name": name,
            "step_type": step_type,
            "status": status,
            "input_data": json_safe(input_data),
            "output_data": json_safe(output_data),
            "duration_ms": round(duration_ms, 1),
            "error_message": error_message,
            "timestamp": (started or datetime.now(UTC)).isoformat().replace("+00:00", "Z"),
            "attempt": self.attempt,
            "execution_order": order if order is not None else self.next_order(),
            **extra,
        }
        self.add(step)
        return step


class Step:
    """`async with context.step("fetch users", step_type="api") as step: step.output_data = ...` (or `with`)."""

    def __init__(self, recorder: StepRecorder, name: str, step_type: str, input_data: Any = None) -> None:
        self.recorder = recorder
        self.name = name
        self.step_type = step_type
        self.input_data = input_data
        self.output_data: Any = None
        self._token: Any = None
        self._started_clock = 0.0
        self._started: datetime | None = None
        self._order = 0

    def __enter__(self) -> Step:
        self._order = self.recorder.next_order()
        self._started = datetime.now(UTC)
        self._started_clock = time.perf_counter()
        self._token = current_step.set((self.name, self.step_type))
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        current_step.reset(self._token)
        failed = exc is not None
        self.recorder.record(
            self.name,
            self.step_type,
            "Failed" if failed else "Success",
            input_data=self.input_data,
            output_data=self.output_data,
            duration_ms=(time.perf_counter() - self._started_clock) * 1000,
            error_message=f"{type(exc).__name__}: {exc}" if failed else None,
            order=self._order,
            started=self._started,
        )

    async def __aenter__(self) -> Step:
        return self.__enter__()

    async def __aexit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.__exit__(exc_type, exc, tb)
