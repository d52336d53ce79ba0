"""One scheduler tick: read every schedule row once, bring the rows in line with the registry, fire the due slots.

Exactly once per slot, on any number of instances: a slot's execution id is derived from (workflow, slot time)
(`slot_execution_id`), so two instances — or a timer run retried after a crash between the submit and the row
update — write the same id, and the second insert finds the first execution instead of running the slot again.
The row is written after the submits, ETag-conditionally: a crash before it means the next tick fires the same
slots again (and collides), never that a slot is lost; of two instances writing one row, one wins and the other's
work was the same.

A tick with nothing due and nothing changed is one range read. Due workflows are fired concurrently (bounded), and
the rows they change are written back in batch transactions.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable, Set
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from shared.errors import ConduitError, InputValidationError, WorkflowNotFoundError
from shared.executions.queries import request_cancel
from shared.executions.service import Submission, WorkflowCall, submit
from shared.executions.services import Services
from shared.functions.registry import FunctionMetadata
from shared.functions.schedule import ScheduleOptions
from shared.models import GLOBAL_SCOPE, ExecutionRecord, ExecutionStatus, iso, slot_execution_id, utc_now
from shared.schedules.planner import Plan, first_slot, plan
from shared.storage.schedules import ScheduleRow, ScheduleStore

log = logging.getLogger("conduit.schedules")

CONCURRENCY = 32  # due workflows fired at once: enough to submit 1,000 in seconds, few enough for one storage account
ACTIVE = (ExecutionStatus.PENDING, ExecutionStatus.RUNNING, ExecutionStatus.CANCELLING, ExecutionStatus.WAITING)
BULK_FROM = 8  # due schedules whose previous run must be looked at: from this many on, one range read for all
BULK_WINDOW = timedelta(hours=2)  # previous runs younger than this are found by that read; older ones one by one
_ID_CLOCK_SLACK = timedelta(seconds=5)  # a manual run's id time is its instance's clock, its last_run the caller's
RETIREMENT_GRACE = timedelta(minutes=15)  # a schedule back within this after its retirement goes on where it stood


@dataclass
class TickReport:
    """What one tick did: execution ids this tick submitted (`fired`; a slot another instance submitted too is
    counted by both, and still runs once) and found already started or finished (`already_fired`), slots skipped,
    rows created, changed and retired, and the workflows whose firing failed (retried next tick)."""

    fired: list[str] = field(default_factory=list)
    already_fired: list[str] = field(default_factory=list)
    skipped: int = 0
    created: int = 0
    changed: int = 0
    retired: int = 0
    errors: list[str] = field(default_factory=list)

    @property
    def active(self) -> bool:
        return bool(self.fired or self.skipped or self.created or self.changed or self.retired or self.errors)

    def summary(self) -> str:
        parts = {"fired": len(self.fired), "already fired elsewhere": len(self.already_fired),
                 "skipped": self.skipped, "new": self.created, "changed": self.changed, "retired": self.retired,
                 "failed": len(self.errors)}
        return ", ".join(f"{count} {what}" for what, count in parts.items() if count)


def scheduled_workflows(services: Services) -> dict[str, FunctionMetadata]:
    """The workflows with a schedule, by name."""
    return {m.name: m for m in services.registry.list("workflow") if m.schedule_options is not None}


async def tick(services: Services, store: ScheduleStore, now: datetime | None = None) -> TickReport:
    """One pass: reconcile every row with the registry, fire what is due at `now`, save what changed."""
    now = now or utc_now()
    report = TickReport()
    rows = {row.workflow: row for row in await store.list_rows()}
    wanted = scheduled_workflows(services)
    due: list[tuple[FunctionMetadata, ScheduleRow, Plan]] = []
    unchanged: list[ScheduleRow] = []
    for name, metadata in wanted.items():
        stored = rows.get(name)
        row = reconciled(name, stored, metadata.schedule_options, now)  # type: ignore[arg-type]
        if row is not stored:
            report.created += stored is None
            report.changed += stored is not None
        planned = None if row.paused else plan(metadata.schedule_options, row.next_run, now)  # type: ignore[arg-type]
        if planned is not None:
            due.append((metadata, row, planned))
        elif row is not stored:
            unchanged.append(row)
    retired = [_retired(row, now) for name, row in rows.items() if name not in wanted and not row.retired]
    report.retired = len(retired)
    previous = await PreviousRuns.load(services, [row for metadata, row, planned in due
                                                  if _overlap_matters(metadata, row, planned)], now)
    gate = asyncio.Semaphore(CONCURRENCY)
    fired = await asyncio.gather(*(_fire_guarded(gate, services, previous, metadata, row, planned, now, report)
                                   for metadata, row, planned in due))
    await _save(store, [*unchanged, *retired, *fired])
    return report


def _overlap_matters(metadata: FunctionMetadata, row: ScheduleRow, planned: Plan) -> bool:
    return bool(planned.fire) and row.last_execution_id is not None \
        and metadata.schedule_options.overlap != "allow"  # type: ignore[union-attr]


class PreviousRuns:
    """Whether a due schedule's previous run is still going (the overlap policy's question).

    With many schedules due at once (the top of the hour), one range read of the GLOBAL scope's active executions
    created since the oldest recent previous run answers for all of them — ids carry their creation (or slot) time —
    instead of one read each; older previous runs, and a few due schedules, are read one by one."""

    def __init__(
        self, services: Services, active: Set[str] = frozenset(), since: datetime | None = None
    ) -> None:
        self._services = services
        self._active = active
        self._since = since

    @classmethod
    async def load(cls, services: Services, rows: list[ScheduleRow], now: datetime) -> PreviousRuns:
        recent = [row.last_run for row in rows if row.last_run is not None and row.last_run >= now - BULK_WINDOW]
        if len(recent) < BULK_FROM:
            return cls(services)
        since = min(recent)
        return cls(services, await services.store.active_ids(GLOBAL_SCOPE, since=since - _ID_CLOCK_SLACK), since)

    async def going(self, row: ScheduleRow) -> bool:
        """Whether the previous run is still Pending or Running."""
        if row.last_execution_id is None:
            return False
        if self._since is not None and row.last_run is not None and row.last_run >= self._since:
            return row.last_execution_id in self._active
        return await self.read(row) is not None

    async def read(self, row: ScheduleRow) -> ExecutionRecord | None:
        """The previous run as stored, when it is still Pending or Running."""
        if row.last_execution_id is None:
            return None
        record = await self._services.store.get(GLOBAL_SCOPE, row.last_execution_id, light=True)
        return record if record is not None and record.status in ACTIVE else None


def reconciled(name: str, row: ScheduleRow | None, options: ScheduleOptions, now: datetime) -> ScheduleRow:
    """The row as the registry says it should be: `row` itself when nothing changed (no write needed)."""
    cron = options.cron
    if row is None:
        return ScheduleRow(workflow=name, expression=cron.expression, timezone=cron.timezone,
                           next_run=first_slot(cron, now), updated_at=now)
    same = row.expression == cron.expression and row.timezone == cron.timezone and row.next_run is not None
    if same and not row.retired:
        return row
    if same and row.updated_at is not None and now - row.updated_at <= RETIREMENT_GRACE:
        # Retired moments ago by an instance that did not know the schedule (an old version during a deploy): it
        # goes on from where it stood, so a slot that passed meanwhile follows catch_up instead of being lost.
        return replace(row, retired=False, updated_at=now)
    return replace(row, expression=cron.expression, timezone=cron.timezone, retired=False, updated_at=now,
                   next_run=first_slot(cron, now, row.last_run))


def _retired(row: ScheduleRow, now: datetime) -> ScheduleRow:
    """The row of a workflow that lost its schedule: kept (its history, and its next run for a quick return)."""
    return replace(row, retired=True, updated_at=now)


async def _fire_guarded(
    gate: asyncio.Semaphore, services: Services, previous: PreviousRuns, metadata: FunctionMetadata,
    row: ScheduleRow, due: Plan, now: datetime, report: TickReport,
) -> ScheduleRow:
    async with gate:
        try:
            return await fire_due(services, previous, metadata, row, due, now, report)
        except Exception as problem:  # e.g. the previous run could not be read: the whole plan waits a tick
            report.errors.append(metadata.name)
            log.warning("schedule of %s: could not fire its due slots, tried again next tick: %s", metadata.name,
                        _describe(problem))
            return replace(row, last_error=_describe(problem), updated_at=now)


async def fire_due(
    services: Services, previous: PreviousRuns, metadata: FunctionMetadata, row: ScheduleRow, due: Plan,
    now: datetime, report: TickReport,
) -> ScheduleRow:
    """Fire a plan's slots in order, by the overlap policy; the row as it stands afterwards.

    A slot whose submit fails on storage stays the row's next run, so the next tick fires it again (as a late or
    missed slot); slots fired before it are recorded. A slot whose input is refused is skipped and its error kept."""
    options: ScheduleOptions = metadata.schedule_options  # type: ignore[assignment]
    slots, skipped = list(due.fire), due.skipped
    if slots and options.overlap != "allow" and await _previous_going(services, previous, row, options):
        skipped, slots = skipped + len(slots), []
        log.info("schedule of %s: skipped %d slot(s), its previous run %s is still going", metadata.name,
                 len(due.fire), row.last_execution_id)
    next_run, error = due.next_run, None
    fired = 0
    for slot in slots:
        try:
            submission = await _submit_slot(services, metadata.name, options, slot)
        except (InputValidationError, WorkflowNotFoundError) as problem:
            skipped, error = skipped + 1, f"{slot.isoformat()}: {problem.message}"
            continue
        except Exception as problem:  # storage away: this slot and the later ones wait for the next tick
            next_run, error = slot, f"{slot.isoformat()}: {_describe(problem)}"
            report.errors.append(metadata.name)
            log.warning("schedule of %s: could not fire the %s slot, it is tried again next tick: %s",
                        metadata.name, slot.isoformat(), error)
            break
        (report.already_fired if submission.duplicate else report.fired).append(submission.execution_id)
        row = replace(row, last_run=slot, last_execution_id=submission.execution_id)
        fired += 1
    report.skipped += skipped
    return replace(row, next_run=next_run, run_count=row.run_count + fired,
                   skipped_count=row.skipped_count + skipped, last_error=error, updated_at=now)


async def _previous_going(
    services: Services, previous: PreviousRuns, row: ScheduleRow, options: ScheduleOptions
) -> bool:
    """Whether the schedule's previous run is still Pending or Running; with `cancel_previous` it is asked to stop
    first (and no longer counts as going)."""
    if not await previous.going(row):
        return False
    if options.overlap != "cancel_previous":
        return True
    going = await previous.read(row)
    if going is not None:
        try:
            await request_cancel(services.store, going)
        except ConduitError as problem:  # it finished meanwhile, or storage refused: fire anyway, as asked
            log.info("schedule of %s: could not cancel %s: %s", row.workflow, going.id, problem.message)
    return False


async def _submit_slot(services: Services, name: str, options: ScheduleOptions, slot: datetime) -> Submission:
    return await submit(services, WorkflowCall(
        workflow_name=name,
        input_data=dict(options.inputs),
        trigger_payload={"kind": "schedule", "scheduled_for": iso(slot)},
        wait=False,
        execution_id=slot_execution_id(name, slot),
    ))


def _describe(problem: BaseException) -> str:
    return problem.message if isinstance(problem, ConduitError) else f"{type(problem).__name__}: {problem}"


async def _save(store: ScheduleStore, rows: Iterable[ScheduleRow]) -> None:
    """Write the rows that changed; a row another instance wrote meanwhile is left as that instance wrote it."""
    rows = list(rows)
    if not rows:
        return
    saved = await store.save_many(rows)
    lost = [row.workflow for row, result in zip(rows, saved, strict=True) if result is None]
    if lost:
        log.info("schedules changed by another instance meanwhile (left as it wrote them): %s", ", ".join(lost))

