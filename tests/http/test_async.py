"""Asynchronous executions through function_app's functions: submit (202), the queue worker, cancel, poison,
idempotency, timeouts, listing, log filters and steps — against Azurite, with a burst worker draining the queue."""

import asyncio
import json
import threading
from http.server import BaseHTTPRequestHandler, HTTPServer

from shared.storage.queues import EXECUTIONS_QUEUE
from tests.http.conftest import Api
from tests.support.queue_drain import send_raw


async def test_async_run_from_202_to_success(api: Api, run_queue) -> None:
    # Given an async workflow submitted over HTTP
    status, body = await api.execute("later", {"value": "v1"})
    # Then it is accepted with 202, a Location, and a Pending record holding the request
    assert status == 202 and body["status"] == "Pending"
    execution_id = body["execution_id"]
    _, record = await api.execution(execution_id)
    assert record["status"] == "Pending" and record["input_data"] == {"value": "v1"}
    # When the queue is processed
    assert await run_queue() >= 1
    # Then the record holds the result and the logs
    _, record = await api.execution(execution_id)
    assert record["status"] == "Success" and record["output_data"] == {"value": "v1", "attempt_scope": "GLOBAL"}
    assert record["attempt"] == 1 and record["trigger"]["kind"] == "http"
    _, logs = await api.logs(execution_id)
    assert [line["message"] for line in logs["items"]] == ["queued run with v1"]


async def test_location_header_and_sync_mode_override(api: Api) -> None:
    status, body = await api.execute("later", {"value": "now"}, body_extra={"mode": "sync"})
    assert status == 200 and body["status"] == "Success"


async def test_invalid_async_input_is_422_and_nothing_is_queued(api: Api, run_queue) -> None:
    await run_queue()
    status, body = await api.execute("later", {"unexpected": 1})
    assert status == 422 and {d["field"] for d in body["error"]["details"]} == {"value", "unexpected"}
    assert await run_queue() == 0


async def test_duplicate_delivery_runs_once(api: Api, run_queue, storage_connection_string) -> None:
    # Given an async execution that ran
    _, body = await api.execute("later", {"value": "once"})
    await run_queue()
    # When its message is delivered again
    await send_raw(storage_connection_string, EXECUTIONS_QUEUE,
                   json.dumps({"execution_id": body["execution_id"], "scope": "GLOBAL"}))
    assert await run_queue() == 1
    # Then nothing ran again
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and record["attempt"] == 1
    _, logs = await api.logs(body["execution_id"])
    assert len(logs["items"]) == 1


async def test_cancel_while_pending(api: Api, run_queue) -> None:
    _, body = await api.execute("later", {"value": "never"})
    status, cancelled = await api.call("cancel_execution_by_id", "POST", "http://x/cancel",
                                       route={"execution_id": body["execution_id"]})
    assert status == 200 and cancelled["status"] == "Cancelled"
    await run_queue()
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Cancelled" and record["error_message"] == "Execution cancelled by user"
    assert record["output_data"] is None


async def test_cancel_of_a_finished_execution_is_409_with_its_status(api: Api) -> None:
    _, body = await api.execute("shout", {"text": "done"})
    status, error = await api.call("cancel_execution_by_id", "POST", "http://x/cancel",
                                   route={"execution_id": body["execution_id"]})
    assert status == 409 and error["error"]["details"] == {"status": "Success"}


async def test_queued_run_times_out(api: Api, run_queue) -> None:
    _, body = await api.execute("too_slow")
    await run_queue()
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Timeout" and "timed out after 1 seconds" in record["error_message"]


async def test_poison_message_fails_the_execution_unless_finished(api: Api, app_functions) -> None:
    from azure.functions.queue import QueueMessage

    _, pending = await api.execute("later", {"value": "poisoned"})
    _, finished = await api.execute("shout", {"text": "fine"})
    for body in (pending, finished):
        message = json.dumps({"execution_id": body["execution_id"], "scope": "GLOBAL"}).encode()
        await app_functions["handle_poisoned_execution"](QueueMessage(id="p", body=message, dequeue_count=1))
    _, record = await api.execution(pending["execution_id"])
    assert record["status"] == "Failed" and record["error_type"] == "PoisonMessage"
    assert "workflow-executions-poison" in record["error_message"]
    _, record = await api.execution(finished["execution_id"])
    assert record["status"] == "Success"


async def test_idempotency_key_returns_the_first_execution(api: Api, run_queue) -> None:
    await run_queue()
    extra = {"idempotency_key": "order-42"}
    first_status, first = await api.execute("later", {"value": "a"}, body_extra=extra)
    second_status, second = await api.execute("later", {"value": "a"}, body_extra=extra)
    other_scope_status, other = await api.execute("later", {"value": "a"}, body_extra=extra,
                                                  headers={"X-Organization-Id": "org-idem"})
    assert first_status == second_status == other_scope_status == 202
    assert second["execution_id"] == first["execution_id"] and second.get("duplicate") is True
    assert other["execution_id"] != first["execution_id"]
    assert await run_queue() == 2


async def test_listing_pages_newest_first_with_server_side_filters(api: Api, run_queue) -> None:
    # Given 250 executions in a fresh scope, every 10th of them cancelled
    scope = {"X-Organization-Id": "org-listing"}
    ids = []
    for n in range(250):
        _, body = await api.execute("listed", {"n": n}, headers=scope)
        ids.append(body["execution_id"])
    for execution_id in ids[::10]:
        await api.call("cancel_execution_by_id", "POST", "http://x/cancel", route={"execution_id": execution_id},
                       headers=scope)
    # When listing with limit=100 and continuation tokens
    seen = await _all_pages(api, scope, {"limit": "100"})
    # Then every execution is seen once, newest first, in 3 pages
    assert [item["id"] for page in seen for item in page] == list(reversed(ids))
    assert [len(page) for page in seen] == [100, 100, 50]
    # And a status filter yields full pages of only matching items
    cancelled = await _all_pages(api, scope, {"limit": "10", "status_filter": "Cancelled"})
    assert [len(page) for page in cancelled] == [10, 10, 5]
    assert [item["id"] for page in cancelled for item in page] == list(reversed(ids[::10]))
    assert {item["status"] for page in cancelled for item in page} == {"Cancelled"}
    other = await _all_pages(api, scope, {"limit": "100", "workflow_id": "later"})
    assert other == [[]]
    await run_queue()


async def _all_pages(api: Api, headers: dict, params: dict) -> list[list[dict]]:
    pages, token = [], None
    while True:
        query = dict(params, **({"continuation_token": token} if token else {}))
        status, body = await api.call("list_execution_page", "GET", "http://x/executions", params=query,
                                      headers=headers)
        assert status == 200
        pages.append(body["items"])
        token = body["continuation_token"]
        if not token:
            return pages


async def test_listing_rejects_bad_filters(api: Api) -> None:
    status, body = await api.call("list_execution_page", "GET", "http://x/executions",
                                  params={"limit": "500", "status_filter": "Done", "offset": "x"})
    assert status == 422
    assert {d["field"] for d in body["error"]["details"]} == {"limit", "status_filter", "offset"}


class _Service(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        self.send_response(201)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args) -> None:
        pass


async def test_steps_and_log_filters(api: Api, run_queue) -> None:
    # Given a local HTTP service and a workflow with two steps, one calling the service through context.http
    server = HTTPServer(("127.0.0.1", 0), _Service)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    url = f"http://127.0.0.1:{server.server_port}/users"
    try:
        _, body = await api.execute("stepper", {"url": url})
        await run_queue()
    finally:
        server.shutdown()
    execution_id = body["execution_id"]
    _, record = await api.execution(execution_id)
    assert record["status"] == "Success" and record["output_data"] == {"status": 201}
    # Then the steps are recorded in order, the http call as a step of type http (without its query string)
    status, steps = await api.call("get_execution_step_records", "GET", "http://x/steps",
                                   route={"execution_id": execution_id})
    assert status == 200
    summary = [(s["execution_order"], s["step_name"], s["step_type"], s["status"]) for s in steps["items"]]
    assert summary == [
        (1, "prepare", "transform", "Success"),
        (2, "call service", "api", "Success"),
        (3, f"GET 127.0.0.1:{server.server_address[1]}/users", "http", "Success"),
    ]
    assert steps["items"][0]["output_data"] == {"ready": True}
    assert steps["items"][2]["input_data"] == {"method": "GET", "url": url}
    assert "secret" not in json.dumps(steps)
    # And log lines carry their step, and filter by step, level, errors and position
    _, logs = await api.logs(execution_id)
    assert [(line["message"], line.get("step_name")) for line in logs["items"]] == [
        ("preparing the call", "prepare"),
        ("service answered 201", "call service"),
        ("an error line outside any step", None),
    ]
    _, by_step = await api.logs(execution_id, params={"step_type": "api"})
    assert [line["message"] for line in by_step["items"]] == ["service answered 201"]
    _, warnings = await api.logs(execution_id, params={"level": "warning"})
    assert len(warnings["items"]) == 2
    _, errors = await api.logs(execution_id, params={"has_error": "true"})
    assert [line["message"] for line in errors["items"]] == ["an error line outside any step"]
    _, tail = await api.logs(execution_id, params={"after": "2"})
    assert [line["sequence"] for line in tail["items"]] == [3]
    _, limited = await api.logs(execution_id, params={"limit": "1"})
    assert len(limited["items"]) == 1
    status, _ = await api.logs(execution_id, params={"level": "loud"})
    assert status == 422


async def test_concurrent_deliveries_of_one_message_start_one_run(api: Api, app_functions) -> None:
    from azure.functions.queue import QueueMessage

    # Given one pending execution and two deliveries of its message at the same moment
    _, body = await api.execute("later", {"value": "race"})
    message = json.dumps({"execution_id": body["execution_id"], "scope": "GLOBAL"}).encode()
    deliveries = [QueueMessage(id=str(i), body=message, dequeue_count=1) for i in range(2)]
    await asyncio.gather(*(app_functions["run_queued_execution"](m) for m in deliveries))
    # Then exactly one run happened
    _, logs = await api.logs(body["execution_id"])
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Success" and len(logs["items"]) == 1


async def test_running_execution_can_be_tailed_with_after(api: Api, run_queue) -> None:
    # Given an async execution that logs a line, then keeps running for 6 s (ample time to read it while it runs,
    # also on a busy machine)
    _, body = await api.execute("tail_me", {"seconds": 6})
    execution_id = body["execution_id"]
    worker = asyncio.ensure_future(run_queue())
    try:
        # When its logs are read while it still runs
        for _ in range(40):
            _, logs = await api.logs(execution_id, params={"after": "0"})
            if logs["items"]:
                break
            await asyncio.sleep(0.1)
        _, record = await api.execution(execution_id)
        # Then the first line is already there, and the execution is still Running
        assert [line["message"] for line in logs["items"]] == ["first"] and record["status"] == "Running"
        _, nothing_new = await api.logs(execution_id, params={"after": str(logs["last_sequence"])})
        assert nothing_new["items"] == [] and nothing_new["last_sequence"] == 1
    finally:
        await worker
    # And once it finished, every line is stored once, in order
    _, logs = await api.logs(execution_id)
    assert [(line["sequence"], line["message"]) for line in logs["items"]] == [(1, "first"), (2, "second")]
