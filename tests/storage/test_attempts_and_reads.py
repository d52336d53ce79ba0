"""Details rows per attempt, reads that stop early or skip what they do not need, and steps too large for a row —
against Azurite."""

from __future__ import annotations

from dataclasses import replace

import pytest

from shared.models import LogLine
from shared.storage import ExecutionStore, RequestCounter
from shared.storage.keys import STEP_PREFIX
from shared.storage.steps import MAX_STEP_UNITS
from tests.storage.factories import details_rows, finished, lines, new_record, raw_record


def step(order: int, attempt: int, **values: object) -> dict:
    return {"execution_order": order, "step_name": f"step {order}", "status": "Success", "attempt": attempt, **values}


async def test_attempt_two_never_overwrites_attempt_ones_lines_or_steps(store, storage_connection_string):
    # Given attempt 1 of an execution flushed 300 lines, and its final write stored two steps but not the terminal
    # state (the host died before), so the record is still Running
    created = await store.create(new_record())
    first = lines(300, message="attempt 1 line {i}")
    await store.append_logs(created.id, first, attempt=1)
    rows = [step(1, 1), step(2, 1)]
    await store.finish(replace(finished(created), status=created.status, log_count=300), [], rows)
    # When attempt 2 takes over and finishes with fewer lines and one step
    claimed = await store.get(created.scope, created.id)
    claimed = await store.update(claimed, attempt=2)
    second = lines(3, message="attempt 2 line {i}")
    await store.append_logs(created.id, second[:1], attempt=2)
    await store.finish(finished(replace(claimed, log_count=1)), second[1:], [step(1, 2)])
    # Then each attempt reads back exactly its own lines and steps
    assert await store.get_logs(created.id, attempt=1) == first
    assert await store.get_logs(created.id, attempt=2) == second
    assert [s["attempt"] for s in await store.get_steps(created.id, attempt=1)] == [1, 1]
    assert await store.get_steps(created.id, attempt=2) == [step(1, 2)]
    assert await store.get_logs(created.id, attempt=3) == [] and await store.get_steps(created.id, attempt=3) == []
    # And every row stays in the execution's one partition; attempt 1's keep the keys rows had before attempts
    keys = {row["RowKey"] for row in await details_rows(storage_connection_string, created.id)}
    assert {"log|0000000000", "step|000001", "a002|log|0000000000", "a002|log|0000000001", "a002|step|000001"} <= keys


async def test_rows_written_before_attempts_were_keyed_read_as_attempt_one(store, storage_connection_string):
    # Given details rows as the code before this change wrote them (plain `log|` and `step|` keys)
    from shared.storage.batches import upsert_rows
    from shared.storage.logs import pack_log_pages
    from shared.storage.steps import pack_step_rows

    created = await store.create(new_record())
    old_rows = pack_log_pages(created.id, lines(4)) + pack_step_rows(created.id, [step(1, 1)])
    assert {row["RowKey"] for row in old_rows} == {"log|0000000000", f"{STEP_PREFIX}000001"}
    await upsert_rows(store._details.table, old_rows)
    # When they are read / Then as attempt 1, the default
    assert await store.get_logs(created.id) == lines(4) == await store.get_logs(created.id, attempt=1)
    assert await store.get_steps(created.id) == [step(1, 1)]


async def test_logs_with_a_limit_read_only_the_pages_they_need(storage_connection_string):
    # Given an execution with 2,000 lines in four pages of 500, read through a store that fetches one row per request
    counter = RequestCounter()
    async with ExecutionStore.from_connection_string(storage_connection_string, counter=counter) as writer:
        await writer.ensure_tables()
        created = await writer.create(new_record())
        logs = [replace(line, level="ERROR" if line.sequence % 100 == 0 else "INFO") for line in lines(2_000)]
        await writer.finish(finished(created), logs)
    async with ExecutionStore(writer_service(storage_connection_string, counter), page_size=1) as store:
        # When all lines are read, then the first 10, then the first 600, then the first 3 errors
        counter.reset()
        assert await store.get_logs(created.id) == logs
        everything = counter.reset()
        assert await store.get_logs(created.id, limit=10) == logs[:10]
        ten = counter.reset()
        assert await store.get_logs(created.id, limit=600) == logs[:600]
        six_hundred = counter.reset()
        errors = await store.get_logs(created.id, keep=lambda line: line.level == "ERROR", limit=3)
        three_errors = counter.reset()
        tail = await store.get_logs(created.id, after=1_550, limit=5)
    # Then a limit stops the reading once the answer is known: the page holding it, and the next page's key
    print(f"requests: all {everything}, limit 10: {ten}, limit 600: {six_hundred}, 3 errors: {three_errors}")
    assert everything >= 4
    assert ten <= 2 and six_hundred <= 3 and three_errors <= 2
    assert [line.sequence for line in errors] == [0, 100, 200]
    assert [line.sequence for line in tail] == list(range(1_551, 1_556))


def writer_service(connection_string: str, counter: RequestCounter):
    from shared.storage import open_tables

    return open_tables(connection_string, counter=counter)


async def test_a_light_read_skips_spilled_input(counted_store, counter):
    # Given a record whose 400 KB input is spilled to details rows
    created = await counted_store.create(new_record(input_data={"blob": "x" * 400_000}))
    counter.reset()
    # When it is read light / Then one request, with its status, attempt and lease but no input
    light = await counted_store.get(created.scope, created.id, light=True)
    assert counter.reset() == 1
    assert light is not None and light.input_data is None and light.etag == created.etag
    assert (light.status, light.attempt, light.workflow_name) == (created.status, 1, created.workflow_name)
    # And a full read still costs the spilled rows too
    full = await counted_store.get(created.scope, created.id)
    assert counter.reset() == 2 and full is not None and full.input_data == {"blob": "x" * 400_000}


@pytest.mark.parametrize(
    "blob", ["x" * 200_000, '"\\' * 100_000, "\x01" * 150_000, "世" * 130_000, "😀" * 100_000],
    ids=["ascii", "escapes", "control", "cjk", "emoji"],
)
async def test_a_step_too_large_for_a_row_is_stored_cut_with_a_marker(store, storage_connection_string, blob):
    # Given a step whose output (and part of its input) is far larger than a step row holds
    created = await store.create(new_record())
    big = step(1, 1, input_data={"head": blob[:40_000]}, output_data={"blob": blob})
    # When the execution finishes with it and a normal step
    done = await store.finish(finished(created), lines(2), [big, step(2, 1)])
    # Then the record is terminal, both steps are stored, and the cut values say how much was cut
    assert (await raw_record(storage_connection_string, done))["Status"] == "Success"
    stored, normal = await store.get_steps(created.id)
    assert normal == step(2, 1)
    assert "output_data" in stored["truncated"] and stored["step_name"] == "step 1"
    assert stored["output_data"].startswith('{"blob":')
    assert "characters cut; a step is stored with at most 128,000 characters]" in stored["output_data"]
    assert len(str(stored)) < 2 * MAX_STEP_UNITS


async def test_log_line_with_every_field_oversized_is_stored_cut(store):
    # Given a line whose logger, level, step name and message are all far over their limits
    created = await store.create(new_record())
    line = LogLine(1, "t" * 5_000, "L" * 5_000, "g" * 5_000, "m" * 400_000, "s" * 5_000, "k" * 5_000)
    # When it is finished with / Then it reads back with each field cut and marked
    await store.finish(finished(created), [line])
    (back,) = await store.get_logs(created.id)
    assert back.message.startswith("m" * 1_000) and back.message.endswith("characters per log line]")
    assert all("[truncated" in value for value in (back.logger, back.level, back.step_name, back.step_type))
