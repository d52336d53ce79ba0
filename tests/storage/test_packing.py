"""Limits and splitting, without storage: what Azurite would accept but Azure would not."""

from __future__ import annotations

import json

import pytest

from shared.errors import PayloadTooLargeError, StorageError
from shared.models import ExecutionRecord, ExecutionStatus, new_execution_id
from shared.storage import keys, packing
from shared.storage.batches import check_entity, entity_size, payload_size, plan_batches
from shared.storage.rows import record_entity


def test_split_never_breaks_a_surrogate_pair_and_respects_utf16_units():
    # Given text mixing ASCII and emoji (2 UTF-16 units each) across a part boundary
    text = "a" * 9 + "😀" * 10 + "b"
    # When it is split into pieces of at most 10 units
    pieces = packing.split_utf16(text, 10)
    # Then the pieces join back to the text and none exceeds 10 units
    assert "".join(pieces) == text
    assert all(packing.utf16_units(p) <= 10 for p in pieces)
    assert pieces[0] == "a" * 9


def test_small_medium_and_large_json_choose_string_parts_and_spill():
    # Given values of about 10 KB, 140 KB and 1 MB of JSON
    small, medium, large = ("x" * 10_000, "é" * 70_000, "y" * 1_000_000)
    # When they are packed
    packed = [packing.pack_json(packing.INPUT, v, "exec-1") for v in (small, medium, large)]
    # Then each uses the storage its size calls for
    assert set(packed[0].properties) == {"InputData"} and not packed[0].spill_rows
    assert packed[1].properties["InputDataParts"] == 3 and not packed[1].spill_rows
    assert packed[2].properties["InputDataSpill"] == len(packed[2].spill_rows) == 2
    assert [r["RowKey"] for r in packed[2].spill_rows] == ["data|input|0000", "data|input|0001"]
    for p, value in zip(packed, (small, medium, large), strict=True):
        assert packing.unpack_json(packing.INPUT, p.properties, p.spill_rows) == value
        for row in p.spill_rows:
            check_entity(row)  # every spilled row is within the entity limits


def test_value_over_16_mib_names_field_size_and_limit():
    # Given 17 MiB of JSON output
    value = "z" * (17 * 1024 * 1024)
    # When it is packed / Then the error names the field, its size and the limit
    with pytest.raises(PayloadTooLargeError) as caught:
        packing.pack_json(packing.OUTPUT, value, "exec-1")
    assert "output_data" in caught.value.message and "16 MiB" in caught.value.message
    assert caught.value.details["size"] == len(json.dumps(value))


def test_missing_spilled_row_is_reported_not_returned_short():
    # Given a spilled value whose second row is gone
    packed = packing.pack_json(packing.VARIABLES, {"k": "v" * 2_000_000}, "exec-1")
    # When it is read / Then the reader refuses to return partial data
    with pytest.raises(StorageError, match="incomplete"):
        packing.unpack_json(packing.VARIABLES, packed.properties, packed.spill_rows[:1])


def test_check_entity_rejects_what_azurite_would_accept():
    # Given entities over the property-count and size limits
    too_many = {"PartitionKey": "p", "RowKey": "r", **{f"P{i}": i for i in range(253)}}
    too_big = {"PartitionKey": "p", "RowKey": "r", **{f"B{i}": b"x" * 64_000 for i in range(15)}}
    too_big_to_send = {"PartitionKey": "p", "RowKey": "r", **{f"S{i}": "世" * 32_000 for i in range(6)}}
    # When they are checked / Then all are refused before any request
    for entity in (too_many, too_big, too_big_to_send):
        with pytest.raises(PayloadTooLargeError):
            check_entity(entity)


def test_batches_hold_at_most_100_operations_and_stay_under_the_payload_limit():
    # Given 250 small rows and 5 rows of ~900 KB each
    small = [{"PartitionKey": "p", "RowKey": f"log|{i:010d}", "Message": "x"} for i in range(250)]
    big = packing.pack_json(packing.INPUT, "b" * 4_000_000, "p").spill_rows
    # When they are planned into transactions
    # Then no transaction exceeds 100 operations or the estimated 3.5 MiB payload
    assert [len(b) for b in plan_batches(small)] == [100, 100, 50]
    for batch in plan_batches(big):
        assert sum(payload_size(e) for e in batch) <= packing.MAX_BATCH_PAYLOAD_BYTES


@pytest.mark.parametrize("scope", ["a/b", "a\\b", "a#b", "a?b", "a\x00b", "a\x85b", "", "x" * 257])
def test_invalid_scopes_are_rejected_with_a_clear_message(scope):
    # Given a scope Table storage cannot use as a key / When it is validated / Then ValueError says why
    with pytest.raises(ValueError, match="Invalid scope"):
        keys.validate_scope(scope)


def test_prefix_range_covers_exactly_the_prefix():
    # Given the log prefix / When its range is built / Then RowKeys of other kinds fall outside it
    bounds = keys.prefix_range(keys.LOG_PREFIX)
    assert bounds["lo"] <= "log|0000000000" < bounds["hi"]
    assert not bounds["lo"] <= "step|0001" < bounds["hi"]
    assert not bounds["lo"] <= "data|input|0000" < bounds["hi"]


def test_a_record_with_every_field_at_its_limit_still_fits_one_entity():
    # Given a record whose every field is as large as it can be while staying inside the record (CJK text: the
    # costliest per character on the wire)
    inline = "世" * 49_998  # 149,996 bytes of JSON: the largest value kept inline as binary parts
    record = ExecutionRecord(
        id=new_execution_id(),
        scope="GLOBAL",
        workflow_name="w" * packing.MAX_NAME_CHARS,
        status=ExecutionStatus.FAILED,
        trigger={"t": "世" * 7_990},
        caller={"c": "世" * 7_990},
        input_data=inline,
        output_data=inline,
        variables={"v": "世" * 49_990},
        error_message="世" * 100_000,
        error_type="E" * 5_000,
    )
    # When the entity create() would write is built
    entity, spilled = record_entity(record)
    # Then nothing spilled and the one entity is within the stored-size and request-size limits
    assert spilled == [] and entity["InputDataParts"] == 3
    assert entity_size(entity) <= packing.MAX_ENTITY_BYTES
    assert payload_size(entity) <= packing.MAX_ENTITY_PAYLOAD_BYTES
