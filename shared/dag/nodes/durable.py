"""Nodes that pause a run without holding a worker: `wait_for_event` and `delay` (see shared.engine.durable).

Each parks the run (`NodeParked`) the first time it runs and records a Waiting step saying until when; the run is
stored Waiting and woken through the queue — by a delivered event, or at the time. The woken run runs the node
again, which finds its Waiting step (`run.previous_wait`) and decides: the event came (the oldest delivery of its
name that no wait has taken), the time ran out, or wait on.
"""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import Field, model_validator

from shared.dag.nodes.base import Branch, NodeConfig, NodeHandler, NodeParked, register
from shared.engine.durable import EVENT_NAME_PATTERN, is_due, park_after_seconds, when
from shared.models import iso

MAX_WAIT_SECONDS = 365 * 86_400
TIMEOUT_LABEL = "timeout"


class EventWaitTimedOut(TimeoutError):
    """A `wait_for_event` whose `timeout_seconds` ran out, with no `timeout` edge to take."""


class WaitConfig(NodeConfig):
    event: str = Field(pattern=EVENT_NAME_PATTERN)
    timeout_seconds: float | None = Field(default=None, gt=0, le=MAX_WAIT_SECONDS)


@register
class WaitForEvent(NodeHandler):
    type_name = "wait_for_event"
    description = ("Pauses the run (status Waiting, no worker held) until `event` is delivered with POST "
                   "/api/workflows/executions/{id}/events/{event}; output is the delivered JSON. With "
                   "`timeout_seconds`, an edge labelled `timeout` is taken when time runs out (without one, the node "
                   "fails with EventWaitTimedOut).")
    Config = WaitConfig

    async def run(self, run: Any, config: WaitConfig) -> Any:
        event = run.take_event(config.event)  # delivered before this wait was reached, or while it waited
        if event is not None:
            return Branch(event.get("payload"), frozenset({""} | (run.out_labels - {TIMEOUT_LABEL})))
        previous = run.previous_wait
        if previous is None:
            until = _after(config.timeout_seconds) if config.timeout_seconds else None
            raise NodeParked({"reason": "event", "event": config.event, "until": until})
        wait = previous.get("output_data") or {}
        until = wait.get("until")
        if is_due(when(until)):
            if TIMEOUT_LABEL in run.out_labels:
                return Branch({"timed_out": True, "event": config.event, "until": until}, frozenset({TIMEOUT_LABEL}))
            raise EventWaitTimedOut(f"event '{config.event}' was not delivered by {until}")
        raise NodeParked({k: wait.get(k) for k in ("reason", "event", "until")}, recorded=True)


class DelayConfig(NodeConfig):
    seconds: float | str | None = None  # a number, or a template giving one
    until: str | None = None  # an ISO 8601 time (a template), UTC unless it says otherwise

    @model_validator(mode="after")
    def _one_of(self) -> DelayConfig:
        if (self.seconds is None) == (self.until is None):
            raise ValueError("give exactly one of `seconds` and `until`")
        return self


@register
class Delay(NodeHandler):
    type_name = "delay"
    description = ("Waits `seconds` (or `until` an ISO time) without holding a worker: the run is stored Waiting and "
                   "woken through the queue at that time, on any host; output is {until, waited_seconds}.")
    Config = DelayConfig
    template_fields = ("seconds", "until")

    async def run(self, run: Any, config: DelayConfig) -> Any:
        previous = run.previous_wait
        if previous is not None:
            until = str((previous.get("output_data") or {}).get("until") or "")
            if is_due(when(until) or datetime.now(UTC)):
                return _waited(until, str(previous.get("timestamp") or until))
            raise NodeParked({"reason": "delay", "until": until}, recorded=True)
        wake = _wake_time(config)
        left = (wake - datetime.now(UTC)).total_seconds()
        if left < park_after_seconds():
            started = _now()
            await asyncio.sleep(max(0.0, left))
            return _waited(iso(wake) or "", started)
        raise NodeParked({"reason": "delay", "until": iso(wake)})


def _wake_time(config: DelayConfig) -> datetime:
    if config.until is not None:
        try:
            wake = datetime.fromisoformat(str(config.until).replace("Z", "+00:00"))
        except ValueError:
            raise ValueError(f"`until` must be an ISO 8601 time, got {config.until!r}") from None
        return wake if wake.tzinfo else wake.replace(tzinfo=UTC)
    try:
        seconds = float(config.seconds)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"`seconds` must give a number, got {config.seconds!r}") from None
    if not 0 <= seconds <= MAX_WAIT_SECONDS:
        raise ValueError(f"`seconds` must be within 0..{MAX_WAIT_SECONDS}, got {seconds:g}")
    return datetime.now(UTC) + timedelta(seconds=seconds)


def _waited(until: str, since: str) -> dict[str, Any]:
    started = when(since) or datetime.now(UTC)
    return {"until": until, "waited_seconds": round((datetime.now(UTC) - started).total_seconds(), 3)}


def _after(seconds: float) -> str:
    return iso(datetime.now(UTC) + timedelta(seconds=seconds)) or ""


def _now() -> str:
    return iso(datetime.now(UTC)) or ""
