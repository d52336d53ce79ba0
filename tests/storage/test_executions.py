"""ExecutionStore against a real Azurite: records, large values, logs, limits and the terminal-state guarantee."""

from __future__ import annotations

import time
import uuid
from dataclasses import replace

import pytest

from shared.errors import ConflictError, ExecutionAlreadyFinishedError, PayloadTooLargeError
from shared.models import ExecutionStatus, LogLine, new_execution_id
from shared.storage import ExecutionStore, RequestCounter
from shared.storage.batches import entity_problem
from shared.storage.packing import to_json_text
from tests.storage.factories import details_rows, finished, lines, new_record, raw_record

MIB = 1024 * 1024


async def test_record_round_trips_through_create_get_and_finish(store):
    # Given a running execution
    record = new_record()
    # When it is created and read back
    created = await store.create(record)
    got = await store.get(record.scope, record.id)
    # Then every field is as written and the ETag is known
    assert created.etag and got is not None and got.etag == created.etag
    assert replace(got, etag=None) == record
    assert got.started_at == record.started_at and got.started_at.tzinfo is not None
    # When it finishes with its logs
    done = await store.finish(finished(created), lines(3))
    got = await store.get(record.scope, record.id)
    # Then the terminal state, outcome and log count are stored and the record keeps its input
    assert got == done
    assert (got.status, got.output_data, got.variables, got.log_count) == (
        ExecutionStatus.SUCCESS,
        {"user": "ana@example.com"},
        {"count": 3},
        3,
    )
    assert got.input_data == record.input_data and got.duration_ms == 2000


@pytest.mark.parametrize("size", [100_000, 1 * MIB, 5 * MIB], ids=["100KB", "1MiB", "5MiB"])
async def test_large_input_and_output_round_trip_byte_identical(store, storage_connection_string, size):
    # Given input and output of `size` bytes of JSON mixing ASCII, accents, CJK and emoji
    chunk = "Grüße, 世界! 😀 " * 8
    value = {"text": (chunk * (size // len(chunk.encode()) + 1))[: size // 2], "n": [1, 2.5, None, True]}
    record = new_record(input_data=value)
    # When the execution is created, finished and read back
    created = await store.create(record)
    await store.finish(finished(created, output_data=value, variables={"same": value}), [])
    got = await store.get(record.scope, record.id)
    # Then the values are identical to the byte
    assert got is not None
    for stored in (got.input_data, got.output_data, got.variables["same"]):
        assert to_json_text(stored) == to_json_text(value)
    # And the record itself stays within the entity limits Azure enforces
    raw = await raw_record(storage_connection_string, record)
    assert ("InputDataSpill" in raw) == (size > 150_000)
    assert entity_problem(raw) is None


async def test_ten_thousand_log_lines_round_trip_in_order_in_few_requests(storage_connection_string):
    # Given a store with a request counter and an execution that logged 10,000 lines
    counter = RequestCounter()
    async with ExecutionStore.from_connection_string(storage_connection_string, counter=counter) as store:
        await store.ensure_tables()
        created = await store.create(new_record())
        logs = [replace(line, level="WARNING" if line.sequence % 7 == 0 else "INFO") for line in lines(10_000)]
        counter.reset()
        # When it finishes and its logs are read back
        started = time.perf_counter()
        await store.finish(finished(created), logs)
        writes = counter.reset()
        got = await store.get_logs(created.id)
        print(f"10,000 log lines written and read back in {time.perf_counter() - started:.2f} s")
    # Then every line comes back in sequence order with its fields: 20 pages in one transaction, then the record
    assert got == logs
    assert writes == 1 + 1


async def test_long_log_messages_round_trip_and_overlong_ones_say_they_were_cut(store):
    # Given messages of 100,000 characters, of 40,000 emoji, of 200,000 CJK characters, and of 300,000 characters
    long, emoji, cjk, overlong = "a" * 99_999 + "é", "x" + "😀" * 40_000, "世" * 200_000, "b" * 300_000
    logs = [LogLine(i, "t", "INFO", "l", m) for i, m in enumerate((long, emoji, cjk, overlong))]
    record = await store.create(new_record())
    # When they are stored and read back
    await store.append_logs(record.id, logs, attempt=1)
    got = [line.message for line in await store.get_logs(record.id)]
    # Then the first three are intact and the last is cut at the limit with an explicit suffix
    assert got[:3] == [long, emoji, cjk]
    assert got[3] == "b" * 262_144 + "… [truncated: 37856 more characters; the limit is 262144 characters per log line]"


async def test_values_just_under_16_mib_round_trip(store):
    # Given input, output and variables each just under the documented 16 MiB maximum
    value = "v" * (16 * MIB - 10)
    created = await store.create(new_record(input_data=value))
    # When the execution finishes and is read back
    await store.finish(finished(created, output_data=value, variables={"v": value[:-10]}), [])
    got = await store.get(created.scope, created.id)
    # Then all three are intact
    assert got.input_data == value and got.output_data == value and got.variables == {"v": value[:-10]}


async def test_input_over_16_mib_is_refused_before_anything_is_written(store, storage_connection_string):
    # Given 17 MiB of input
    record = new_record(input_data={"blob": "x" * (17 * MIB)})
    # When the execution is created / Then the error names the field and the limit
    with pytest.raises(PayloadTooLargeError, match=r"input_data.*16 MiB"):
        await store.create(record)
    # And nothing was written: no record, no details rows
    assert await store.get(record.scope, record.id) is None
    assert await details_rows(storage_connection_string, record.id) == []


async def test_output_over_16_mib_is_refused_before_logs_or_outcome_are_written(store, storage_connection_string):
    # Given a running execution whose output is 17 MiB
    created = await store.create(new_record())
    # When it finishes / Then it is refused, and the record and details are untouched
    with pytest.raises(PayloadTooLargeError, match="output_data"):
        await store.finish(finished(created, output_data="y" * (17 * MIB)), lines(5))
    got = await store.get(created.scope, created.id)
    assert got is not None and got.status == ExecutionStatus.RUNNING and got.etag == created.etag
    assert await details_rows(storage_connection_string, created.id) == []


@pytest.mark.parametrize("output_size", [10, 2 * MIB], ids=["small", "spilled"])
async def test_second_finish_is_refused_and_first_terminal_state_kept(store, output_size):
    # Given an execution finished once as Success
    created = await store.create(new_record())
    first_output = {"first": "f" * output_size}
    await store.finish(finished(created, output_data=first_output), lines(2))
    # When a second finish (e.g. a duplicate queue delivery) tries to write Failed with the stale ETag
    late = finished(
        created, status=ExecutionStatus.FAILED, output_data={"second": "s" * output_size}, error_message="x"
    )
    with pytest.raises(ExecutionAlreadyFinishedError) as caught:
        await store.finish(late, lines(1))
    # Then the error says what happened, and the first terminal state and output are kept
    assert caught.value.status == "Success" and caught.value.execution_id == created.id
    got = await store.get(created.scope, created.id)
    assert got.status == ExecutionStatus.SUCCESS and got.output_data == first_output and got.error_message is None


@pytest.mark.parametrize(("line_count", "requests"), [(10, 3), (500, 3), (0, 2)])
async def test_small_execution_costs_three_requests_or_two_without_logs(
    storage_connection_string, line_count, requests
):
    # Given a store with a request counter and tables already created
    counter = RequestCounter()
    async with ExecutionStore.from_connection_string(storage_connection_string, counter=counter) as store:
        await store.ensure_tables()
        warm = await store.create(new_record())  # the scope's one registration per process (see scopes.py)
        counter.reset()
        # When a small execution is created and finished with up to 500 short log lines
        created = await store.create(new_record(scope=warm.scope))
        await store.finish(finished(created), lines(line_count))
        # Then that took create, one upsert of the log page (none without lines), one conditional update
        assert counter.count == requests
        assert await store.get_logs(created.id) == lines(line_count)


async def test_creating_an_existing_execution_is_a_conflict(store):
    # Given an existing execution / When the same id is created again / Then ConflictError, the first is kept
    record = await store.create(new_record())
    with pytest.raises(ConflictError, match="already exists"):
        await store.create(replace(record, workflow_name="other", etag=None))
    assert (await store.get(record.scope, record.id)).workflow_name == "onboard_user"


@pytest.mark.parametrize("execution_id", [str(uuid.uuid4()), "a/b", "a#b", "", "x" * 2000])
async def test_unknown_or_malformed_ids_read_as_none(store, execution_id):
    # Given an id that names no execution / When it is read / Then None and no logs, not an SDK error
    assert await store.get("GLOBAL", execution_id) is None
    assert await store.get("bad/scope", new_execution_id()) is None
    assert await store.get_logs(execution_id) == []


async def test_scope_with_a_slash_is_rejected_with_a_clear_error(store):
    # Given a scope Table storage cannot use as a PartitionKey / When it is created / Then a ValueError explains
    with pytest.raises(ValueError, match=r"Invalid scope 'org/1'.*'/'"):
        await store.create(new_record(scope="org/1"))


async def test_logs_flushed_while_running_and_at_finish_are_all_kept(store):
    # Given a running execution that flushed 150 lines
    created = await store.create(new_record())
    all_lines = lines(200)
    flushed = await store.append_logs(created.id, all_lines[:150], attempt=1)
    # When it finishes with the remaining 50, counting the flushed ones in log_count
    done = await store.finish(finished(replace(created, log_count=flushed)), all_lines[150:])
    # Then all 200 lines are read back in order and the count is 200
    assert await store.get_logs(created.id) == all_lines
    assert done.log_count == (await store.get(created.scope, created.id)).log_count == 200


async def test_ping_reports_reachable_storage(store):
    # Given a running Azurite with the tables / When pinged / Then healthy
    assert await store.ping() is True


async def test_ping_reports_unreachable_storage():
    # Given a connection string to a port nobody listens on
    dead = "DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=a2V5;TableEndpoint=http://127.0.0.1:9/devstoreaccount1;"
    async with ExecutionStore.from_connection_string(dead) as store:
        # When pinged with a short timeout / Then unhealthy, not an exception
        assert await store.ping(timeout=1.0) is False


async def test_a_repeated_log_sequence_keeps_the_last_line(store):
    # Given two lines that share a sequence number in one flush
    created = await store.create(new_record())
    first, second = LogLine(1, "t1", "INFO", "l", "first"), LogLine(1, "t2", "ERROR", "l", "second")
    # When they are written / Then the transaction is accepted and the later line is kept
    await store.append_logs(created.id, [first, second], attempt=1)
    assert await store.get_logs(created.id) == [second]


async def test_get_logs_after_returns_only_later_lines_across_flushes(store):
    # Given lines 0-1199 flushed in three writes of different sizes while running, and 1200-1299 at finish
    created = await store.create(new_record())
    all_lines = lines(1_300)
    for start, end in [(0, 120), (120, 900), (900, 1_200)]:
        await store.append_logs(created.id, all_lines[start:end], attempt=1)
    await store.finish(finished(replace(created, log_count=1_200)), all_lines[1_200:])
    # When a tail reads after various points / Then it gets exactly the later lines, in order
    for after in (-1, 0, 119, 120, 500, 899, 1_250, 1_299, 5_000):
        assert await store.get_logs(created.id, after=after) == all_lines[after + 1 :], after
    assert await store.get_logs(created.id, after=None) == all_lines


async def test_rewritten_pages_replace_earlier_ones_and_the_later_write_wins(store):
    # Given a first run that flushed 0-149 and finished with 150-199, with a 200,000-character line at 0
    created = await store.create(new_record())
    first = [LogLine(0, "t", "INFO", "l", "x" * 200_000), *lines(200)[1:]]
    await store.append_logs(created.id, first[:150], attempt=1)
    await store.append_logs(created.id, first[150:], attempt=1)
    # When a re-run of the same execution rewrites 0-99 (line 0 now short), then 100-249
    again = lines(250, message="again {i}")
    await store.append_logs(created.id, again[:100], attempt=1)
    await store.append_logs(created.id, again[100:], attempt=1)
    # Then each sequence is read once, from the later write; the long line's leftover row is ignored
    assert await store.get_logs(created.id) == again
    assert await store.get_logs(created.id, after=180) == again[181:]


async def test_pages_too_large_for_one_transaction_round_trip(storage_connection_string):
    # Given five maximal CJK lines (about 1.5 MB each as sent) among short ones: several transactions are needed
    counter = RequestCounter()
    logs = [LogLine(i, "t", "INFO", "l", "世" * 262_144 if i % 3 == 1 else f"short {i}") for i in range(15)]
    async with ExecutionStore.from_connection_string(storage_connection_string, counter=counter) as store:
        await store.ensure_tables()
        created = await store.create(new_record())
        counter.reset()
        # When they are flushed (continuation rows first, then the page heads) and read back
        await store.append_logs(created.id, logs, attempt=1)
        writes = counter.reset()
        # Then they come back whole
        assert await store.get_logs(created.id) == logs
        assert await store.get_logs(created.id, after=12) == logs[13:]
    assert writes > 2
