"""Hostile input through function_app's HTTP and queue functions, against Azurite: every answer is a clear 4xx (or
a terminal record), never a 500, and nothing is stored that a strict JSON parser could not read back."""

from __future__ import annotations

import base64
import contextlib
import json
import logging
from typing import Any

import azure.functions as func
import pytest
from azure.core.exceptions import ResourceExistsError
from azure.functions.queue import QueueMessage
from azure.storage.queue.aio import QueueClient

from shared.storage.queues import EXECUTIONS_QUEUE, POISON_QUEUE
from tests.http.conftest import ADMIN_KEY, Api
from tests.support.queue_drain import drain

EXECUTE_URL = "http://localhost/api/workflows/{name}/execute"


def strict_json(text: bytes | str) -> Any:
    """What a browser's JSON.parse accepts: NaN and Infinity are not JSON."""

    def refuse(constant: str) -> Any:
        raise ValueError(f"{constant} is not JSON")

    return json.loads(text, parse_constant=refuse)


async def call_raw(api: Api, function: str, url: str, raw: bytes, route: dict[str, str] | None = None,
                   headers: dict[str, str] | None = None) -> tuple[int, func.HttpResponse]:
    request = func.HttpRequest("POST", url, headers={"Content-Type": "application/json", "x-api-key": ADMIN_KEY,
                                                     **(headers or {})}, route_params=route or {}, body=raw)
    response: func.HttpResponse = await api.functions[function](request)
    return response.status_code, response


async def execute_raw(api: Api, name: str, raw: bytes) -> tuple[int, Any]:
    status, response = await call_raw(api, "execute_workflow", EXECUTE_URL.format(name=name), raw, {"name": name})
    return status, strict_json(response.get_body())


async def stored_ids(api: Api, workflow: str) -> set[str]:
    status, body = await api.call("list_execution_page", "GET", "http://localhost/api/workflows/executions",
                                  params={"workflow_id": workflow, "limit": "100"})
    assert status == 200
    return {item["id"] for item in body["items"]}


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


# --- deeply nested JSON ------------------------------------------------------------------------------------------

@pytest.mark.parametrize("name", ["echo_any", "echo_async"])
async def test_json_nested_100000_levels_is_400_and_stores_nothing(api: Api, name: str) -> None:
    # Given a body whose input is nested 100,000 levels deep (a RecursionError for Python's json)
    before = await stored_ids(api, name)
    raw = b'{"input_data": {"payload": ' + nested(100_000).encode() + b"}}"
    # When it is posted
    status, body = await execute_raw(api, name, raw)
    # Then it is a 400 that says why, and nothing was stored
    assert status == 400 and body["error"]["code"] == "bad_request"
    assert "nested more than 64 levels" in body["error"]["message"]
    assert await stored_ids(api, name) == before


async def test_nesting_past_64_levels_is_refused_clearly_and_below_it_runs(api: Api) -> None:
    # Given a body 70 levels deep: parseable, but past the limit
    status, body = await execute_raw(api, "echo_any", b'{"input_data": {"payload": ' + nested(68).encode() + b"}}")
    # Then it is refused before validation with the limit and where it was crossed
    assert status == 400 and body["error"]["details"] == {"max_depth": 64}
    assert "at 'input_data.payload.0.0" in body["error"]["message"]
    # And a payload 60 levels deep (62 with the body and input_data) is accepted and round-trips
    status, body = await execute_raw(api, "echo_any", b'{"input_data": {"payload": ' + nested(60).encode() + b"}}")
    assert status == 200 and body["status"] == "Success"
    assert json.dumps(body["output_data"]["payload"], separators=(",", ":")) == nested(60)


async def test_deep_json_in_a_script_body_is_400(api: Api) -> None:
    raw = b'{"code": "eD0x", "input_data": {"a": ' + nested(5000).encode() + b"}}"
    status, response = await call_raw(api, "execute_script", "http://localhost/api/scripts/execute", raw)
    assert status == 400 and strict_json(response.get_body())["error"]["code"] == "bad_request"


# --- NaN, Infinity, 1e400 ----------------------------------------------------------------------------------------

@pytest.mark.parametrize("literal", [b"NaN", b"Infinity", b"-Infinity", b"1e400", b"-1e400"])
@pytest.mark.parametrize("name", ["echo_any", "echo_async"])
async def test_non_finite_numbers_in_a_body_are_422_naming_the_field(api: Api, name: str, literal: bytes) -> None:
    # Given a body with a number JSON cannot hold, next to fine ones
    before = await stored_ids(api, name)
    raw = b'{"input_data": {"payload": {"ok": 1.5, "f": ' + literal + b', "list": [1, 2]}}}'
    # When it is posted
    status, body = await execute_raw(api, name, raw)
    # Then it is a 422 naming exactly that field, and nothing was stored
    assert status == 422 and body["error"]["code"] == "validation_error"
    [detail] = body["error"]["details"]
    assert detail["field"] == "input_data.payload.f" and "must be a finite number" in detail["message"]
    assert await stored_ids(api, name) == before


async def test_every_non_finite_field_is_named_at_once(api: Api) -> None:
    raw = b'{"input_data": {"payload": {"a": NaN, "b": [1, Infinity], "c": {"d": -Infinity}}}}'
    status, body = await execute_raw(api, "echo_any", raw)
    assert status == 422
    assert [d["field"] for d in body["error"]["details"]] == [
        "input_data.payload.a", "input_data.payload.b.1", "input_data.payload.c.d"
    ]


@pytest.mark.parametrize("text", ["nan", "inf", "-Infinity", "1e400"])
async def test_float_parameter_text_that_is_not_a_finite_number_is_422(api: Api, text: str) -> None:
    before = await stored_ids(api, "takes_float")
    status, body = await api.execute("takes_float", {"x": text})
    assert status == 422 and [d["field"] for d in body["error"]["details"]] == ["x"]
    assert "finite" in body["error"]["details"][0]["message"]
    assert await stored_ids(api, "takes_float") == before


async def test_json_parameter_text_with_nan_or_deep_nesting_is_422(api: Api) -> None:
    for text, expected in [('{"f": NaN}', "finite"), (nested(5000), "nested more than 64")]:
        status, body = await api.execute("echo_any", {"payload": text})
        assert status == 422, text[:20]
        assert body["error"]["details"][0]["field"] == "payload" and expected in body["error"]["details"][0]["message"]


@pytest.mark.parametrize("which", ["nan", "inf", "-inf"])
async def test_a_result_with_a_non_finite_number_is_failed_result_not_serializable(api: Api, which: str) -> None:
    # Given a workflow that returns {"ok": 1, "f": NaN} (or an infinity)
    status, response = await call_raw(api, "execute_workflow", EXECUTE_URL.format(name="not_finite"),
                                      json.dumps({"input_data": {"which": which}}).encode(), {"name": "not_finite"})
    # Then the run is Failed with ResultNotSerializable naming the field, and the answer is strict JSON
    body = strict_json(response.get_body())
    assert status == 200 and (body["status"], body["error_type"]) == ("Failed", "ResultNotSerializable")
    assert "result.f must be a finite number" in body["error_message"] and body["output_data"] is None
    # And what was stored reads back as strict JSON too
    record = await api.functions["get_execution_by_id"](func.HttpRequest(
        "GET", "http://localhost/x", headers={"x-api-key": ADMIN_KEY}, route_params={"execution_id":
                                                                                    body["execution_id"]}, body=b""))
    stored = strict_json(record.get_body())
    assert stored["status"] == "Failed" and stored["error_type"] == "ResultNotSerializable"


async def test_a_script_result_with_nan_is_result_not_serializable_and_variables_stay_json(api: Api) -> None:
    code = base64.b64encode(b"other = float('inf')\nresult = {'f': float('nan')}\n").decode()
    status, response = await call_raw(api, "execute_script", "http://localhost/api/scripts/execute",
                                      json.dumps({"code": code}).encode())
    body = strict_json(response.get_body())
    assert status == 200 and (body["status"], body["error_type"]) == ("Failed", "ResultNotSerializable")
    assert body["variables"]["other"] == "<inf>" and body["variables"]["result"] == {"f": "<nan>"}


# --- keys that are not UTF-8 -------------------------------------------------------------------------------------

@pytest.mark.parametrize(
    "headers",
    [
        {"x-api-key": "\udcff\udcfe"},  # how aiohttp (devhost) hands over the bytes FF FE: lone surrogates
        {"x-api-key": ADMIN_KEY + "\udcff"},
        {"x-api-key": "ÿþ"},  # how a host that decodes headers as Latin-1 hands them over
        {"Authorization": "Bearer \udcff" + ADMIN_KEY},
        {"Authorization": "Bearer ÿ"},
        {"Authorization": "\udcff"},
    ],
)
async def test_a_key_header_that_is_not_utf8_is_401(api: Api, headers: dict[str, str]) -> None:
    status, body = await api.call("list_workflows", "GET", "http://localhost/api/workflows", headers=headers,
                                  key=None)
    assert status == 401 and body["error"]["code"] == "unauthorized"


async def test_a_non_utf8_key_is_401_before_anything_is_stored(api: Api) -> None:
    before = await stored_ids(api, "echo_any")
    status, answer = await api.execute("echo_any", {"payload": 1}, headers={"x-api-key": "\udcff"}, key=None)
    assert status == 401 and answer["error"]["code"] == "unauthorized" and await stored_ids(api, "echo_any") == before


# --- unreadable queue messages ----------------------------------------------------------------------------------

UNREADABLE = {
    b"this is not json": "not JSON",
    b"\xff\xfe\xfd not utf-8": "not UTF-8 text",
    nested(20_000).encode(): "nested too deeply",  # as deep as fits in a 64 KiB message; Python gives up at ~1000
    b'{"execution_id": "x", "scope": "GLOBAL", "extra": ' + nested(50).encode() + b"}": "nested too deeply",
    b"[1, 2, 3]": "not a JSON object",
    b'{"execution_id": {"a": 1}, "scope": "GLOBAL"}': "execution_id must be a non-empty string",
    b'{"execution_id": "a/b", "scope": "GLOBAL"}': "execution_id must not contain",
}


async def send_bytes(connection_string: str, queue_name: str, data: bytes) -> None:
    """Put any bytes on a queue, base64 as the Functions host expects, as another service could."""
    async with QueueClient.from_connection_string(connection_string, queue_name) as client:
        with contextlib.suppress(ResourceExistsError):
            await client.create_queue()
        await client.send_message(base64.b64encode(data).decode())


async def test_unreadable_messages_go_to_poison_at_once_with_one_error_line_each(
    app_functions, storage_connection_string: str, caplog: pytest.LogCaptureFixture
) -> None:
    # Given whatever is already queued is processed, and then one message of each unreadable kind
    run = app_functions["run_queued_execution"]
    await send_bytes(storage_connection_string, POISON_QUEUE, b'{"execution_id": "none", "scope": "GLOBAL"}')
    await drain(storage_connection_string, EXECUTIONS_QUEUE, run)
    await drain(storage_connection_string, POISON_QUEUE, app_functions["handle_poisoned_execution"])
    for data in UNREADABLE:
        await send_bytes(storage_connection_string, EXECUTIONS_QUEUE, data)
    caplog.set_level(logging.INFO)
    caplog.clear()
    # When the queue worker processes them: each is acknowledged on its first delivery (drain deletes on return)
    delivered = await drain(storage_connection_string, EXECUTIONS_QUEUE, run)
    assert [m.dequeue_count for m in delivered] == [1] * len(UNREADABLE)
    # And nothing was logged at ERROR yet: the worker only forwards them
    assert [r for r in caplog.records if r.levelno >= logging.WARNING] == []
    # When the poison handler processes what was forwarded
    poisoned = await drain(storage_connection_string, POISON_QUEUE, app_functions["handle_poisoned_execution"])
    # Then it received the exact bytes, and logged exactly one error line per message, naming why, and no traceback
    assert sorted(m.get_body() for m in poisoned) == sorted(UNREADABLE)
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(errors) == len(UNREADABLE) and all(r.exc_info is None for r in errors)
    for record, data in zip(errors, poisoned, strict=True):
        assert record.name == "conduit.poison" and UNREADABLE[data.get_body()] in record.getMessage()
        assert len(record.getMessage()) < 400


async def test_deep_json_straight_to_the_poison_handler_is_dropped_with_one_line(
    app_functions, caplog: pytest.LogCaptureFixture
) -> None:
    # Given a poison message nested 100,000 levels deep (it used to fail the handler forever)
    caplog.set_level(logging.INFO)
    caplog.clear()
    handler = app_functions["handle_poisoned_execution"]
    # When the handler is called with it, it returns normally (the host deletes it) with one line
    await handler(QueueMessage(id="deep", body=nested(100_000).encode(), dequeue_count=1))
    errors = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert [(r.name, "nested too deeply" in r.getMessage()) for r in errors] == [("conduit.poison", True)]


# --- programmatic callers -----------------------------------------------------------------------------------------

async def test_programmatic_input_with_nan_is_refused_before_storage(api: Api) -> None:
    from shared.errors import InputValidationError
    from shared.runtime import execute_workflow

    before = await stored_ids(api, "echo_async")
    with pytest.raises(InputValidationError) as caught:
        await execute_workflow(workflow_name="echo_async", input_data={"payload": {"f": float("nan")}})
    assert caught.value.details == [{"field": "payload.f", "message": caught.value.details[0]["message"]}]
    assert "finite" in caught.value.details[0]["message"]
    assert await stored_ids(api, "echo_async") == before


async def test_nothing_stored_serialises_as_invalid_json_even_from_code(api: Api) -> None:
    # Given a scheduler-like caller whose trigger metadata carries an infinity
    from shared.runtime import execute_workflow

    execution_id = await execute_workflow(workflow_name="echo_any", input_data={"payload": 1}, wait=True,
                                          trigger_payload={"kind": "schedule"}, metadata={"ratio": float("inf")})
    # Then the stored record reads back as strict JSON, the infinity kept as a marker string
    response = await api.functions["get_execution_by_id"](func.HttpRequest(
        "GET", "http://localhost/x", headers={"x-api-key": ADMIN_KEY}, route_params={"execution_id": execution_id},
        body=b""))
    record = strict_json(response.get_body())
    assert record["status"] == "Success" and record["trigger"]["metadata"] == {"ratio": "<inf>"}
