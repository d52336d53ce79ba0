"""Hostile user code against a real devhost process: the host survives it, counts it, and recycles itself."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from tests.e2e.conftest import ConduitHost, ConduitHosts

WORKSPACE = Path(__file__).resolve().parent / "hostile_workspace"


async def execute(host: ConduitHost, name: str) -> dict:
    response = await host.client.post(f"/api/workflows/{name}/execute", json={"input_data": {}})
    assert response.status_code == 200, response.text
    return response.json()


async def test_sys_exit_and_swallowed_cancellation_leave_the_host_serving(conduit_hosts: ConduitHosts) -> None:
    # Given a real devhost serving hostile workflows
    host = await conduit_hosts.start(env={"CONDUIT_WORKSPACE": str(WORKSPACE), "CONDUIT_ABANDON_GRACE_SECONDS": "0.5"})
    # When a workflow calls sys.exit(3)
    exited = await execute(host, "exits")
    # Then it is Failed with SystemExit and the host still serves
    assert (exited["status"], exited["error_type"]) == ("Failed", "SystemExit")
    assert exited["error_message"] == "SystemExit: 3"
    assert (await execute(host, "quick"))["status"] == "Success"
    # When a workflow swallows its cancellation (timeout 1 s)
    started = time.monotonic()
    stubborn = await execute(host, "stubborn")
    # Then it ends Timeout (the code never stops by itself; the bound is generous, for a busy machine), and health
    # shows its abandoned task
    assert stubborn["status"] == "Timeout" and time.monotonic() - started < 30
    health = (await host.client.get("/api/health")).json()
    assert health["abandoned"] == {"threads": 0, "tasks": 1}
    assert health["status"] == "ok" and host.returncode is None


async def test_past_the_abandoned_threshold_devhost_replaces_itself(conduit_hosts: ConduitHosts) -> None:
    # Given a devhost that recycles at the first abandoned task
    env = {"CONDUIT_WORKSPACE": str(WORKSPACE), "CONDUIT_ABANDON_GRACE_SECONDS": "0.5", "CONDUIT_MAX_ABANDONED": "1"}
    host = await conduit_hosts.start(env=env, args=["--grace-period", "2"])
    pid = host.pid
    # When a workflow's task will not stop
    assert (await execute(host, "stubborn"))["status"] == "Timeout"
    # Then devhost stops gracefully and re-executes itself: same process id, a fresh host that serves again
    await host.wait_for_log(r"Starting the host again \(recycle\)", timeout=30)
    deadline = time.monotonic() + 40
    while True:
        assert host.returncode is None, host.log_tail()
        if host.log().count("Host started") >= 2:
            try:
                health = await host.client.get("/api/health")
                if health.status_code == 200:
                    break
            except Exception:
                pass
        assert time.monotonic() < deadline, host.log_tail()
        await asyncio.sleep(0.2)
    assert host.pid == pid
    assert health.json()["abandoned"] == {"threads": 0, "tasks": 0}
    assert (await execute(host, "quick"))["status"] == "Success"
