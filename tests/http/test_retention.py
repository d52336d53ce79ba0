"""Retention and deleting executions: the clean-up timer's purge deletes finished executions past their organization's
retention, with every details row and old idempotency keys, and never a live or newer one; `DELETE
/api/workflows/executions/{id}` (admins) deletes one finished execution."""

from __future__ import annotations

import os
import uuid
from dataclasses import replace
from datetime import timedelta
from typing import Any

from azure.data.tables import UpdateMode
from azure.data.tables.aio import TableClient

from shared.executions.durable import rerun
from shared.executions.retention import purge
from shared.models import SYSTEM_CALLER, ExecutionStatus, utc_now
from shared.runtime import get_runtime
from shared.storage.keys import DETAILS_TABLE
from tests.http.conftest import Api

BASE = "http://localhost/api"


async def new_org(api: Api, **fields: Any) -> dict[str, str]:
    org = f"rt-{uuid.uuid4().hex[:10]}"
    status, body = await api.call("create_organization", "POST", f"{BASE}/organizations",
                                  body={"id": org, "name": org.upper(), **fields})
    assert status == 201, body
    return {"X-Organization-Id": org}


async def details_rows(connection: str, execution_id: str) -> int:
    async with TableClient.from_connection_string(connection, DETAILS_TABLE) as table:
        return len([row async for row in table.query_entities("PartitionKey eq @pk",
                                                              parameters={"pk": execution_id})])


async def test_the_purge_deletes_finished_executions_past_retention_with_their_rows_and_nothing_live(
        api: Api, storage_connection_string: str) -> None:
    # Given an organization keeping executions 1 day, one finished run with logs and steps, and one still Pending
    headers = await new_org(api, retention_days=1)
    org = headers["X-Organization-Id"]
    status, done = await api.execute("many_logs", {"lines": 700}, headers=headers)
    assert status == 200
    status, pending = await api.execute("echo_async", {"payload": 1}, headers=headers)
    assert status == 202
    assert await details_rows(storage_connection_string, done["execution_id"]) > 0
    runtime = await get_runtime()
    # When the purge runs "now" — within the day: nothing goes
    report = await purge(runtime, days_of={org: 1}, scopes=[org])
    assert done["execution_id"] not in report.deleted
    # And when it runs two days later
    report = await purge(runtime, now=utc_now() + timedelta(days=2), days_of={org: 1}, scopes=[org])
    # Then the finished run and all its rows are gone, the Pending one is untouched
    assert done["execution_id"] in report.deleted and pending["execution_id"] not in report.deleted
    status, _ = await api.execution(done["execution_id"], headers=headers)
    assert status == 404
    assert await details_rows(storage_connection_string, done["execution_id"]) == 0
    status, still = await api.execution(pending["execution_id"], headers=headers)
    assert status == 200 and still["status"] == "Pending"


async def test_an_organization_that_keeps_everything_is_never_purged(api: Api) -> None:
    headers = await new_org(api, retention_days=0)
    org = headers["X-Organization-Id"]
    _, done = await api.execute("echo_any", {"payload": 1}, headers=headers)
    report = await purge(await get_runtime(), now=utc_now() + timedelta(days=400), days_of={org: 0}, scopes=[org])
    assert done["execution_id"] not in report.deleted


async def test_retention_is_set_per_organization_through_the_api(api: Api) -> None:
    headers = await new_org(api)
    org = headers["X-Organization-Id"]
    status, body = await api.call("get_organization", "PATCH", f"{BASE}/organizations/{org}",
                                  body={"retention_days": 7}, route={"organization_id": org})
    assert status == 200 and body["retention_days"] == 7
    status, body = await api.call("get_organization", "PATCH", f"{BASE}/organizations/{org}",
                                  body={"retention_days": -1}, route={"organization_id": org})
    assert status == 422
    # Less than a day would outlive no idempotency key: 0 (keep everything) or at least 1
    status, body = await api.call("get_organization", "PATCH", f"{BASE}/organizations/{org}",
                                  body={"retention_days": 0.5}, route={"organization_id": org})
    assert status == 422 and "at least 1 day" in body["error"]["details"][0]["message"]
    # And a PUT that does not name it (written before it existed) keeps it
    status, body = await api.call("get_organization", "PUT", f"{BASE}/organizations/{org}",
                                  body={"name": "Renamed"}, route={"organization_id": org})
    assert status == 200 and body["retention_days"] == 7 and body["name"] == "Renamed"


async def test_an_admin_deletes_a_finished_execution_and_not_a_live_one(
        api: Api, storage_connection_string: str) -> None:
    headers = await new_org(api)
    status, done = await api.execute("many_logs", {"lines": 10}, headers=headers)
    status, pending = await api.execute("echo_async", {"payload": 1}, headers=headers)

    async def delete(execution_id: str) -> tuple[int, Any]:
        return await api.call("get_execution_by_id", "DELETE", f"{BASE}/workflows/executions/{execution_id}",
                              route={"execution_id": execution_id}, headers=headers)

    status, body = await delete(pending["execution_id"])
    assert status == 409 and body["error"]["details"]["status"] == "Pending"
    status, _ = await delete(done["execution_id"])
    assert status == 204
    assert (await api.execution(done["execution_id"], headers=headers))[0] == 404
    assert await details_rows(storage_connection_string, done["execution_id"]) == 0
    status, _ = await delete(done["execution_id"])
    assert status == 404


async def test_an_execution_a_live_from_failed_rerun_resumes_is_kept(api: Api) -> None:
    # Given a failed execution whose from_failed-style rerun is still queued (the rerun needs its recorded nodes)
    headers = await new_org(api, retention_days=1)
    org = headers["X-Organization-Id"]
    status, failed = await api.execute("refuse", {"reason": "x"}, headers=headers)
    assert status == 200 and failed["status"] == "Failed"
    runtime = await get_runtime()
    record = await runtime.store.get(org, failed["execution_id"])
    assert record is not None and record.status is ExecutionStatus.FAILED
    caller = replace(SYSTEM_CALLER, scope=org)
    again = await rerun(runtime, caller, record.id)
    # The rerun is a plain one here; mark it as resuming the original, as from_failed does for DAGs
    pending = await runtime.store.get(org, again.execution_id)
    assert pending is not None
    entity = {"PartitionKey": org, "RowKey": pending.id, "ResumeFrom": record.id}
    async with TableClient.from_connection_string(os.environ["AzureWebJobsStorage"], "ConduitExecutions") as table:
        await table.update_entity(entity, mode=UpdateMode.MERGE)
    # When the purge runs past the retention
    report = await purge(runtime, now=utc_now() + timedelta(days=2), days_of={org: 1}, scopes=[org])
    # Then the original is kept while its rerun is live
    assert record.id not in report.deleted
    assert (await api.execution(record.id, headers=headers))[0] == 200
