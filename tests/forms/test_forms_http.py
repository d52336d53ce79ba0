"""Forms over HTTP through a real devhost process: manage, load options, submit, launch, edit concurrently."""

from __future__ import annotations

import asyncio
import json
import subprocess
import sys
import time
import uuid
from pathlib import Path
from typing import Any

import pytest

from shared.models import ExecutionRecord
from shared.storage.executions import ExecutionStore
from tests.e2e.conftest import ADMIN_KEY, REPO_ROOT, ConduitHost

SCRIPT = REPO_ROOT / "scripts" / "example_form.py"

TRIP_FIELDS = [
    {"name": "traveller", "type": "text", "required": True, "validation": {"min_length": 2}},
    {"name": "region", "type": "select", "required": True, "data_provider": "form_regions"},
    {"name": "town", "type": "select", "required": True, "data_provider": "form_towns",
     "data_provider_inputs": {"region": {"mode": "field_ref", "field": "region"}}},
    {"name": "notes", "type": "textarea", "required": True, "visible_if": {"field": "region", "equals": "de"}},
]


def trip_form(**changes: Any) -> dict[str, Any]:
    return {"id": f"trip-{uuid.uuid4().hex[:8]}", "name": "Book a trip", "linked_workflow": "form_book_trip",
            "fields": TRIP_FIELDS} | changes


async def create(host: ConduitHost, form: dict[str, Any], **headers: str) -> dict[str, Any]:
    response = await host.client.post("/api/forms", json=form, headers=headers)
    assert response.status_code == 201, response.text
    return response.json()


async def record_of(connection_string: str, scope: str, execution_id: str, done: bool = True) -> ExecutionRecord:
    """The execution's record, once it is terminal (when `done`)."""
    async with ExecutionStore.from_connection_string(connection_string) as store:
        deadline = time.monotonic() + 30
        while True:
            record = await store.get(scope, execution_id)
            if record is not None and (not done or record.status.is_terminal):
                return record
            assert time.monotonic() < deadline, f"{execution_id} is still {record and record.status}"
            await asyncio.sleep(0.1)


async def test_create_read_list_delete(forms_host: ConduitHost) -> None:
    # Given an admin creates a form
    response = await forms_host.client.post("/api/forms", json=trip_form())
    # Then it is 201 with its ETag, as stored
    assert response.status_code == 201
    created = response.json()
    assert response.headers["ETag"] == created["etag"] and created["scope"] == "GLOBAL"
    form_id = created["id"]
    # When it is read, Then each field says which fields it depends on, with the same ETag
    read = await forms_host.client.get(f"/api/forms/{form_id}")
    assert read.status_code == 200 and read.headers["ETag"] == created["etag"]
    assert [f["depends_on"] for f in read.json()["fields"]] == [[], [], ["region"], ["region"]]
    # And it is listed
    listed = await forms_host.client.get("/api/forms")
    assert form_id in [item["id"] for item in listed.json()["items"]]
    # When it is deleted, Then it is gone
    assert (await forms_host.client.delete(f"/api/forms/{form_id}")).status_code == 204
    missing = await forms_host.client.get(f"/api/forms/{form_id}")
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "form_not_found"


async def test_a_form_with_problems_is_refused_with_all_of_them_and_not_stored(forms_host: ConduitHost) -> None:
    # Given a form with an unknown workflow field, a select with nothing to choose from and a broken reference
    form = trip_form(fields=[*TRIP_FIELDS[:3],
                             {"name": "extra", "type": "radio"},
                             {"name": "notes", "type": "select", "data_provider": "form_towns",
                              "data_provider_inputs": {"region": {"mode": "field_ref", "field": "nope"}}}])
    # When it is created
    response = await forms_host.client.post("/api/forms", json=form)
    # Then it is 422 naming each problem at its field
    assert response.status_code == 422
    fields = {d["field"] for d in response.json()["error"]["details"]}
    assert fields == {"fields[3].options", "fields[3].name", "fields[4].data_provider_inputs.region.field"}
    # And nothing was stored
    assert (await forms_host.client.get(f"/api/forms/{form['id']}")).status_code == 404


async def test_if_match_keeps_two_admins_from_overwriting_each_other(forms_host: ConduitHost) -> None:
    # Given two admins read the same form
    created = await create(forms_host, trip_form())
    form_id, first_etag = created["id"], created["etag"]
    edit = {k: v for k, v in created.items() if k not in ("scope", "etag")}
    for field in edit["fields"]:
        field.pop("depends_on")
    # When the first saves a new name with the ETag read
    first = await forms_host.client.put(f"/api/forms/{form_id}", json=edit | {"name": "Renamed by one"},
                                        headers={"If-Match": first_etag})
    assert first.status_code == 200 and first.headers["ETag"] != first_etag
    # And the second saves with the same, now stale, ETag
    second = await forms_host.client.put(f"/api/forms/{form_id}", json=edit | {"name": "Renamed by two"},
                                         headers={"If-Match": first_etag})
    # Then the second is 412, and the first's change stands
    assert second.status_code == 412 and second.json()["error"]["code"] == "precondition_failed"
    assert (await forms_host.client.get(f"/api/forms/{form_id}")).json()["name"] == "Renamed by one"
    # And a PUT naming no version is 428, with nothing changed
    blind = await forms_host.client.put(f"/api/forms/{form_id}", json=edit | {"name": "Blind"})
    assert blind.status_code == 428
    assert (await forms_host.client.get(f"/api/forms/{form_id}")).json()["name"] == "Renamed by one"
    # And an If-Match that is no ETag at all (or the real one without W/) is 412 too, for a PUT and a DELETE
    current = first.headers["ETag"]
    for if_match in ("garbage", '"abc"', current.removeprefix("W/")):
        put = await forms_host.client.put(f"/api/forms/{form_id}", json=edit | {"name": "Odd"},
                                          headers={"If-Match": if_match})
        delete = await forms_host.client.delete(f"/api/forms/{form_id}", headers={"If-Match": if_match})
        assert (put.status_code, delete.status_code) == (412, 412), (if_match, put.text, delete.text)
    assert (await forms_host.client.get(f"/api/forms/{form_id}")).json()["name"] == "Renamed by one"


async def test_options_via_field_ref_and_only_from_the_fields_own_provider(forms_host: ConduitHost) -> None:
    # Given the trip form (town's provider input is a field_ref to region)
    form_id = (await create(forms_host, trip_form()))["id"]
    # When town's options are asked for with region de
    response = await forms_host.client.post(f"/api/forms/{form_id}/fields/town/options",
                                            json={"values": {"region": "de"}})
    # Then they are the towns of that region
    assert response.status_code == 200, response.text
    assert [o["value"] for o in response.json()["options"]] == ["berlin", "hamburg"]
    # And a no_cache that is no boolean is 422 naming it
    loose = await forms_host.client.post(f"/api/forms/{form_id}/fields/town/options",
                                         json={"values": {"region": "de"}, "no_cache": "yes"})
    assert loose.status_code == 422 and [d["field"] for d in loose.json()["error"]["details"]] == ["no_cache"]
    # And a field without a provider, or no field at all, is 404
    for field in ("traveller", "no_such_field"):
        answer = await forms_host.client.post(f"/api/forms/{form_id}/fields/{field}/options", json={"values": {}})
        assert answer.status_code == 404 and answer.json()["error"]["code"] == "form_field_not_found"


async def test_options_via_an_expression(forms_host: ConduitHost) -> None:
    # Given a form whose mailbox input is an expression over two other fields
    form = {"id": f"mail-{uuid.uuid4().hex[:8]}", "name": "Mailbox", "linked_workflow": "form_mail", "fields": [
        {"name": "first", "type": "text", "required": True},
        {"name": "last", "type": "text", "required": True},
        {"name": "mailbox", "type": "select", "required": True, "data_provider": "form_mailboxes",
         "data_provider_inputs": {"address": {"mode": "expression",
                                              "expression": "{{ values.first | lower }}.{{ values.last | lower }}"
                                                            "@example.com"}}},
    ]}
    created = await create(forms_host, form)
    assert created["fields"][2]["depends_on"] == ["first", "last"]
    # When its options are asked for
    response = await forms_host.client.post(f"/api/forms/{form['id']}/fields/mailbox/options",
                                            json={"values": {"first": "Ada", "last": "Lovelace"}})
    # Then the provider got the rendered text
    assert [o["value"] for o in response.json()["options"]] == ["ada.lovelace@example.com"]
    # And submitting that option runs the workflow with it
    submitted = await forms_host.client.post(f"/api/forms/{form['id']}/submit", json={"values": {
        "first": "Ada", "last": "Lovelace", "mailbox": "ada.lovelace@example.com"}})
    assert submitted.json()["output_data"] == "ada.lovelace@example.com"


async def test_submit_sync_answers_the_result_and_records_the_form_trigger(
    forms_host: ConduitHost, storage_connection_string: str
) -> None:
    # Given the trip form
    form_id = (await create(forms_host, trip_form()))["id"]
    # When a user submits valid values (region nl: notes are hidden, so not required)
    response = await forms_host.client.post(f"/api/forms/{form_id}/submit", json={"values": {
        "traveller": "Ada", "region": "nl", "town": "leiden", "notes": "kept by the browser"}})
    # Then the linked workflow ran now and answered its result; the hidden field was not submitted
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["status"] == "Success"
    assert body["output_data"] == {"traveller": "Ada", "region": "nl", "town": "leiden", "notes": None,
                                   "scope": "GLOBAL"}
    # And the stored execution says a form ran it
    record = await record_of(storage_connection_string, "GLOBAL", body["execution_id"])
    assert record.trigger == {"kind": "form", "form_id": form_id}
    listed = await forms_host.client.get("/api/workflows/executions", params={"form_id": form_id})
    assert [item["id"] for item in listed.json()["items"]] == [body["execution_id"]], listed.text[:300]


async def test_visible_field_is_required_and_values_are_checked(forms_host: ConduitHost) -> None:
    # Given the trip form, where notes show (and are required) for region de
    form_id = (await create(forms_host, trip_form()))["id"]
    # When a user submits region de without notes, a too-short name, and a field the form lacks
    response = await forms_host.client.post(f"/api/forms/{form_id}/submit", json={"values": {
        "traveller": "A", "region": "de", "town": "berlin", "colour": "red"}})
    # Then every problem is named
    assert response.status_code == 422
    details = {d["field"]: d["message"] for d in response.json()["error"]["details"]}
    assert details == {"values.notes": "is required", "values.traveller": "must have at least 2 characters",
                       "values.colour": "this form has no such field"}


async def test_a_forged_select_value_is_refused(forms_host: ConduitHost) -> None:
    # Given the trip form
    form_id = (await create(forms_host, trip_form()))["id"]
    # When a user submits a town of another region, and a region no provider offers
    response = await forms_host.client.post(f"/api/forms/{form_id}/submit", json={"values": {
        "traveller": "Ada", "region": "nl", "town": "berlin"}})
    forged_region = await forms_host.client.post(f"/api/forms/{form_id}/submit", json={"values": {
        "traveller": "Ada", "region": "fr", "town": "paris"}})
    # Then both are 422 at the field, and nothing ran
    assert response.status_code == 422
    assert response.json()["error"]["details"] == [
        {"field": "values.town", "message": "'berlin' is not one of the field's options"}]
    assert forged_region.status_code == 422
    assert {d["field"] for d in forged_region.json()["error"]["details"]} == {"values.region", "values.town"}
    listed = await forms_host.client.get("/api/workflows/executions", params={"form_id": form_id})
    assert listed.status_code == 200 and listed.json()["items"] == []


async def test_submit_async_answers_202_and_runs_with_the_form_trigger(
    forms_host: ConduitHost, storage_connection_string: str
) -> None:
    # Given a form linked to an async workflow
    form_id = (await create(forms_host, trip_form(linked_workflow="form_book_trip_later")))["id"]
    # When a user submits it
    response = await forms_host.client.post(f"/api/forms/{form_id}/submit", json={"values": {
        "traveller": "Ada", "region": "de", "town": "hamburg", "notes": "window seat"}})
    # Then it is accepted (202, Location) and runs to Success on the queue, recorded as a form's execution
    assert response.status_code == 202, response.text
    execution_id = response.json()["execution_id"]
    assert response.headers["Location"] == f"/api/workflows/executions/{execution_id}"
    record = await record_of(storage_connection_string, "GLOBAL", execution_id)
    assert record.status.value == "Success" and record.output_data == {"traveller": "Ada", "town": "hamburg"}
    assert record.trigger["kind"] == "form" and record.trigger["form_id"] == form_id


async def test_startup_runs_the_launch_workflow_defaults_then_body_then_allowed_query(forms_host: ConduitHost) -> None:
    # Given a form whose launch workflow gets defaults, and may take `source` from the query string
    form = trip_form(launch_workflow="form_prefill", allowed_query_params=["source"],
                     default_launch_params={"traveller": "default", "region": "de", "source": "default"})
    form_id = (await create(forms_host, form))["id"]
    # When it starts with a body and query parameters (one of them not allowed)
    response = await forms_host.client.post(f"/api/forms/{form_id}/startup?source=query&traveller=sneaky",
                                            json={"region": "nl", "source": "body"})
    # Then later sources win: defaults < body < allowed query parameters; others are ignored
    assert response.status_code == 200, response.text
    assert response.json()["output_data"] == {"traveller": "default", "region": "nl", "source": "query"}


async def test_a_global_form_runs_in_the_submitters_scope(
    forms_host: ConduitHost, storage_connection_string: str
) -> None:
    # Given a global form
    form_id = (await create(forms_host, trip_form()))["id"]
    organization = {"X-Organization-Id": f"org-{uuid.uuid4().hex[:6]}"}
    # When someone acting in an organization loads options and submits it
    options = await forms_host.client.post(f"/api/forms/{form_id}/fields/town/options",
                                           json={"values": {"region": "nl"}}, headers=organization)
    response = await forms_host.client.post(f"/api/forms/{form_id}/submit", headers=organization, json={"values": {
        "traveller": "Ada", "region": "nl", "town": "utrecht"}})
    # Then the provider and the workflow ran in that organization, where the execution is recorded
    scope = organization["X-Organization-Id"]
    assert {o["metadata"]["scope"] for o in options.json()["options"]} == {scope}
    assert response.json()["output_data"]["scope"] == scope
    record = await record_of(storage_connection_string, scope, response.json()["execution_id"])
    assert record.trigger == {"kind": "form", "form_id": form_id}


@pytest.mark.parametrize("method", ["PUT", "DELETE"])
async def test_an_organizations_admin_cannot_change_a_global_form_from_the_organization(
    forms_host: ConduitHost, method: str
) -> None:
    # Given a global form
    created = await create(forms_host, trip_form())
    # When an admin acting in an organization changes it
    response = await forms_host.client.request(method, f"/api/forms/{created['id']}", headers={
        "X-Organization-Id": "org-other", "If-Match": "*"},
        json=None if method == "DELETE" else trip_form(id=created["id"]))
    # Then there is no such form in that organization to change
    assert response.status_code == 404


async def test_the_example_command_creates_then_updates_its_form(
    forms_host: ConduitHost, tmp_path: Path
) -> None:
    # Given a form file (the shipped one links to the platform's plan_trip; this one to the test workspace)
    form = trip_form()
    path = tmp_path / "form.json"
    path.write_text(json.dumps(form))
    command = [sys.executable, str(SCRIPT), "--url", forms_host.base_url, "--key", ADMIN_KEY, "--form", str(path)]
    # When the command runs twice (the second time with a changed name)
    first = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    path.write_text(json.dumps(form | {"name": "Book a trip, again"}))
    second = await asyncio.to_thread(subprocess.run, command, capture_output=True, text=True, timeout=60)
    # Then it created the form, then updated it in place
    assert first.returncode == 0 and first.stdout.startswith(f"created form '{form['id']}'"), first.stderr
    assert second.returncode == 0 and second.stdout.startswith(f"updated form '{form['id']}'"), second.stderr
    assert (await forms_host.client.get(f"/api/forms/{form['id']}")).json()["name"] == "Book a trip, again"


@pytest.mark.parametrize("form_id", ["bad%2Fid", "bad%23id", "x" * 300, "%C3%BC-form"])
async def test_an_id_that_cannot_be_a_form_is_not_found_by_every_route(forms_host: ConduitHost, form_id: str) -> None:
    # Given an id that cannot be a stored form's (a `/` or `#` no table key may hold, too long, not an id's letters)
    base = f"/api/forms/{form_id}"
    body = {k: v for k, v in trip_form().items() if k != "id"}
    # When every route of one form is asked about it
    answers = [
        await forms_host.client.get(base),
        await forms_host.client.put(base, json=body, headers={"If-Match": "*"}),
        await forms_host.client.delete(base, headers={"If-Match": "*"}),
        await forms_host.client.post(f"{base}/fields/town/options", json={"values": {}}),
        await forms_host.client.post(f"{base}/submit", json={"values": {}}),
        await forms_host.client.post(f"{base}/startup", json={}),
    ]
    # Then each is 404 form_not_found (never a 500)
    assert [(a.status_code, a.json()["error"]["code"]) for a in answers] == [(404, "form_not_found")] * 6, \
        [a.text for a in answers]
