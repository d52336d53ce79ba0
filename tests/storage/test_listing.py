"""Listing a scope's executions (pages, filters, offset, tokens) and finding its active ones, on a real Azurite."""

from __future__ import annotations

import asyncio
import base64
import time
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from shared.errors import InputValidationError
from shared.models import ExecutionRecord, ExecutionStatus, new_execution_id
from shared.storage import ExecutionStore, RequestCounter, open_tables
from tests.storage.factories import new_record

COUNT = 250
BASE_MS = int(time.time() * 1000) - 60_000


@dataclass(frozen=True)
class Seeded:
    scope: str
    records: list[ExecutionRecord]  # newest first

    def ids(self, keep=lambda record: True) -> list[str]:
        return [record.id for record in self.records if keep(record)]


def seeded_record(scope: str, i: int) -> ExecutionRecord:
    """The i-th execution, i ms after BASE_MS: 1 in 10 runs `rare_flow`, 1 in 10 (others) Failed."""
    return new_record(
        id=new_execution_id(BASE_MS + i),
        scope=scope,
        workflow_name="rare_flow" if i % 10 == 0 else "common_flow",
        status=ExecutionStatus.FAILED if i % 10 == 3 else ExecutionStatus.SUCCESS,
        error_message="boom" if i % 10 == 3 else None,
        duration_ms=i,
        input_data={"i": i, "big": "x" * 1_000},
    )


@pytest.fixture(scope="module")
async def seeded(storage_connection_string: str) -> Seeded:
    """250 executions in a fresh scope, written once for the module (concurrently, 16 at a time)."""
    scope = f"list-{uuid.uuid4()}"
    gate = asyncio.Semaphore(16)
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        await store.ensure_tables()

        async def create(i: int) -> ExecutionRecord:
            async with gate:
                return await store.create(seeded_record(scope, i))

        records = await asyncio.gather(*(create(i) for i in range(COUNT)))
    return Seeded(scope, sorted(records, key=lambda record: record.id))


@pytest.fixture
async def small_pages(storage_connection_string: str, counter: RequestCounter) -> AsyncIterator[ExecutionStore]:
    """A store that asks for 7 rows per query page, so one page of ours spans many SDK pages; `counter` counts."""
    async with ExecutionStore(open_tables(storage_connection_string, counter=counter), page_size=7) as store:
        yield store


async def all_pages(store: ExecutionStore, scope: str, **options) -> list[list[ExecutionRecord]]:
    pages, token = [], None
    while True:
        page, token = await store.list_executions(scope, continuation_token=token, **options)
        pages.append(page)
        if token is None:
            return pages


async def test_250_executions_come_in_3_pages_newest_first_each_once(store, seeded):
    # Given 250 executions of one scope / When they are listed 100 at a time
    pages = await all_pages(store, seeded.scope, limit=100)
    # Then 3 pages of 100, 100 and 50, every execution once, newest first
    assert [len(page) for page in pages] == [100, 100, 50]
    listed = [record for page in pages for record in page]
    assert [record.id for record in listed] == seeded.ids()
    created = [record.created_at for record in listed]
    assert created == sorted(created, reverse=True)
    assert created[0] == datetime.fromtimestamp((BASE_MS + COUNT - 1) / 1000, UTC)


async def test_items_are_light_records_with_the_list_fields(store, seeded):
    # Given the seeded executions / When the first page is read
    page, _ = await store.list_executions(seeded.scope, status="Failed", limit=1)
    # Then an item carries the list fields, and not the input
    item = page[0].to_list_item()
    newest_failed = seeded.records[6]
    assert item["id"] == newest_failed.id and item["status"] == "Failed" and item["error_message"] == "boom"
    assert (item["workflow_id"], item["trigger"], item["duration_ms"]) == ("common_flow", "api", COUNT - 7)
    assert item["started_at"] == "2025-01-02T03:04:05.123456Z"
    assert page[0].input_data is None and page[0].caller == {} and page[0].etag


@pytest.mark.parametrize(
    ("options", "keep"),
    [
        ({"status": ExecutionStatus.FAILED}, lambda r: r.status == ExecutionStatus.FAILED),
        ({"workflow": "rare_flow"}, lambda r: r.workflow_name == "rare_flow"),
        ({"workflow": "common_flow", "status": "Failed"}, lambda r: r.status == ExecutionStatus.FAILED),
    ],
    ids=["status", "workflow", "both"],
)
async def test_sparse_filters_fill_every_page_across_many_query_pages(small_pages, counter, seeded, options, keep):
    # Given 25 matches among 250 and 7 rows per query page / When listed 10 at a time
    pages = await all_pages(small_pages, seeded.scope, limit=10, **options)
    # Then pages are full until the last, and every match comes once, newest first
    assert [len(page) for page in pages] == [10, 10, 5]
    assert counter.count == 2 + 2 + 1  # 11 looked for at 7 per query page: 2 requests a page, 1 for the last 5
    assert [record.id for page in pages for record in page] == seeded.ids(keep)


async def test_a_page_that_ends_exactly_at_the_last_match_has_no_token(small_pages, seeded):
    # Given 25 matches / When 25 are asked for / Then one page and no token (limit + 1 were looked for)
    page, token = await small_pages.list_executions(seeded.scope, workflow="rare_flow", limit=25)
    assert len(page) == 25 and token is None


async def test_filters_that_match_nothing_give_an_empty_last_page(store, seeded):
    # Given no rare_flow execution failed / When both are asked for / Then an empty page without a token
    assert await store.list_executions(seeded.scope, workflow="rare_flow", status="Failed") == ([], None)
    assert await store.list_executions(f"empty-{uuid.uuid4()}") == ([], None)
    assert await store.list_executions("bad/scope") == ([], None)


async def test_offset_skips_matches_before_the_page_and_after_a_token(store, seeded):
    # Given the seeded executions / When 10 are read after skipping 95
    page, token = await store.list_executions(seeded.scope, limit=10, offset=95)
    # Then they are the 96th to the 105th, and the token continues after them
    assert [record.id for record in page] == seeded.ids()[95:105]
    rest, _ = await store.list_executions(seeded.scope, limit=5, offset=2, continuation_token=token)
    assert [record.id for record in rest] == seeded.ids()[107:112]
    # And an offset past the end gives an empty page
    assert await store.list_executions(seeded.scope, offset=COUNT) == ([], None)


def b64(text: str) -> str:
    return base64.urlsafe_b64encode(text.encode()).decode()


@pytest.mark.parametrize("token", ["not a token!", "", b64("2|abc"), b64("1|a/b"), b64("1|"), "////", "Zm9v"])
async def test_a_malformed_token_is_an_input_error_on_continuation_token(store, seeded, token):
    # Given a token this API never returned / When it is used / Then a validation error naming the field
    with pytest.raises(InputValidationError) as caught:
        await store.list_executions(seeded.scope, continuation_token=token)
    assert [error.field for error in caught.value.errors] == ["continuation_token"]


@pytest.mark.parametrize("options", [{"limit": 0}, {"limit": 101}, {"offset": -1}, {"status": "Sleeping"}])
async def test_limits_offsets_and_statuses_out_of_range_are_value_errors(store, options):
    # Given arguments the HTTP layer should have refused / When listing / Then ValueError
    with pytest.raises(ValueError):
        await store.list_executions("GLOBAL", **options)


async def test_active_executions_are_the_unfinished_ones_created_since(store):
    # Given executions of one scope created before, at and after `since`, in every state
    scope, since_ms = f"active-{uuid.uuid4()}", BASE_MS
    states = {
        -1: ExecutionStatus.RUNNING,  # 1 ms too old
        0: ExecutionStatus.PENDING,
        10: ExecutionStatus.RUNNING,
        20: ExecutionStatus.CANCELLING,
        30: ExecutionStatus.SUCCESS,
        40: ExecutionStatus.FAILED,
        50: ExecutionStatus.CANCELLED,
        60: ExecutionStatus.TIMEOUT,
    }
    created = {
        offset: await store.create(new_record(id=new_execution_id(since_ms + offset), scope=scope, status=status))
        for offset, status in states.items()
    }
    await store.create(new_record(status=ExecutionStatus.RUNNING))  # another scope
    since = datetime.fromtimestamp(since_ms / 1000, UTC)
    # When the active ones since `since` are read
    active = await store.active_executions(scope, since=since)
    # Then they are the Pending, Running and Cancelling ones made at or after it, newest first, as full records
    assert active == [created[20], created[10], created[0]]
    # And a moment 1 µs after `since` leaves out the one made at `since`; the far past includes the old one
    assert await store.active_executions(scope, since=since + timedelta(microseconds=1)) == active[:2]
    assert len(await store.active_executions(scope, since=datetime(1970, 1, 1, tzinfo=UTC))) == 4
    assert await store.active_executions(scope, since=datetime(9999, 1, 1, tzinfo=UTC)) == []
