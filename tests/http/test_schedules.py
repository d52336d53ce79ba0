"""/api/schedules over HTTP through real devhost processes: the listing (expression, time zone, next five runs, last
run and its status, counts, policies), the admin's run-now, pause and resume, who may call what. (A pause across a
restart: test_schedules_restart.py.)

The module's host serves tests/http/schedules_workspace with its scheduler timer off, so only the tests' own calls
touch those schedules.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import pytest

from tests.e2e.conftest import ConduitHost, ConduitHosts

WORKSPACE = Path(__file__).resolve().parent / "schedules_workspace"
TIMER_OFF = {"AzureWebJobs.fire_schedules.Disabled": "true"}
AMSTERDAM = ZoneInfo("Europe/Amsterdam")


@pytest.fixture(scope="module")
async def host(tmp_path_factory: pytest.TempPathFactory, storage_connection_string: str) -> AsyncIterator[
        ConduitHost]:
    hosts = ConduitHosts(tmp_path_factory.mktemp("schedules-hosts"), storage_connection_string)
    try:
        yield await hosts.start(env={"CONDUIT_WORKSPACE": str(WORKSPACE), **TIMER_OFF})
    finally:
        await hosts.stop_all()


def nine_in_amsterdam(after: datetime, count: int) -> list[str]:
    """The next `count` 09:00 wall-clock times in Amsterdam after `after`, in UTC — computed with zoneinfo alone,
    independently of the cron library the app uses."""
    day = after.astimezone(AMSTERDAM).date()
    found: list[str] = []
    while len(found) < count:
        moment = datetime(day.year, day.month, day.day, 9, tzinfo=AMSTERDAM).astimezone(UTC)
        if moment > after:
            found.append(moment.strftime("%Y-%m-%dT%H:%M:%SZ"))
        day += timedelta(days=1)
    return found


def error_code(response: httpx.Response) -> str:
    return str(response.json()["error"]["code"])


async def schedule(host: ConduitHost, name: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    response = await host.client.get(f"/api/schedules/{name}", headers=headers)
    assert response.status_code == 200, response.text
    return dict(response.json())


async def finished(host: ConduitHost, execution_id: str, timeout: float = 30.0) -> dict[str, Any]:
    """The execution once it has left Pending/Running (polled; the host's queue worker runs it)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await host.client.get(f"/api/workflows/executions/{execution_id}")
        if response.status_code == 200 and response.json()["status"] not in ("Pending", "Running"):
            return dict(response.json())
        assert time.monotonic() < deadline, response.text
        await asyncio.sleep(0.2)


async def test_the_listing_shows_each_scheduled_workflow_with_its_next_runs_and_policies(host: ConduitHost) -> None:
    # When an admin lists the schedules
    before = datetime.now(UTC)
    response = await host.client.get("/api/schedules")
    after = datetime.now(UTC)
    # Then each scheduled workflow is listed by name, and the one without a schedule is not
    assert response.status_code == 200, response.text
    items = {item["workflow"]: item for item in response.json()["items"]}
    assert set(items) == {"amsterdam_report", "weekday_cleanup"}
    # And the time-zone one shows its next five runs at 09:00 Amsterdam time: 08:00Z in winter, 07:00Z in summer
    report = items["amsterdam_report"]
    assert report["next_runs"] in (nine_in_amsterdam(before, 5), nine_in_amsterdam(after, 5)), report
    assert {run[11:16] for run in report["next_runs"]} <= {"07:00", "08:00"}
    assert report["next_run"] == report["next_runs"][0]
    # And its expression, time zone, inputs and policies as decorated
    assert {k: report[k] for k in ("expression", "timezone", "inputs", "catch_up", "max_catch_up", "grace_seconds",
                                   "overlap", "paused")} == {
        "expression": "0 9 * * *", "timezone": "Europe/Amsterdam", "inputs": {"region": "eu"}, "catch_up": "all",
        "max_catch_up": 3, "grace_seconds": 300, "overlap": "allow", "paused": False}
    # And the one with every default is in UTC with the default policies, never run, nothing counted
    cleanup = items["weekday_cleanup"]
    assert {k: cleanup[k] for k in ("expression", "timezone", "catch_up", "max_catch_up", "grace_seconds",
                                    "overlap", "inputs", "last_run", "last_execution_id", "last_status",
                                    "run_count", "skipped_count", "last_error")} == {
        "expression": "30 2 * * 1-5", "timezone": "UTC", "catch_up": "latest", "max_catch_up": 10,
        "grace_seconds": 120, "overlap": "skip", "inputs": {}, "last_run": None, "last_execution_id": None,
        "last_status": None, "run_count": 0, "skipped_count": 0, "last_error": None}
    runs = [datetime.fromisoformat(run) for run in cleanup["next_runs"]]
    assert len(runs) == 5 and all(run.strftime("%H:%M") == "02:30" and run.weekday() < 5 for run in runs)
    # And one schedule alone reads as it is listed
    assert await schedule(host, "weekday_cleanup") | {"next_runs": None, "next_run": None} == \
        cleanup | {"next_runs": None, "next_run": None}


async def test_trigger_runs_the_workflow_now_as_a_scheduled_run_and_the_listing_shows_it(host: ConduitHost) -> None:
    # Given the schedule as it stands
    runs_before = (await schedule(host, "amsterdam_report"))["run_count"]
    # When an admin triggers it
    response = await host.client.post("/api/schedules/amsterdam_report/trigger")
    # Then it is accepted with the execution's id and where to find it
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]
    assert response.json()["status"] == "Pending"
    assert response.headers["Location"] == f"/api/workflows/executions/{execution_id}"
    # And the execution runs on the host to Success, with the schedule's inputs and a "schedule" trigger
    record = await finished(host, execution_id)
    assert record["status"] == "Success", record
    assert record["output_data"] == {"region": "eu", "days": 1, "trigger": "schedule"}
    assert record["trigger"]["kind"] == "schedule" and record["trigger"]["manual"] is True, record["trigger"]
    assert record["trigger"]["triggered_by"] == "admin" and record["trigger"]["scheduled_for"]
    assert record["scope"] == "GLOBAL"
    # And the schedule now shows that run: its id, its status, one more run
    after = await schedule(host, "amsterdam_report")
    assert (after["last_execution_id"], after["last_status"], after["run_count"]) == \
        (execution_id, "Success", runs_before + 1)
    assert datetime.fromisoformat(after["last_run"]) == datetime.fromisoformat(record["trigger"]["scheduled_for"])
    # And the executions listing shows it with its trigger
    listed = (await host.client.get("/api/workflows/executions", params={"workflow_id": "amsterdam_report"})).json()
    assert {"id": execution_id, "trigger": "schedule", "status": "Success"}.items() <= \
        next(item for item in listed["items"] if item["id"] == execution_id).items()


async def test_pause_and_resume_answer_the_schedule_and_are_idempotent(host: ConduitHost) -> None:
    # When an admin pauses a schedule (twice)
    first = await host.client.post("/api/schedules/weekday_cleanup/pause")
    second = await host.client.post("/api/schedules/weekday_cleanup/pause")
    # Then both answer 200 with the schedule paused, which lists no upcoming runs
    for response in (first, second):
        assert response.status_code == 200, response.text
        assert (response.json()["paused"], response.json()["next_runs"], response.json()["next_run"]) == \
            (True, [], None)
    assert (await schedule(host, "weekday_cleanup"))["paused"] is True
    # When it is resumed (twice), Then it is not paused and lists its next five runs again
    for _ in range(2):
        resumed = await host.client.post("/api/schedules/weekday_cleanup/resume")
        assert resumed.status_code == 200, resumed.text
        assert resumed.json()["paused"] is False and len(resumed.json()["next_runs"]) == 5
    assert (await schedule(host, "weekday_cleanup"))["paused"] is False


async def test_only_platform_admins_trigger_pause_or_resume(host: ConduitHost) -> None:
    # Given an organization's API key, and no credentials at all
    org = f"sch-{uuid.uuid4().hex[:8]}"
    assert (await host.client.post("/api/organizations", json={"id": org, "name": org})).status_code == 201
    made = await host.client.post("/api/keys", json={"name": "user key", "org_id": org})
    assert made.status_code == 201, made.text
    as_user = {"x-api-key": made.json()["secret"]}
    for action in ("trigger", "pause", "resume"):
        path = f"/api/schedules/amsterdam_report/{action}"
        # When they call an admin route, Then 403 (forbidden) for the key and 401 without credentials
        refused = await host.client.post(path, headers=as_user)
        assert (refused.status_code, error_code(refused)) == (403, "forbidden"), refused.text
        async with httpx.AsyncClient(base_url=host.base_url) as anonymous:
            assert (await anonymous.post(path)).status_code == 401
    # And nothing changed: not paused, no run added by them
    assert (await schedule(host, "amsterdam_report"))["paused"] is False
    # But the key lists and reads the schedules (it may run every workflow)
    listed = (await host.client.get("/api/schedules", headers=as_user)).json()["items"]
    assert {item["workflow"] for item in listed} == {"amsterdam_report", "weekday_cleanup"}


async def test_a_caller_sees_the_schedules_of_the_workflows_it_may_run_only(host: ConduitHost) -> None:
    # Given an API key limited to one scheduled workflow
    made = await host.client.post("/api/keys", json={"name": "cleanup only", "workflows": ["weekday_cleanup"]})
    assert made.status_code == 201, made.text
    limited = {"x-api-key": made.json()["secret"]}
    # When it lists the schedules, Then only that workflow's is listed
    listed = (await host.client.get("/api/schedules", headers=limited)).json()["items"]
    assert [item["workflow"] for item in listed] == ["weekday_cleanup"]
    # And the other one answers as if it did not exist, as does a workflow it may not run that has no schedule
    for name in ("amsterdam_report", "unscheduled_flow"):
        hidden = await host.client.get(f"/api/schedules/{name}", headers=limited)
        assert (hidden.status_code, error_code(hidden)) == (404, "workflow_not_found"), hidden.text
    assert (await schedule(host, "weekday_cleanup", limited))["workflow"] == "weekday_cleanup"


@pytest.mark.parametrize(("name", "code"), [("no_such_workflow", "workflow_not_found"),
                                            ("unscheduled_flow", "schedule_not_found")])
async def test_unknown_workflows_and_workflows_without_a_schedule_are_404(host: ConduitHost, name: str,
                                                                          code: str) -> None:
    # When an admin reads, triggers, pauses or resumes the schedule of an unknown or unscheduled workflow
    calls = [host.client.get(f"/api/schedules/{name}")]
    calls += [host.client.post(f"/api/schedules/{name}/{action}") for action in ("trigger", "pause", "resume")]
    # Then each is 404 with the code that says which
    for response in await asyncio.gather(*calls):
        assert (response.status_code, error_code(response)) == (404, code), response.text
        assert name in response.json()["error"]["message"]
    # And nothing was run: no execution of it exists
    listed = (await host.client.get("/api/workflows/executions", params={"workflow_id": name})).json()
    assert listed["items"] == []


async def test_a_trigger_with_a_body_is_refused_naming_the_field_and_runs_nothing(host: ConduitHost) -> None:
    # When an admin sends input with a trigger (the run's input is the schedule's schedule_inputs)
    before = await schedule(host, "weekday_cleanup")
    response = await host.client.post("/api/schedules/weekday_cleanup/trigger", json={"input_data": {"days": 3}})
    # Then it is 422 naming input_data, and nothing ran
    assert response.status_code == 422, response.text
    assert [error["field"] for error in response.json()["error"]["details"]] == ["input_data"]
    assert (await schedule(host, "weekday_cleanup"))["run_count"] == before["run_count"]
