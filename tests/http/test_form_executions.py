"""`GET /api/workflows/executions?form_id=`: a form's executions, filtered on the server, through function_app."""

from __future__ import annotations

import uuid

import pytest

from shared.errors import InputValidationError
from shared.executions.service import WorkflowCall, submit
from shared.runtime import get_runtime
from tests.http.conftest import Api


async def submit_from_form(org: str, form_id: str, n: int, *, wait: bool) -> str:
    """What a form submission does: the execution service with a form trigger (forms code calls it the same way)."""
    call = WorkflowCall(workflow_name="listed", input_data={"n": n}, organization_id=org, wait=wait,
                        trigger_payload={"kind": "form", "form_id": form_id})
    return (await submit(await get_runtime(), call)).execution_id


async def listed(api: Api, org: str, params: dict[str, str]) -> list[list[dict]]:
    """Every page of the list, following continuation tokens."""
    pages, token = [], None
    while True:
        query = dict(params, **({"continuation_token": token} if token else {}))
        status, body = await api.call("list_execution_page", "GET", "http://x/api/workflows/executions",
                                      params=query, headers={"X-Organization-Id": org})
        assert status == 200, body
        pages.append(body["items"])
        token = body["continuation_token"]
        if not token:
            return pages


def ids(pages: list[list[dict]]) -> list[str]:
    return [item["id"] for page in pages for item in page]


async def test_executions_submitted_through_a_form_are_listed_by_form_id(api: Api, run_queue) -> None:
    # Given, in a fresh organization, sync and async submissions of form `trips`, one of form `leave`,
    # and runs of the same workflow over HTTP
    org, trips = f"org-forms-{uuid.uuid4().hex[:8]}", f"trips-{uuid.uuid4().hex[:6]}"
    headers = {"X-Organization-Id": org}
    submitted = []
    for n in range(5):
        submitted.append(await submit_from_form(org, trips, n, wait=n % 2 == 0))
        await api.execute("listed", {"n": n}, headers=headers)
    leave = await submit_from_form(org, "leave", 9, wait=True)
    # When the form's executions are listed two at a time
    pages = await listed(api, org, {"form_id": trips, "limit": "2"})
    # Then they come in full pages, newest first, and only they: not the other form's, not the HTTP runs
    assert [len(page) for page in pages] == [2, 2, 1]
    assert ids(pages) == list(reversed(submitted))
    assert {item["trigger"] for page in pages for item in page} == {"form"}
    assert ids(await listed(api, org, {"form_id": "leave"})) == [leave]
    # And the filter combines with status and workflow: the async submissions are still queued
    pending = await listed(api, org, {"form_id": trips, "status_filter": "Pending", "workflow_id": "listed"})
    assert ids(pending) == [submitted[3], submitted[1]]
    assert await listed(api, org, {"form_id": trips, "workflow_id": "shout"}) == [[]]
    # And another organization sees none of them
    assert await listed(api, "org-elsewhere", {"form_id": trips}) == [[]]
    await run_queue()
    done = await listed(api, org, {"form_id": trips, "status_filter": "Success"})
    assert sorted(ids(done)) == sorted(submitted)


async def test_a_malformed_form_id_is_422_with_every_other_wrong_parameter(api: Api) -> None:
    # Given a form id that cannot name a form, and a limit out of range / When listing
    status, body = await api.call("list_execution_page", "GET", "http://x/api/workflows/executions",
                                  params={"form_id": "trips/../x", "limit": "500"})
    # Then one 422 names both
    assert status == 422
    details = {d["field"]: d["message"] for d in body["error"]["details"]}
    assert set(details) == {"form_id", "limit"}
    assert details["form_id"] == "is not a form id: it must not contain '/', '\\', '#', '?' or control characters"


@pytest.mark.parametrize(("payload", "message"), [
    ({"kind": "form"}, "is required for a form submission"),
    ({"kind": "form", "form_id": "a#b"}, "is not a form id"),
])
async def test_a_form_submission_must_name_its_form(api: Api, payload: dict, message: str) -> None:
    # Given a form trigger without a usable form id / When it is submitted / Then it is refused before anything runs
    call = WorkflowCall(workflow_name="listed", input_data={"n": 1}, wait=True, trigger_payload=payload)
    with pytest.raises(InputValidationError) as raised:
        await submit(await get_runtime(), call)
    assert [(e.field, e.message[:len(message)]) for e in raised.value.errors] == [("trigger_payload.form_id", message)]
