"""The same on Azure as on devhost, end to end in a real devhost process: load errors are on the console at start-up,
and a sync request answers 202 with a Location once CONDUIT_SYNC_WAIT_SECONDS has passed, while the run goes on."""

from __future__ import annotations

import asyncio
import re
import time
from pathlib import Path

import httpx

from tests.e2e.conftest import ConduitHosts

BROKEN = '''
from shared import param, workflow


@workflow(name="broken_param")
@param("missing", required=True)
def broken_param(context) -> None:
    return None
'''

SLOW = '''
import asyncio

from shared import workflow


@workflow(name="slow_sync", execution_mode="sync", timeout_seconds=60)
async def slow_sync(context, seconds: float = 3.0) -> dict:
    await asyncio.sleep(seconds)
    return {"slept": seconds}
'''


async def test_load_errors_on_the_console_and_a_sync_wait_that_answers_202(
    conduit_hosts: ConduitHosts, tmp_path: Path
) -> None:
    # Given a workspace with a module whose @param names an argument its function does not have
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "broken_param.py").write_text(BROKEN)
    (workspace / "slow.py").write_text(SLOW)
    # When a devhost process starts on it (and becomes ready) with a sync wait of 1 s
    host = await conduit_hosts.start(env={"CONDUIT_WORKSPACE": str(workspace), "CONDUIT_SYNC_WAIT_SECONDS": "1"})
    # Then its console shows the load error, one line naming the file and the problem (no admin call needed)
    line = await host.wait_for_log(r".*could not load .*broken_param\.py: .*")
    assert "missing" in line.group(0) and "\n" not in line.group(0)
    # When a sync workflow that takes 3 s is executed
    response = await host.client.post("/api/workflows/slow_sync/execute", json={"input_data": {"seconds": 3}})
    # Then it is answered 202, Running, with the status URL, and the run ends Success there
    assert response.status_code == 202, response.text
    body = response.json()
    assert body["status"] == "Running"
    location = response.headers["Location"]
    assert location == f"/api/workflows/executions/{body['execution_id']}"
    record = await _poll(host.client, location, lambda r: r["status"] not in ("Pending", "Running"))
    assert record["status"] == "Success" and record["output_data"] == {"slept": 3}
    assert not re.search(r"Traceback", host.log()), host.log_tail()


async def _poll(client: httpx.AsyncClient, path: str, done, timeout: float = 30.0) -> dict:
    deadline = time.monotonic() + timeout
    while True:
        record = (await client.get(path)).json()
        if done(record):
            return record
        assert time.monotonic() < deadline, record
        await asyncio.sleep(0.2)


async def test_a_host_without_http_logs_load_errors_at_start_up(conduit_hosts: ConduitHosts, tmp_path: Path) -> None:
    # Given a workspace with a broken module and a queue-only host whose timers are off (nothing calls the app)
    workspace = tmp_path / "workspace"
    workspace.mkdir()
    (workspace / "broken_param.py").write_text(BROKEN)
    timers_off = {f"AzureWebJobs.{name}.Disabled": "true" for name in (
        "recover_executions", "clean_up_executions", "fire_schedules")}
    host = await conduit_hosts.start(http=False, env={"CONDUIT_WORKSPACE": str(workspace), **timers_off})
    # Then devhost loads the app's functions right after start-up and its console shows the load error
    line = await host.wait_for_log(r".*could not load .*broken_param\.py: .*", timeout=20)
    assert "missing" in line.group(0)
