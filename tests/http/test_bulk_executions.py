"""Many executions in one call: `POST /api/workflows/executions/batch` reads summaries, `POST
/api/workflows/executions/cancel` cancels by ids or by a filter — through function_app's functions against Azurite.

Each test acts in organizations of its own (the admin key with `X-Organization-Id`), so a filter matches only what
the test made.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import jwt

from shared.models import ExecutionStatus
from shared.runtime import get_runtime
from tests.http.conftest import ADMIN_KEY, Api

BASE = "http://localhost/api/workflows/executions"
MISSING = "00000000-0000-8000-8000-000000000000"


def org() -> dict[str, str]:
    return {"X-Organization-Id": f"bulk-{uuid.uuid4().hex[:10]}"}


async def batch(api: Api, body: Any, scope: dict[str, str]) -> tuple[int, Any]:
    return await api.call("read_execution_batch", "POST", f"{BASE}/batch", body=body, headers=scope)


async def bulk_cancel(api: Api, body: Any, scope: dict[str, str]) -> tuple[int, Any]:
    return await api.call("cancel_execution_batch", "POST", f"{BASE}/cancel", body=body, headers=scope)


async def pending(api: Api, scope: dict[str, str], workflow: str = "echo_async") -> str:
    """An async execution left Pending (the queue is not drained); a user's token in `scope` replaces the admin
    key."""
    inputs = {"payload": {"n": 1}} if workflow == "echo_async" else {"value": "v"}
    key = None if "Authorization" in scope else ADMIN_KEY
    status, body = await api.execute(workflow, inputs, headers=scope, key=key)
    assert status == 202, body
    return str(body["execution_id"])


async def status_of(api: Api, execution_id: str, scope: dict[str, str]) -> str:
    status, record = await api.execution(execution_id, headers=scope)
    assert status == 200, record
    return str(record["status"])


async def test_batch_answers_each_id_in_order_and_hides_what_is_not_the_callers(api: Api, run_queue) -> None:
    # Given a finished and a pending execution of A, and one of B
    a, b = org(), org()
    status, done = await api.execute("shout", {"text": "hi"}, headers=a)
    assert status == 200, done
    waiting, of_b = await pending(api, a), await pending(api, b)
    # When A asks for them, a missing id, a malformed one and a repeated one
    ids = [waiting, MISSING, done["execution_id"], of_b, "not/an id", waiting]
    status, body = await batch(api, {"ids": ids}, a)
    # Then each is answered in the order asked: A's with their summary, the others exactly as missing ones
    assert status == 200, body
    assert [item["id"] for item in body["items"]] == ids
    first, missing, finished, other, malformed, again = body["items"]
    assert first["status"] == "Pending" and first["workflow_id"] == "echo_async" and first["completed_at"] is None
    assert set(first) == {"id", "status", "workflow_id", "created_at", "started_at", "completed_at", "duration_ms",
                          "error_message"}
    assert finished["status"] == "Success" and finished["workflow_id"] == "shout"
    assert finished["duration_ms"] is not None and finished["completed_at"] is not None
    assert missing == {"id": MISSING, "found": False} and other == {"id": of_b, "found": False}
    assert malformed == {"id": "not/an id", "found": False} and again == first


async def test_batch_takes_one_to_a_hundred_ids(api: Api) -> None:
    a = org()
    # When 101 ids, none, or no list are sent, Then 422 names the field
    for body in ({"ids": [MISSING] * 101}, {"ids": []}, {}):
        status, answer = await batch(api, body, a)
        assert status == 422, answer
        assert [d["field"] for d in answer["error"]["details"]] == ["ids"], answer
    # And 100 ids are answered
    status, answer = await batch(api, {"ids": [MISSING] * 100}, a)
    assert status == 200 and len(answer["items"]) == 100


async def test_cancel_by_ids_says_what_became_of_each(api: Api) -> None:
    # Given a pending and a finished execution of A, and a pending one of B
    a, b = org(), org()
    waiting = await pending(api, a)
    _, done = await api.execute("shout", {"text": "hi"}, headers=a)
    of_b = await pending(api, b)
    # When A cancels them and an unknown id
    status, body = await bulk_cancel(api, {"ids": [waiting, done["execution_id"], MISSING, of_b]}, a)
    # Then the pending one is Cancelled, the finished one already finished, the others not found
    assert status == 200, body
    assert [(item["outcome"], item["status"]) for item in body["items"]] == [
        ("cancelled", "Cancelled"), ("already_finished", "Success"), ("not_found", None), ("not_found", None)]
    assert body["counts"] == {"cancelled": 1, "cancelling": 0, "already_finished": 1, "not_found": 2,
                              "conflict": 0}
    # And the records say so; B's execution still waits to run
    assert await status_of(api, waiting, a) == "Cancelled"
    assert await status_of(api, of_b, b) == "Pending"


async def test_cancel_by_filter_counts_first_then_cancels_at_most_the_limit(api: Api) -> None:
    # Given three pending echo_async runs and a pending `later` run in A, and a pending echo_async run in B
    a, b = org(), org()
    runs = [await pending(api, a) for _ in range(3)]
    other_workflow, of_b = await pending(api, a, "later"), await pending(api, b)
    query = {"filter": {"workflow_id": "echo_async", "status": "Pending"}, "limit": 2}
    # When A asks for a dry run
    status, dry = await bulk_cancel(api, query | {"dry_run": True}, a)
    # Then it names the two newest matches and changes nothing
    assert status == 200, dry
    assert dry == {"matched": 2, "limit": 2, "ids": sorted(runs)[:2]}
    assert [await status_of(api, run, a) for run in runs] == ["Pending"] * 3
    # When it cancels for real
    status, body = await bulk_cancel(api, query, a)
    # Then those two are Cancelled, and nothing else: not the third, not the other workflow, not B's
    assert status == 200, body
    assert body["matched"] == 2 and body["counts"]["cancelled"] == 2
    assert [item["id"] for item in body["items"]] == dry["ids"]
    newest_two, oldest = sorted(runs)[:2], sorted(runs)[2]  # ids sort newest first
    assert [await status_of(api, run, a) for run in newest_two] == ["Cancelled"] * 2
    assert await status_of(api, oldest, a) == "Pending"
    assert await status_of(api, other_workflow, a) == "Pending"
    assert await status_of(api, of_b, b) == "Pending"
    # And a filter with no status takes what is left of A's active executions
    status, rest = await bulk_cancel(api, {"filter": {}}, a)
    assert status == 200 and rest["matched"] == 2 and rest["counts"]["cancelled"] == 2, rest
    assert await status_of(api, of_b, b) == "Pending"


async def test_cancel_takes_ids_or_a_filter_and_only_active_statuses(api: Api) -> None:
    a = org()
    # When both, neither, a finished status, 501 as a limit or 101 ids are sent, Then 422 names the field
    cases = [
        ({"ids": [MISSING], "filter": {}}, "ids"),
        ({}, "ids"),
        ({"filter": {"status": "Success"}}, "filter.status"),
        ({"filter": {}, "limit": 501}, "limit"),
        ({"ids": [MISSING] * 101}, "ids"),
    ]
    for body, field in cases:
        status, answer = await bulk_cancel(api, body, a)
        assert status == 422, (body, answer)
        assert field in [d["field"] for d in answer["error"]["details"]], answer


async def test_a_user_cancels_by_filter_only_its_own(api: Api, monkeypatch) -> None:
    # Given two users of one organization, each with a pending run
    monkeypatch.setenv("CONDUIT_JWT_SECRET", SECRET)
    monkeypatch.setenv("CONDUIT_JWT_ISSUER", ISSUER)
    monkeypatch.setenv("CONDUIT_JWT_AUDIENCE", AUDIENCE)
    org_id = f"bulk-{uuid.uuid4().hex[:10]}"
    status, made = await api.call("create_organization", "POST", "http://localhost/api/organizations",
                                  body={"id": org_id, "name": org_id.upper()})
    assert status == 201, made
    alice, albert = user("alice", org_id), user("albert", org_id)
    hers, his = await pending(api, alice), await pending(api, albert)
    # When alice reads both and cancels every active run a filter matches
    status, read = await api.call("read_execution_batch", "POST", f"{BASE}/batch", body={"ids": [hers, his]},
                                  headers=alice, key=None)
    assert status == 200, read
    status, body = await api.call("cancel_execution_batch", "POST", f"{BASE}/cancel", body={"filter": {}},
                                  headers=alice, key=None)
    # Then she sees and cancels hers only; his answers as missing and still waits to run
    assert read["items"][0]["status"] == "Pending" and read["items"][1] == {"id": his, "found": False}
    assert status == 200 and body["matched"] == 1, body
    assert [(item["id"], item["outcome"]) for item in body["items"]] == [(hers, "cancelled")]
    assert await status_of(api, his, {"X-Organization-Id": org_id}) == "Pending"


SECRET = "bulk-jwt-secret-of-at-least-32-bytes!!"
ISSUER, AUDIENCE = "https://issuer.bulk.test", "conduit-bulk"


def user(name: str, org_id: str) -> dict[str, str]:
    now = int(time.time())
    claims = {"sub": name, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600, "roles": ["OrgUser"],
              "email": f"{name}@example.com", "org_id": org_id}
    return {"Authorization": f"Bearer {jwt.encode(claims, SECRET, algorithm='HS256')}"}


async def test_running_goes_cancelling_and_waiting_ends_cancelled(api: Api) -> None:
    # Given a run a worker has taken (Running) and one paused for an event (Waiting), as their records stand
    a = org()
    scope = a["X-Organization-Id"]
    store = (await get_runtime()).store
    running, paused = await pending(api, a), await pending(api, a)
    for execution_id, status in ((running, ExecutionStatus.RUNNING), (paused, ExecutionStatus.WAITING)):
        record = await store.get(scope, execution_id)
        assert record is not None
        await store.update(record, status=status)
    # When a dry run asks for the Running ones, Then it names only that one
    status, dry = await bulk_cancel(api, {"filter": {"status": "Running"}, "dry_run": True}, a)
    assert status == 200 and dry["ids"] == [running], dry
    # When both are cancelled by id
    status, body = await bulk_cancel(api, {"ids": [running, paused]}, a)
    # Then the Running one is asked to stop (Cancelling: its worker ends it) and the Waiting one ends Cancelled
    assert status == 200, body
    assert [(item["outcome"], item["status"]) for item in body["items"]] == [
        ("cancelling", "Cancelling"), ("cancelled", "Cancelled")]
    assert [await status_of(api, run, a) for run in (running, paused)] == ["Cancelling", "Cancelled"]
