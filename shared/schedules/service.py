"""What people do with schedules: list them (expression, time zone, next five runs, last run and its status, counts),
run one now, pause and resume one. Pausing is a column of the schedule's row, so it survives restarts and holds on
every instance; while paused no slot fires or is counted, and a resumed schedule starts from the current minute (the
paused slots are not caught up).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from shared.errors import ConflictError, ScheduleNotFoundError, WorkflowNotFoundError
from shared.executions.service import WorkflowCall, submit
from shared.executions.services import Services
from shared.functions.registry import FunctionMetadata
from shared.functions.schedule import ScheduleOptions
from shared.identity import policy
from shared.models import GLOBAL_SCOPE, Caller, iso, utc_now
from shared.schedules.ticker import reconciled, scheduled_workflows
from shared.storage.schedules import ScheduleRow, ScheduleStore

NEXT_RUNS = 5
log = logging.getLogger("conduit.schedules")
_ATTEMPTS = 5  # ETag races with a tick or another admin before giving up with 409


@dataclass(frozen=True)
class ScheduleView:
    """One schedule as people see it: the workflow's options, its row, and its last run's status."""

    metadata: FunctionMetadata
    row: ScheduleRow | None
    last_status: str | None
    now: datetime

    def to_api(self) -> dict[str, Any]:
        options: ScheduleOptions = self.metadata.schedule_options  # type: ignore[assignment]
        row = self.row
        paused = bool(row and row.paused)
        upcoming = [] if paused else options.cron.next_runs(self.now, NEXT_RUNS)
        if upcoming and row is not None and row.next_run is not None and row.next_run < upcoming[0] \
                and row.expression == options.cron.expression and not row.retired:
            upcoming = [row.next_run, *upcoming[:NEXT_RUNS - 1]]  # due and not fired yet (a failed submit): next
        return {
            "workflow": self.metadata.name,
            "expression": options.cron.expression,
            "timezone": options.cron.timezone,
            "paused": paused,
            "next_run": iso(upcoming[0]) if upcoming else None,
            "next_runs": [iso(slot) for slot in upcoming],
            "last_run": iso(row.last_run) if row else None,
            "last_execution_id": row.last_execution_id if row else None,
            "last_status": self.last_status,
            "run_count": row.run_count if row else 0,
            "skipped_count": row.skipped_count if row else 0,
            "last_error": row.last_error if row else None,
            "catch_up": options.catch_up,
            "max_catch_up": options.max_catch_up,
            "grace_seconds": options.grace_seconds,
            "overlap": options.overlap,
            "inputs": dict(options.inputs),
        }


class ScheduleService:
    """Lists, triggers, pauses and resumes the schedules of this app's workflows."""

    def __init__(self, services: Services, store: ScheduleStore) -> None:
        self._services = services
        self._store = store

    async def list(self, caller: Caller, now: datetime | None = None) -> list[ScheduleView]:
        """Every scheduled workflow the caller may see, by name."""
        rows = {row.workflow: row for row in await self._store.list_rows()}
        now = now or utc_now()
        visible = [m for m in scheduled_workflows(self._services).values() if policy.may_list_function(caller, m.name)]
        statuses = await asyncio.gather(*(self._last_status(rows.get(m.name)) for m in visible))
        return [ScheduleView(m, rows.get(m.name), status, now) for m, status in zip(visible, statuses, strict=True)]

    async def get(self, caller: Caller, name: str, now: datetime | None = None) -> ScheduleView:
        """One scheduled workflow; a workflow the caller may not run is answered as if it did not exist, whether or
        not it has a schedule (so the answer tells such a caller nothing about it)."""
        metadata = self._scheduled(name, caller)
        row = await self._store.get(name)
        return ScheduleView(metadata, row, await self._last_status(row), now or utc_now())

    async def trigger(self, caller: Caller, name: str, now: datetime | None = None) -> tuple[str, ScheduleView]:
        """Run the workflow once now, outside its slots (queued, as the system, with its schedule inputs); the
        overlap policy does not apply: an admin asked for this run."""
        metadata = self._scheduled(name)
        options: ScheduleOptions = metadata.schedule_options  # type: ignore[assignment]
        now = now or utc_now()
        submission = await submit(self._services, WorkflowCall(
            workflow_name=name,
            input_data=dict(options.inputs),
            trigger_payload={"kind": "schedule", "scheduled_for": iso(now), "manual": True,
                             "triggered_by": caller.user_id},
            wait=False,
        ))

        def ran(row: ScheduleRow) -> ScheduleRow:
            return replace(row, last_run=now, last_execution_id=submission.execution_id,
                           run_count=row.run_count + 1, updated_at=now)

        try:
            row: ScheduleRow | None = await self._change(metadata, ran, now)
        except ConflictError:  # the run is queued: its id matters more than the counters, which stay one short
            log.warning("schedule of %s: manual run %s is queued, but its row kept changing and does not count it",
                        name, submission.execution_id)
            row = await self._store.get(name)
        return submission.execution_id, ScheduleView(metadata, row, "Pending", now)

    async def pause(self, name: str, now: datetime | None = None) -> ScheduleView:
        """Stop firing the schedule (idempotent)."""
        metadata, now = self._scheduled(name), now or utc_now()
        row = await self._change(metadata, lambda row: row if row.paused else replace(row, paused=True, updated_at=now),
                                 now)
        return ScheduleView(metadata, row, await self._last_status(row), now)

    async def resume(self, name: str, now: datetime | None = None) -> ScheduleView:
        """Fire it again from its first slot after now (idempotent; the paused slots are not caught up).

        Strictly after `now`, not from the start of the current minute as a new schedule starts: a slot earlier in
        this minute passed while the schedule was paused, and firing it on resume would catch a paused slot up."""
        metadata, now = self._scheduled(name), now or utc_now()
        cron = metadata.schedule_options.cron  # type: ignore[union-attr]

        def resumed(row: ScheduleRow) -> ScheduleRow:
            if not row.paused:
                return row
            after = max(now, row.last_run) if row.last_run is not None else now
            return replace(row, paused=False, next_run=cron.next_after(after), updated_at=now)

        row = await self._change(metadata, resumed, now)
        return ScheduleView(metadata, row, await self._last_status(row), now)

    def _scheduled(self, name: str, caller: Caller | None = None) -> FunctionMetadata:
        """The scheduled workflow `name` (visible to `caller`, when given): 404 workflow_not_found, else 404
        schedule_not_found for a workflow without a schedule."""
        metadata = self._services.registry.get(name)
        if metadata is None or not metadata.is_workflow or (caller is not None and
                                                            not policy.may_list_function(caller, name)):
            raise WorkflowNotFoundError(name)
        if metadata.schedule_options is None:
            raise ScheduleNotFoundError(name)
        return metadata

    async def _change(
        self, metadata: FunctionMetadata, change: Callable[[ScheduleRow], ScheduleRow], now: datetime
    ) -> ScheduleRow:
        """Apply `change` to the workflow's row (made first if no tick has yet), ETag-conditionally, retrying races."""
        options: ScheduleOptions = metadata.schedule_options  # type: ignore[assignment]
        for _ in range(_ATTEMPTS):
            stored = await self._store.get(metadata.name)
            current = reconciled(metadata.name, stored, options, now)
            row = change(current)
            if stored is not None and row is stored:
                return stored
            saved = await self._store.save(row)
            if saved is not None:
                return saved
        raise ConflictError(f"The schedule of '{metadata.name}' kept changing; try again.")

    async def _last_status(self, row: ScheduleRow | None) -> str | None:
        if row is None or row.last_execution_id is None:
            return None
        record = await self._services.store.get(GLOBAL_SCOPE, row.last_execution_id, light=True)
        return record.status.value if record is not None else None

