"""Stopping a devhost that serves Conduit: a clean exit, with nothing the app opened reported as leaked."""

from __future__ import annotations

import signal

from tests.e2e.conftest import ConduitHosts


async def test_sigterm_stops_cleanly_and_closes_the_sessions_the_app_left_open(conduit_hosts: ConduitHosts) -> None:
    # Given a host whose Conduit runtime has opened its storage clients (health and an execution use them)
    host = await conduit_hosts.start(args=["--grace-period", "5"])
    response = await host.client.post("/api/workflows/echo/execute", json={"input_data": {"message": "bye"}})
    assert response.json()["status"] == "Success"
    # When it is stopped like Ctrl-C
    host.kill(signal.SIGTERM)
    # Then it exits 0 after "Host stopped", and no aiohttp session or connector is reported unclosed
    assert await host.wait() == 0
    log = host.log()
    assert "Host stopped." in log
    assert "Unclosed" not in log, log
