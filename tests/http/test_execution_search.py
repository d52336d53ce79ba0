"""Finding executions: list filters (created and started between two times, caller, trigger kind, text in the error)
across pages, log search, and a workflow's stats — in an organization of each test's own, over function_app's HTTP
functions against the test Azurite."""

from __future__ import annotations

import asyncio
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

from tests.http.conftest import Api

BASE = "http://localhost/api"


async def new_org(api: Api) -> dict[str, str]:
    """A fresh organization, and the platform admin's headers acting in it."""
    org = f"se-{uuid.uuid4().hex[:10]}"
    status, body = await api.call("create_organization", "POST", f"{BASE}/organizations",
                                  body={"id": org, "name": org.upper()})
    assert status == 201, body
    return {"X-Organization-Id": org}


async def run(api: Api, headers: dict[str, str], name: str, **inputs: Any) -> str:
    status, body = await api.execute(name, inputs, headers=headers)
    assert status == 200, body
    return str(body["execution_id"])


async def listing(api: Api, headers: dict[str, str], **params: Any) -> list[str]:
    """Every id the list answers with `params`, following continuation tokens, pages of 2."""
    ids: list[str] = []
    token = None
    for _ in range(50):
        query = {"limit": "2", **{k: str(v) for k, v in params.items()}}
        if token:
            query["continuation_token"] = token
        status, body = await api.call("list_execution_page", "GET", f"{BASE}/workflows/executions",
                                      params=query, headers=headers)
        assert status == 200, body
        ids += [item["id"] for item in body["items"]]
        token = body["continuation_token"]
        if token is None:
            return ids
    raise AssertionError("the list never ended")


def stamp(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


async def test_created_and_started_windows_trigger_kind_and_error_text_filter_across_pages(api: Api) -> None:
    # Given executions made in two batches a moment apart, some refused with distinct reasons
    headers = await new_org(api)
    first = [await run(api, headers, "echo_any", payload=n) for n in range(3)]
    await asyncio.sleep(0.05)
    middle = datetime.now(UTC)
    await asyncio.sleep(0.05)
    second = [await run(api, headers, "echo_any", payload=n) for n in range(3)]
    refused = [await run(api, headers, "refuse", reason=f"quota exceeded {n}") for n in range(3)]
    await run(api, headers, "refuse", reason="something else")
    # Then created_after / created_before split them at the moment between the batches, across pages
    newer = await listing(api, headers, created_after=stamp(middle), workflow_id="echo_any")
    older = await listing(api, headers, created_before=stamp(middle), workflow_id="echo_any")
    assert newer == list(reversed(second)) and older == list(reversed(first))
    # And started_after does the same on the start time
    assert set(await listing(api, headers, started_after=stamp(middle), workflow_id="echo_any")) == set(second)
    # And the trigger kind is filtered (every one here came over HTTP's execute route)
    assert len(await listing(api, headers, trigger="http")) == 10
    assert await listing(api, headers, trigger="schedule") == []
    # And q finds text in the error message, case-insensitively, across pages
    assert await listing(api, headers, q="QUOTA exceeded") == list(reversed(refused))


async def test_a_user_who_is_no_admin_filters_by_caller_only_to_see_their_own(api: Api) -> None:
    headers = await new_org(api)
    mine = await run(api, headers, "echo_any", payload=[1])
    # The platform admin's own executions are `admin_key:admin`
    assert await listing(api, headers, caller="admin_key:admin") == [mine]
    assert await listing(api, headers, caller="user:someone-else") == []


async def test_malformed_filters_are_named_in_one_422(api: Api) -> None:
    status, body = await api.call("list_execution_page", "GET", f"{BASE}/workflows/executions",
                                  params={"created_after": "yesterday", "started_before": "2026-01-01T00:00:00",
                                          "q": "x" * 201})
    assert status == 422
    fields = {d["field"] for d in body["error"]["details"]}
    assert {"created_after", "started_before", "q"} <= fields


async def test_log_search_finds_lines_by_text(api: Api) -> None:
    headers = await new_org(api)
    execution_id = await run(api, headers, "many_logs", lines=1200)
    status, body = await api.logs(execution_id, params={"q": "LINE 0101"}, headers=headers)
    assert status == 200, body
    assert [line["message"] for line in body["items"]] == ["line 01010", "line 01011", "line 01012",
                                                           "line 01013", "line 01014", "line 01015",
                                                           "line 01016", "line 01017", "line 01018", "line 01019"]


async def test_stats_count_by_status_with_duration_percentiles(api: Api) -> None:
    # Given 4 successes and 2 failures of workflows in a fresh organization
    headers = await new_org(api)
    before = datetime.now(UTC) - timedelta(seconds=1)
    for n in range(4):
        await run(api, headers, "echo_any", payload=n)
    for n in range(2):
        await run(api, headers, "refuse", reason=str(n))
    # When the echo's stats are asked for since before they ran
    status, stats = await api.call("get_workflow_stats", "GET", f"{BASE}/workflows/echo_any/stats",
                                   route={"name": "echo_any"}, params={"since": stamp(before)}, headers=headers)
    # Then they count its 4 successes, with durations
    assert status == 200, stats
    assert stats["total"] == 4 and stats["by_status"]["Success"] == 4 and stats["by_status"]["Failed"] == 0
    assert stats["duration_ms"]["count"] == 4 and stats["duration_ms"]["p50"] is not None
    assert stats["duration_ms"]["p50"] <= stats["duration_ms"]["p95"] <= stats["duration_ms"]["max"]
    assert stats["truncated"] is False
    status, refused = await api.call("get_workflow_stats", "GET", f"{BASE}/workflows/refuse/stats",
                                     route={"name": "refuse"}, headers=headers)
    assert status == 200 and refused["by_status"]["Failed"] == 2
    # And a window further back than 31 days is refused
    status, body = await api.call("get_workflow_stats", "GET", f"{BASE}/workflows/refuse/stats",
                                  route={"name": "refuse"}, params={"since": "2020-01-01T00:00:00Z"},
                                  headers=headers)
    assert status == 422 and body["error"]["details"][0]["field"] == "since"


async def test_text_search_pages_stop_at_their_scan_bound_but_never_lose_an_item(api: Api, monkeypatch: Any) -> None:
    from shared.storage import listing as listing_module

    # Given a scan bound of 3 rows per page and matches spread among other executions
    monkeypatch.setattr(listing_module, "MAX_TEXT_SCAN", 3)
    headers = await new_org(api)
    matches = []
    for n in range(3):
        matches.append(await run(api, headers, "refuse", reason=f"needle {n}"))
        for m in range(3):
            await run(api, headers, "echo_any", payload=[n, m])
    # When pages of text matches are followed to the end
    found, pages, short_with_token = [], 0, 0
    token = None
    while True:
        params = {"q": "needle", "limit": "2", **({"continuation_token": token} if token else {})}
        status, body = await api.call("list_execution_page", "GET", f"{BASE}/workflows/executions",
                                      params=params, headers=headers)
        assert status == 200, body
        pages += 1
        found += [item["id"] for item in body["items"]]
        token = body["continuation_token"]
        short_with_token += int(len(body["items"]) < 2 and token is not None)
        if token is None:
            break
    # Then every match is found once, and the short pages said there was more
    assert found == list(reversed(matches)) and short_with_token >= 1 and pages > 2


async def test_every_execution_records_the_code_version_it_ran(api: Api, run_queue: Any, monkeypatch: Any) -> None:
    # Given a deployment whose code version is set
    monkeypatch.setenv("CONDUIT_CODE_VERSION", "deploy-2026-12-02.1")
    headers = await new_org(api)
    sync_id = await run(api, headers, "echo_any", payload=[1])
    status, queued = await api.execute("echo_async", {"payload": 1}, headers=headers)
    assert status == 202
    # When the queued one is run by a host deployed later
    monkeypatch.setenv("CONDUIT_CODE_VERSION", "deploy-2026-12-02.2")
    await run_queue()
    # Then each record, and the list, name the version that ran it
    _, sync_record = await api.execution(sync_id, headers=headers)
    _, queued_record = await api.execution(queued["execution_id"], headers=headers)
    assert sync_record["code_version"] == "deploy-2026-12-02.1"
    assert queued_record["code_version"] == "deploy-2026-12-02.2" and queued_record["status"] == "Success"
    status, page = await api.call("list_execution_page", "GET", f"{BASE}/workflows/executions", headers=headers)
    assert {item["code_version"] for item in page["items"]} == {"deploy-2026-12-02.1", "deploy-2026-12-02.2"}
