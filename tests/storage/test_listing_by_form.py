"""Listing a form's executions: the form id is a column of the record, filtered on by the service, on a real Azurite."""

from __future__ import annotations

import asyncio
import time
import uuid

import pytest

from shared.errors import InputValidationError
from shared.models import ExecutionRecord, ExecutionStatus, new_execution_id
from shared.storage import ExecutionStore, RequestCounter, open_tables
from tests.storage.factories import new_record, raw_record

COUNT = 60
BASE_MS = int(time.time() * 1000) - 60_000


def trigger_of(i: int) -> dict:
    """1 in 5 came from form `trips`, 1 in 10 from form `leave`, the rest from the API."""
    if i % 5 == 0:
        return {"kind": "form", "form_id": "trips"}
    if i % 10 == 1:
        return {"kind": "form", "form_id": "leave"}
    return {"kind": "api", "form_id": "trips"}  # a form id outside a form trigger is not the form's execution


@pytest.fixture(scope="module")
async def seeded(storage_connection_string: str) -> tuple[str, list[ExecutionRecord]]:
    """60 executions in a fresh scope, newest first; every 4th fails, every 3rd runs `other_flow`."""
    scope = f"forms-{uuid.uuid4()}"
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        await store.ensure_tables()
        records = await asyncio.gather(*(store.create(new_record(
            id=new_execution_id(BASE_MS + i),
            scope=scope,
            workflow_name="other_flow" if i % 3 == 0 else "plan_trip",
            status=ExecutionStatus.FAILED if i % 4 == 0 else ExecutionStatus.SUCCESS,
            trigger=trigger_of(i),
        )) for i in range(COUNT)))
    return scope, sorted(records, key=lambda record: record.id)


def from_form(record: ExecutionRecord, form_id: str) -> bool:
    return record.trigger["kind"] == "form" and record.trigger["form_id"] == form_id


async def all_pages(store: ExecutionStore, scope: str, **options) -> list[list[str]]:
    pages, token = [], None
    while True:
        page, token = await store.list_executions(scope, continuation_token=token, **options)
        pages.append([record.id for record in page])
        if token is None:
            return pages


async def test_the_form_id_is_stored_as_a_column_only_for_form_triggers(storage_connection_string, seeded):
    # Given executions from a form, from another form and from the API (whose trigger happens to carry a form_id)
    _, records = seeded
    by_kind = {(r.trigger["kind"], r.trigger["form_id"]): r for r in records}
    # When their rows are read raw / Then only the form submissions have a FormId, their form's
    assert (await raw_record(storage_connection_string, by_kind[("form", "trips")]))["FormId"] == "trips"
    assert (await raw_record(storage_connection_string, by_kind[("form", "leave")]))["FormId"] == "leave"
    assert "FormId" not in await raw_record(storage_connection_string, by_kind[("api", "trips")])


async def test_a_forms_executions_come_in_full_pages_filtered_on_the_server(storage_connection_string, seeded):
    # Given 12 of 60 executions from form `trips`, and 7 rows per query page
    scope, records = seeded
    counter = RequestCounter()
    async with ExecutionStore(open_tables(storage_connection_string, counter=counter), page_size=7) as store:
        # When they are listed 5 at a time
        pages = await all_pages(store, scope, form_id="trips", limit=5)
    # Then pages are full until the last, newest first, each once, and nothing else
    assert [len(page) for page in pages] == [5, 5, 2]
    assert [i for page in pages for i in page] == [r.id for r in records if from_form(r, "trips")]
    # And the service filtered them: one query request per page (6 looked for each), no rows read and dropped
    assert counter.count == 3


@pytest.mark.parametrize(
    ("options", "keep"),
    [
        ({"workflow": "plan_trip"}, lambda r: r.workflow_name == "plan_trip"),
        ({"status": "Failed"}, lambda r: r.status == ExecutionStatus.FAILED),
        ({"workflow": "plan_trip", "status": ExecutionStatus.SUCCESS},
         lambda r: r.workflow_name == "plan_trip" and r.status == ExecutionStatus.SUCCESS),
    ],
    ids=["workflow", "status", "both"],
)
async def test_the_form_filter_combines_with_workflow_and_status(store, seeded, options, keep):
    # Given the seeded executions / When a form's are listed with other filters, 3 at a time
    scope, records = seeded
    pages = await all_pages(store, scope, form_id="trips", limit=3, **options)
    # Then exactly the form's executions that also match the others come, newest first
    expected = [r.id for r in records if from_form(r, "trips") and keep(r)]
    assert expected and [i for page in pages for i in page] == expected
    assert all(len(page) == 3 for page in pages[:-1])


async def test_a_form_without_executions_lists_nothing(store, seeded):
    scope, _ = seeded
    assert await store.list_executions(scope, form_id="never-submitted") == ([], None)


@pytest.mark.parametrize("form_id", ["", "a/b", "x" * 257, "tab\there", "what?"])
async def test_a_malformed_form_id_is_an_input_error_on_form_id(store, seeded, form_id):
    # Given a form id no form can have / When listing by it / Then a validation error naming the field
    with pytest.raises(InputValidationError) as raised:
        await store.list_executions(seeded[0], form_id=form_id)
    assert [error.field for error in raised.value.errors] == ["form_id"]
