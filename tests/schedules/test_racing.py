"""Exactly once per slot across real processes on one Azurite: schedulers racing on every slot, and a timer run
killed in the middle of its submits, then retried.

The schedulers are `python -m tests.support.schedule_runner` processes (no shared memory, no shared clients; only
storage between them). This process builds the same registry to read the results and to drain the queue as the
worker would, so each test also proves that every slot *ran* once, not only that it was recorded once.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shared.executions.services import Services
from shared.executions.worker import process_message
from shared.models import GLOBAL_SCOPE, ExecutionStatus, slot_execution_id
from shared.schedules.ticker import tick
from tests.support.queue_drain import drain
from tests.support.schedule_runner import RUNS, opened, scheduled_registry, workflow_names

REPO = Path(__file__).resolve().parents[2]
RUNNER = "tests.support.schedule_runner"
PROCESS_TIMEOUT = 60.0


class Run:
    """One test's world: unique workflow names, a schedules table and a queue of its own, the runner's arguments."""

    def __init__(self, connection_string: str, workflows: int, cron: str) -> None:
        token = uuid.uuid4().hex[:10]
        self.connection_string = connection_string
        self.prefix, self.workflows, self.cron = f"race_{token}", workflows, cron
        self.table, self.queue = f"Race{token}", f"race-{token}"
        self.names = workflow_names(self.prefix, workflows)
        self.registry = scheduled_registry(self.prefix, workflows, cron)
        self.processes: list[subprocess.Popen[str]] = []

    def start(self, nows: list[datetime], *, barrier: Path | None = None, parties: int = 2,
              faults: list[dict] | None = None) -> subprocess.Popen[str]:
        """A scheduler process ticking at `nows`."""
        env = dict(os.environ, AzureWebJobsStorage=self.connection_string, PYTHONPATH=str(REPO))
        env.pop("CONDUIT_STORAGE_FAULTS", None)
        if faults:
            env["CONDUIT_STORAGE_FAULTS"] = json.dumps(faults)
        command = [sys.executable, "-m", RUNNER, "--table", self.table, "--queue", self.queue,
                   "--prefix", self.prefix, "--workflows", str(self.workflows), "--cron", self.cron]
        if barrier is not None:
            command += ["--barrier", str(barrier), "--parties", str(parties)]
        command += [now.isoformat() for now in nows]
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                   text=True)
        self.processes.append(process)
        return process

    def stop(self) -> None:
        """Kill the scheduler processes still running (a test that failed early)."""
        for process in self.processes:
            if process.poll() is None:
                process.kill()
                process.communicate()

    async def drain(self, services: Services) -> None:
        """Hand every queued message to the worker, as the Functions host would."""
        await drain(self.connection_string, self.queue, lambda message: process_message(services, message.get_body()),
                    max_rounds=200)


def finished(process: subprocess.Popen[str]) -> list[dict]:
    """Wait for a scheduler process; its per-tick reports. Fails the test with its stderr if it failed."""
    stdout, stderr = process.communicate(timeout=PROCESS_TIMEOUT)
    assert process.returncode == 0, f"scheduler process failed ({process.returncode}):\n{stderr[-3000:]}"
    return [json.loads(line) for line in stdout.splitlines() if line.strip()]


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


@pytest.fixture
def runs(storage_connection_string: str) -> Iterator[Callable[[int, str], Run]]:
    """Runs of scheduler processes on the session's Azurite; processes left running are killed afterwards."""
    made: list[Run] = []

    def make(workflows: int, cron: str) -> Run:
        made.append(Run(storage_connection_string, workflows, cron))
        return made[-1]

    yield make
    for run in made:
        run.stop()


async def test_two_schedulers_racing_on_every_slot_fire_each_slot_once(
    runs: Callable[[int, str], Run], tmp_path: Path
) -> None:
    # Given 12 workflows scheduled every minute, and two scheduler processes on one Azurite that meet at a barrier
    # before each of six ticks (10:00:05 .. 10:05:05), so they read the rows together and submit the same slots;
    # storage creates executions slowly (100 ms), so both have read the rows before either writes them back
    world = runs(12, "* * * * *")
    nows = [at("2032-01-05T10:00:05") + timedelta(minutes=minute) for minute in range(6)]
    slots = [now.replace(second=0) for now in nows]
    slow_create = [{"match": "table.ConduitExecutions.create", "fault": "latency", "latency_ms": 100}]
    # When both run
    racers = [world.start(nows, barrier=tmp_path, faults=slow_create) for _ in range(2)]
    reports = [finished(process) for process in racers]
    submitted = [{eid for tick_report in report for eid in tick_report["fired"] + tick_report["already_fired"]}
                 for report in reports]
    expected = {name: [slot_execution_id(name, slot) for slot in slots] for name in world.names}
    assert not any(tick_report["errors"] for report in reports for tick_report in report)
    async with opened(world.connection_string, world.registry, world.table, world.queue) as (services, schedules):
        for name, ids in expected.items():
            # Then each (workflow, slot) has exactly one execution, with the slot's id, and the workflow no other
            listed, _ = await services.store.list_executions(GLOBAL_SCOPE, workflow=name, limit=100)
            assert sorted(record.id for record in listed) == sorted(ids), name
            assert all(record.trigger["kind"] == "schedule" for record in listed)
            # And its row counts six runs, the last at 10:05, none skipped
            row = await schedules.get(name)
            assert (row.run_count, row.skipped_count, row.last_run, row.last_execution_id, row.next_run) == (
                6, 0, slots[-1], ids[-1], slots[-1] + timedelta(minutes=1)), name
        # And the race really happened: both processes submitted some of the same slots
        assert submitted[0] & submitted[1], "the two schedulers never submitted the same slot: no race was tested"
        # And when the worker takes every message (the losing process sent some again), each slot runs once
        await world.drain(services)
        all_ids = [eid for ids in expected.values() for eid in ids]
        records = await asyncio.gather(*(services.store.get(GLOBAL_SCOPE, eid, light=True) for eid in all_ids))
        assert [record.status for record in records] == [ExecutionStatus.SUCCESS] * len(all_ids)
        assert [RUNS[eid] for eid in all_ids] == [1] * len(all_ids)


async def test_a_timer_run_killed_mid_submit_then_retried_fires_each_due_slot_once(
    runs: Callable[[int, str], Run],
) -> None:
    # Given 100 hourly workflows whose rows exist (a tick at 11:30 saw them: next run 12:00)
    run = runs(100, "0 * * * *")
    slot = at("2032-02-09T12:00:00")
    ids = {name: slot_execution_id(name, slot) for name in run.names}
    async with opened(run.connection_string, run.registry, run.table, run.queue) as (services, schedules):
        await tick(services, schedules, at("2032-02-09T11:30:00"))
        # When a timer run at 12:00:05 submits the 100 due slots while storage is slow (200 ms per execution
        # created), and its process is SIGKILLed once the first of its executions exists
        victim = run.start([at("2032-02-09T12:00:05")],
                           faults=[{"match": "table.ConduitExecutions.create", "fault": "latency", "latency_ms": 200}])
        first = ids[run.names[0]]  # the first due workflow is fired in the first wave
        deadline = time.monotonic() + PROCESS_TIMEOUT
        while await services.store.get(GLOBAL_SCOPE, first, light=True) is None:
            assert victim.poll() is None, f"the timer run ended before it was killed:\n{victim.communicate()[1]}"
            assert time.monotonic() < deadline, "the timer run never created an execution"
            await asyncio.sleep(0.01)
        victim.send_signal(signal.SIGKILL)
        victim.wait(timeout=PROCESS_TIMEOUT)
        # Then it died mid-submit: some executions exist, not all, and no row was written
        existing = await _existing(services, ids.values())
        assert 0 < len(existing) < len(ids), f"{len(existing)} of {len(ids)} executions existed at the kill"
        rows = [await schedules.get(name) for name in run.names]
        assert {(row.run_count, row.next_run) for row in rows} == {(0, slot)}
        # When the timer runs again (the retried run, in another process) at 12:00:40
        retried = finished(run.start([at("2032-02-09T12:00:40")]))
        # Then it submitted every due slot, and each has exactly one execution, with the slot's id
        assert sorted(retried[0]["fired"] + retried[0]["already_fired"]) == sorted(ids.values())
        for name, execution_id in ids.items():
            listed, _ = await services.store.list_executions(GLOBAL_SCOPE, workflow=name, limit=10)
            assert [record.id for record in listed] == [execution_id], name
            # And each row counts one run, at 12:00, and waits for 13:00
            row = await schedules.get(name)
            assert (row.run_count, row.skipped_count, row.last_run, row.last_execution_id, row.next_run) == (
                1, 0, slot, execution_id, at("2032-02-09T13:00:00")), name
        # And when the worker takes every message, each slot runs once (also those created before the kill, whose
        # messages the killed process may never have sent)
        await run.drain(services)
        records = await asyncio.gather(*(services.store.get(GLOBAL_SCOPE, eid, light=True) for eid in ids.values()))
        assert [record.status for record in records] == [ExecutionStatus.SUCCESS] * len(ids)
        assert [RUNS[eid] for eid in ids.values()] == [1] * len(ids)


async def _existing(services: Services, ids: Iterable[str]) -> list[str]:
    found = await asyncio.gather(*(services.store.get(GLOBAL_SCOPE, eid, light=True) for eid in ids))
    return [record.id for record in found if record is not None]
