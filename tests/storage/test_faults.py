"""The fault-injection seam: rules from code or from the setting hit real storage requests, by operation name."""

from __future__ import annotations

import json
import time
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from azure.core.exceptions import HttpResponseError, ServiceRequestError, ServiceResponseError

from shared.storage import faults
from shared.storage.clients import REQUEST, open_tables
from shared.storage.faults import operation_name
from shared.storage.queues import ExecutionMessage, ExecutionQueue

TABLE = "FaultsProbe"


@pytest.fixture
async def table(storage_connection_string: str) -> AsyncIterator:
    async with open_tables(storage_connection_string) as service:
        await service.create_table_if_not_exists(TABLE)
        async with service.get_table_client(TABLE) as client:
            await client.upsert_entity({"PartitionKey": "p", "RowKey": "r", "Value": 1})
            yield client
    faults.clear()


@pytest.mark.parametrize(
    ("service", "method", "url", "headers", "expected"),
    [
        ("table", "GET", "http://h/devstoreaccount1/ConduitExecutions(PartitionKey='a',RowKey='b')", {},
         "table.ConduitExecutions.get"),
        ("table", "GET", "http://h/devstoreaccount1/ConduitExecutions()?$filter=x", {},
         "table.ConduitExecutions.query"),
        ("table", "PATCH", "http://h/devstoreaccount1/ConduitExecutions(PartitionKey='a',RowKey='b')",
         {"If-Match": "W/1"}, "table.ConduitExecutions.merge"),
        ("table", "PATCH", "http://h/devstoreaccount1/ConduitExecutionDetails(PartitionKey='a',RowKey='b')", {},
         "table.ConduitExecutionDetails.upsert"),
        ("table", "POST", "http://h/devstoreaccount1/ConduitExecutions", {}, "table.ConduitExecutions.create"),
        ("queue", "POST", "http://h/devstoreaccount1/workflow-executions/messages", {},
         "queue.workflow-executions.send"),
        ("queue", "GET", "http://h/devstoreaccount1/workflow-executions/messages?numofmessages=16", {},
         "queue.workflow-executions.receive"),
        ("queue", "DELETE", "http://h/devstoreaccount1/workflow-executions/messages/id?popreceipt=x", {},
         "queue.workflow-executions.delete"),
        ("queue", "GET", "http://h/devstoreaccount1/workflow-executions?comp=metadata", {},
         "queue.workflow-executions.properties"),
    ],
)
def test_operation_names(service: str, method: str, url: str, headers: dict, expected: str) -> None:
    assert operation_name(service, method, url, headers) == expected


def test_a_batch_is_named_by_the_table_it_writes() -> None:
    body = b"--batch\r\n\r\nPOST http://127.0.0.1:1/devstoreaccount1/ConduitExecutionDetails HTTP/1.1\r\n"
    assert operation_name("table", "POST", "http://h/devstoreaccount1/$batch", {}, body) == (
        "table.ConduitExecutionDetails.batch"
    )


async def test_an_injected_error_reaches_the_caller_after_the_sdk_retries(table) -> None:
    # Given a 503 rule on this table's reads
    with faults.injected([{"match": f"table.{TABLE}.get", "fault": "error", "status": 503}]):
        # When an entity is read
        with pytest.raises(HttpResponseError) as raised:
            await table.get_entity("p", "r")
        # Then the SDK retried as the profile allows, and the caller sees the 503
        assert raised.value.status_code == 503
        assert faults.fired() == REQUEST.retries + 1
    # And without the rule the read succeeds again
    assert (await table.get_entity("p", "r"))["Value"] == 1


async def test_drop_and_timeout_fail_like_the_network_would(table) -> None:
    with faults.injected([{"match": f"table.{TABLE}.*", "fault": "drop"}]), pytest.raises(ServiceRequestError):
        await table.get_entity("p", "r")
    with faults.injected([{"match": f"table.{TABLE}.*", "fault": "timeout", "latency_ms": 10}]), \
            pytest.raises(ServiceResponseError):
        await table.get_entity("p", "r")


async def test_times_and_skip_choose_which_requests_fail(table) -> None:
    # Given a rule that lets one request through and then fails exactly one
    with faults.injected([{"match": f"table.{TABLE}.get", "fault": "error", "status": 500, "skip": 1, "times": 1}]):
        # Then the first read passes, the second is retried past its single failure, and both succeed
        assert (await table.get_entity("p", "r"))["Value"] == 1
        assert (await table.get_entity("p", "r"))["Value"] == 1
        assert faults.fired() == 1


async def test_latency_delays_but_succeeds(table) -> None:
    with faults.injected([{"match": f"table.{TABLE}.get", "fault": "latency", "latency_ms": 300}]):
        started = time.perf_counter()
        assert (await table.get_entity("p", "r"))["Value"] == 1
        assert time.perf_counter() - started >= 0.3


async def test_rules_come_from_a_file_named_by_the_setting_and_follow_its_changes(
    table, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given the setting names a rules file that asks for nothing yet
    rules = tmp_path / "rules.json"
    rules.write_text("[]")
    monkeypatch.setenv(faults.SETTING, f"@{rules}")
    assert (await table.get_entity("p", "r"))["Value"] == 1
    # When the file is rewritten with a drop rule
    rules.write_text(json.dumps([{"match": f"table.{TABLE}.get", "fault": "drop"}]))
    time.sleep(0.6)  # the file is re-read at most every 0.5 s
    # Then requests fail, and they succeed again once the file is emptied
    with pytest.raises(ServiceRequestError):
        await table.get_entity("p", "r")
    rules.write_text("[]")
    time.sleep(0.6)
    assert (await table.get_entity("p", "r"))["Value"] == 1


async def test_queue_sends_fail_through_the_same_seam(storage_connection_string: str) -> None:
    queue = ExecutionQueue(storage_connection_string, "faults-probe")
    try:
        await queue.ensure()
        with faults.injected([{"match": "queue.faults-probe.send", "fault": "error", "status": 503}]), \
                pytest.raises(HttpResponseError):
            await queue.send(ExecutionMessage("id", "GLOBAL"))
        await queue.send(ExecutionMessage("id", "GLOBAL"))
        assert await queue.approximate_count() == 1
    finally:
        await queue.close()


def test_a_bad_rule_is_refused_with_its_reason() -> None:
    with pytest.raises(ValueError, match="fault must be one of"):
        faults.install([{"match": "*", "fault": "explode"}])
    with pytest.raises(ValueError, match="Unknown fault rule field"):
        faults.install([{"match": "*", "fault": "drop", "when": "always"}])
    faults.clear()
