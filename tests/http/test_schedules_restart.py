"""A pause holds across a restart while the timer ticks: paused on one devhost, stopped, another started — the new
host shows it paused, its timer fires the same slot of another workflow but not the paused one, and a resume does
not catch the paused slot up.

Its own module: hosts of another workspace on the same Azurite (another module's) would share the executions queue
and could take this workspace's runs, failing them as "no such workflow".
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ConduitHost, ConduitHosts

FAST_TIMER = {"CONDUIT_SCHEDULER_SCHEDULE": "*/2 * * * * *"}


async def schedule(host: ConduitHost, name: str) -> dict[str, Any]:
    response = await host.client.get(f"/api/schedules/{name}")
    assert response.status_code == 200, response.text
    return dict(response.json())


@pytest.fixture
async def own_hosts(tmp_path: Path, storage_connection_string: str) -> AsyncIterator[ConduitHosts]:
    hosts = ConduitHosts(tmp_path, storage_connection_string)
    try:
        yield hosts
    finally:
        await hosts.stop_all()


PAUSE_WORKSPACE = '''
from shared import workflow


@workflow(name="{paused}", schedule="{expression}")
async def paused_flow(context) -> str:
    return "should not run while paused"


@workflow(name="{control}", schedule="{expression}")
async def control_flow(context) -> str:
    return "ran on time"
'''


async def executions_of(host: ConduitHost, name: str) -> list[dict[str, Any]]:
    response = await host.client.get("/api/workflows/executions", params={"workflow_id": name})
    assert response.status_code == 200, response.text
    return list(response.json()["items"])


async def test_a_pause_survives_a_restart_and_the_timer_does_not_fire_it(own_hosts: ConduitHosts,
                                                                        tmp_path: Path) -> None:
    # Given two workflows with the same schedule, firing once about 12 s from now, on a host ticking every 2 s
    paused, control = f"paused_{uuid.uuid4().hex[:8]}", f"control_{uuid.uuid4().hex[:8]}"
    slot = (datetime.now(UTC) + timedelta(seconds=12)).replace(microsecond=0)
    expression = f"{slot.second} {slot.minute} {slot.hour} * * *"  # daily at that second: one slot in this test
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "flows.py").write_text(PAUSE_WORKSPACE.format(paused=paused, control=control, expression=expression))
    env = {"CONDUIT_WORKSPACE": str(workspace), **FAST_TIMER}
    first = await own_hosts.start(env=env)
    # When an admin pauses one of them, and the host is stopped and another one started
    answer = await first.client.post(f"/api/schedules/{paused}/pause")
    assert answer.status_code == 200 and answer.json()["paused"] is True, answer.text
    assert await first.terminate() == 0
    second = await own_hosts.start(env=env)
    # Then the new host shows it paused
    assert (await schedule(second, paused))["paused"] is True
    # And when the new host's timer fires the slot (the other workflow's run appears and succeeds)
    deadline = time.monotonic() + 40
    while not (ran := await executions_of(second, control)) or ran[0]["status"] != "Success":
        assert time.monotonic() < deadline, (ran, second.log_tail())
        await asyncio.sleep(0.3)
    assert [(item["trigger"], item["status"]) for item in ran] == [("schedule", "Success")]
    # Then the paused one did not run, and nothing was counted for it
    assert await executions_of(second, paused) == []
    state = await schedule(second, paused)
    assert (state["paused"], state["run_count"], state["skipped_count"], state["last_run"]) == (True, 0, 0, None)
    # When it is resumed, Then it is not paused and its next run is tomorrow's (the paused slot is not caught up)
    resumed = await second.client.post(f"/api/schedules/{paused}/resume")
    assert resumed.status_code == 200 and resumed.json()["paused"] is False, resumed.text
    assert resumed.json()["next_run"] == (slot + timedelta(days=1)).strftime("%Y-%m-%dT%H:%M:%SZ")
    # And the host's next ticks do not fire the passed slot either
    await asyncio.sleep(4)
    assert await executions_of(second, paused) == []
    assert (await schedule(second, paused))["run_count"] == 0
