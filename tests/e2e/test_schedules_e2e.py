"""A schedule fires on devhost: a workflow scheduled a few seconds ahead runs once for its slot, with the trigger
{"kind": "schedule", "scheduled_for": <slot>}, although two hosts on one Azurite tick every 2 s and race for it.

The workspace is written when the module starts: one workflow whose six-field schedule fires daily at a second
about 15 s away (so this run sees exactly one slot), served by two hosts started together. The hosts have different
host ids: hosts of one app share each timer slot (devhost claims it, as the Functions host's singleton lock does),
so only hosts whose timers are not coordinated — a retried or overlapping timer run, a lost lock — tick at the same
instant and truly race for the slot.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from shared.models import slot_execution_id
from tests.e2e.conftest import ConduitHost, ConduitHosts

LEAD = timedelta(seconds=15)  # time for two hosts to start before the slot, on a busy machine
FLOW = '''
from shared import workflow


@workflow(name="{name}", schedule="{expression}", schedule_inputs={{"greeting": "good morning"}})
async def scheduled_greeting(context, greeting: str, times: int = 1) -> dict:
    return {{"greeting": greeting, "times": times, "scheduled_for": context.trigger.get("scheduled_for")}}
'''


@dataclass
class Scheduled:
    name: str
    slot: datetime
    hosts: list[ConduitHost]

    @property
    def slot_text(self) -> str:
        return self.slot.strftime("%Y-%m-%dT%H:%M:%SZ")


@pytest.fixture(scope="module")
async def scheduled(conduit_hosts_module: ConduitHosts, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[
        Scheduled]:
    name = f"greeting_{uuid.uuid4().hex[:8]}"
    slot = (datetime.now(UTC) + LEAD).replace(microsecond=0)
    workspace = tmp_path_factory.mktemp("schedules-workspace")
    expression = f"{slot.second} {slot.minute} {slot.hour} * * *"  # six fields: daily, at the slot's second
    (workspace / "greeting.py").write_text(FLOW.format(name=name, expression=expression))
    env = {"CONDUIT_WORKSPACE": str(workspace), "CONDUIT_SCHEDULER_SCHEDULE": "*/2 * * * * *"}
    other_app = {"AzureFunctionsWebHost__hostid": f"e2e-other-{uuid.uuid4().hex[:8]}"}  # its own timer claims
    hosts = list(await asyncio.gather(conduit_hosts_module.start(env=env),
                                      conduit_hosts_module.start(env=env | other_app)))
    assert datetime.now(UTC) < slot, "the hosts started after the slot: the race this module is about did not happen"
    yield Scheduled(name, slot, hosts)


async def executions(host: ConduitHost, name: str) -> list[dict[str, Any]]:
    response = await host.client.get("/api/workflows/executions", params={"workflow_id": name})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_scheduled_execution_appears_with_its_trigger_and_succeeds(scheduled: Scheduled) -> None:
    host = scheduled.hosts[0]
    # When the slot comes, Then an execution with trigger kind "schedule" appears and reaches Success
    deadline = time.monotonic() + LEAD.total_seconds() + 30
    while not (items := [i for i in await executions(host, scheduled.name) if i["trigger"] == "schedule"]) \
            or items[0]["status"] != "Success":
        assert time.monotonic() < deadline, (items, host.log_tail())
        await asyncio.sleep(0.3)
    record = (await host.client.get(f"/api/workflows/executions/{items[0]['id']}")).json()
    # And it is the slot's execution: its id derived from the slot, the trigger naming the slot, run as the system
    assert record["id"] == slot_execution_id(scheduled.name, scheduled.slot)
    assert record["trigger"] | {"mode": None} == {"kind": "schedule", "scheduled_for": scheduled.slot_text,
                                                  "mode": None}
    assert record["caller"]["kind"] == "system" and record["scope"] == "GLOBAL", record["caller"]
    # And the workflow received its schedule_inputs over its defaults, and the slot as its trigger
    assert record["output_data"] == {"greeting": "good morning", "times": 1, "scheduled_for": scheduled.slot_text}
    # And GET /api/schedules shows the run: count 1, its id and status, the slot as the last run, tomorrow next
    listed = {i["workflow"]: i for i in (await host.client.get("/api/schedules")).json()["items"]}[scheduled.name]
    tomorrow = (scheduled.slot + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    assert {k: listed[k] for k in ("run_count", "skipped_count", "last_execution_id", "last_status", "last_run",
                                   "next_run", "last_error")} == {
        "run_count": 1, "skipped_count": 0, "last_execution_id": record["id"], "last_status": "Success",
        "last_run": scheduled.slot_text, "next_run": tomorrow, "last_error": None}


async def test_two_hosts_ticking_on_one_azurite_run_the_slot_exactly_once(scheduled: Scheduled) -> None:
    # Given both hosts ticking every 2 s through the slot (the previous test waited for its run)
    first, second = scheduled.hosts
    assert all(host.returncode is None for host in scheduled.hosts)
    deadline = time.monotonic() + LEAD.total_seconds() + 30
    while datetime.now(UTC) < scheduled.slot + timedelta(seconds=6):  # three more ticks of each host after it
        assert time.monotonic() < deadline
        await asyncio.sleep(0.5)
    # Then exactly one execution exists for the workflow, the slot's, as both hosts answer
    for host in (first, second):
        items = await executions(host, scheduled.name)
        assert [(i["id"], i["trigger"]) for i in items] == \
            [(slot_execution_id(scheduled.name, scheduled.slot), "schedule")], items
    # And both hosts show one run counted for the schedule
    for host in (first, second):
        listed = {i["workflow"]: i for i in (await host.client.get("/api/schedules")).json()["items"]}
        assert listed[scheduled.name]["run_count"] == 1, listed[scheduled.name]
    # And it ran once: one attempt, although each host that submitted the slot sent its queue message
    record = (await first.client.get(f"/api/workflows/executions/{items[0]['id']}")).json()
    assert (record["status"], record["attempt"]) == ("Success", 1), record
    # And both hosts ticked through the slot (at least 5 ticks each since they started)
    assert all(host.log().count("Executing 'Functions.fire_schedules'") >= 5 for host in (first, second))
