"""End to end through function_app's HTTP functions, with records and logs read back from Table storage."""

import asyncio
import base64

from tests.http.conftest import ADMIN_KEY, Api


async def test_list_workflows_shows_platform_and_workspace_functions(api: Api) -> None:
    status, body = await api.call("list_workflows", "GET", "http://localhost/api/workflows")
    assert status == 200
    by_name = {item["name"]: item for item in body["items"]}
    assert {"greet", "convert_time", "text_stats", "shout"} <= set(by_name)
    assert "time_zones" not in by_name  # a data provider only, not a workflow
    greet = by_name["greet"]
    assert greet["execution_mode"] == "sync" and greet["endpoint_enabled"] is True
    assert greet["parameters"][0] == {"name": "name", "type": "string", "label": "Name", "required": True,
                                      "default_value": None, "data_provider": None, "help_text": "Who to greet"}
    assert by_name["convert_time"]["parameters"][1]["data_provider"] == "time_zones"
    assert by_name["shout"]["source"] == "workspace" and greet["source"] == "platform"


async def test_sync_execution_end_to_end_with_stored_record_and_logs(api: Api) -> None:
    # Given a workspace workflow that imports its own helper package
    # When it is executed over HTTP
    status, body = await api.execute("shout", {"text": "hello"})
    # Then it answers with its result and log lines
    assert status == 200
    assert body["status"] == "Success" and body["output_data"] == {"shouted": "HELLO!"}
    assert [line["message"] for line in body["logs"]] == ["shouting hello"]
    assert body["error_message"] is None and body["duration_ms"] >= 0
    # And the record and logs read back from Table storage say the same
    status, record = await api.execution(body["execution_id"])
    assert status == 200
    assert record["status"] == "Success" and record["workflow_id"] == "shout"
    assert record["input_data"] == {"text": "hello"} and record["output_data"] == {"shouted": "HELLO!"}
    assert record["trigger"] == {"kind": "http"} and record["scope"] == "GLOBAL"
    assert record["started_at"] <= record["completed_at"]
    status, logs = await api.logs(body["execution_id"])
    assert status == 200
    assert [(line["sequence"], line["level"], line["logger"], line["message"]) for line in logs["items"]] == [
        (1, "INFO", "workflow.shout", "shouting hello")
    ]


async def test_platform_example_greet(api: Api) -> None:
    status, body = await api.execute("greet", {"name": "Ada", "times": "2", "formal": "yes"})
    assert status == 200 and body["output_data"]["greetings"] == ["Good day, Ada!", "Good day, Ada!"]


async def test_platform_example_convert_time_rejects_unknown_zone(api: Api) -> None:
    status, body = await api.execute("convert_time", {"time": "2026-03-29T09:30", "from_zone": "Mars/Olympus",
                                                      "to_zones": "UTC"})
    assert status == 200 and body["status"] == "Failed" and body["error_type"] == "UserError"
    assert "Unknown time zone 'Mars/Olympus'" in body["error_message"]


async def test_failed_workflow_still_answers_200_with_its_status(api: Api) -> None:
    status, body = await api.execute("refuse", {"reason": "quota"})
    assert status == 200
    assert (body["status"], body["error_type"], body["error_message"]) == ("Failed", "UserError", "Refused: quota")
    _, record = await api.execution(body["execution_id"])
    assert record["status"] == "Failed" and record["error_message"] == "Refused: quota"


async def test_invalid_input_is_422_naming_each_field_and_stores_nothing(api: Api) -> None:
    status, body = await api.execute("greet", {"times": "many", "colour": "red"})
    assert status == 422
    assert body["error"]["code"] == "validation_error"
    assert {d["field"] for d in body["error"]["details"]} == {"name", "times", "colour"}


async def test_malformed_json_is_400(api: Api) -> None:
    status, body = await api.call("execute_workflow", "POST", "http://localhost/api/workflows/greet/execute",
                                  raw=b"{not json", route={"name": "greet"})
    assert status == 400 and body["error"]["code"] == "bad_request"


async def test_wrong_body_shape_is_422(api: Api) -> None:
    status, body = await api.call("execute_workflow", "POST", "http://localhost/api/workflows/greet/execute",
                                  body={"input_data": [1], "inputs": {}}, route={"name": "greet"})
    assert status == 422
    assert {d["field"] for d in body["error"]["details"]} == {"input_data", "inputs"}


async def test_missing_or_wrong_key_is_401(api: Api) -> None:
    status, body = await api.execute("greet", {"name": "x"}, key=None)
    assert status == 401 and "Missing API key" in body["error"]["message"]
    status, body = await api.execute("greet", {"name": "x"}, key="wrong")
    assert status == 401 and body["error"]["message"] == "Invalid API key."
    status, _ = await api.execute("greet", {"name": "x"}, key=None, headers={"Authorization": f"Bearer {ADMIN_KEY}"})
    assert status == 200


async def test_unknown_workflow_and_execution_are_404(api: Api) -> None:
    status, body = await api.execute("does_not_exist")
    assert status == 404 and body["error"]["code"] == "workflow_not_found"
    status, body = await api.execution("00000000-0000-8000-8000-000000000000")
    assert status == 404 and body["error"]["code"] == "execution_not_found"
    status, _ = await api.logs("not-an-id")
    assert status == 404


async def test_execution_of_another_scope_is_404(api: Api) -> None:
    _, body = await api.execute("shout", {"text": "mine"}, headers={"X-Organization-Id": "org-a"})
    status, _ = await api.execution(body["execution_id"], headers={"X-Organization-Id": "org-b"})
    assert status == 404
    status, record = await api.execution(body["execution_id"], headers={"X-Organization-Id": "org-a"})
    assert status == 200 and record["scope"] == "org-a"


async def test_inline_script_runs_for_admins(api: Api) -> None:
    code = base64.b64encode(b"doubled = [x * 2 for x in numbers]\nresult = sum(doubled)\nprint(result)").decode()
    status, body = await api.call("execute_script", "POST", "http://localhost/api/scripts/execute",
                                  body={"code": code, "name": "doubler", "input_data": {"numbers": [1, 2, 3]}})
    assert status == 200 and body["status"] == "Success"
    assert body["output_data"] == 12 and body["variables"] == {"doubled": [2, 4, 6], "result": 12}
    _, record = await api.execution(body["execution_id"])
    assert record["workflow_id"] == "doubler" and record["variables"]["doubled"] == [2, 4, 6]


async def test_script_that_does_not_compile_is_422(api: Api) -> None:
    code = base64.b64encode(b"if True print(1)").decode()
    status, body = await api.call("execute_script", "POST", "http://localhost/api/scripts/execute",
                                  body={"code": code})
    assert status == 422 and body["error"]["details"][0]["field"] == "code"


async def test_health_with_the_admin_key_reports_load_errors(api: Api) -> None:
    status, body = await api.call("health", "GET", "http://localhost/api/health")
    assert status == 200 and body["status"] == "ok" and body["storage"]["reachable"] is True
    assert body["workflows"] >= 8 and body["data_providers"] >= 1
    assert [e["path"].rsplit("/", 1)[-1] for e in body["load_errors"]] == ["broken_module.py"]
    assert "this module is broken on purpose" in body["load_errors"][0]["error"]
    assert [(s["path"].rsplit("/", 1)[-1], s["reason"]) for s in body["load_skipped"]] == [
        ("drafts", "matched .conduitignore: drafts/")
    ]


async def test_fifty_concurrent_executions_store_only_their_own_lines(api: Api) -> None:
    # Given 50 executions at once, each logging its marker 100 times each from logging, print and a thread
    markers = [f"c{i:02d}" for i in range(50)]
    responses = await asyncio.gather(*(api.execute("noisy", {"marker": m}) for m in markers))
    # Then each execution's stored logs hold exactly its own 300 lines
    for marker, (status, body) in zip(markers, responses, strict=True):
        assert status == 200 and body["status"] == "Success"
        _, logs = await api.logs(body["execution_id"])
        messages = [line["message"] for line in logs["items"]]
        assert len(messages) == 300 and all(m.startswith(f"{marker} ") for m in messages)


async def test_one_mebibyte_result_round_trips(api: Api) -> None:
    size = 1024 * 1024
    status, body = await api.execute("big_result", {"size": size})
    assert status == 200 and body["status"] == "Success"
    _, record = await api.execution(body["execution_id"])
    assert record["output_data"] == body["output_data"] and len(record["output_data"]["blob"]) == size


async def test_ten_thousand_log_lines_round_trip(api: Api) -> None:
    status, body = await api.execute("many_logs", {"lines": 10_000})
    assert status == 200 and len(body["logs"]) == 10_000
    _, logs = await api.logs(body["execution_id"])
    items = logs["items"]
    assert len(items) == 10_000
    assert [line["sequence"] for line in items] == list(range(1, 10_001))
    assert items[0]["message"] == "line 00000" and items[-1]["message"] == "line 09999"


async def test_platform_example_check_sites_reports_down_sites(api: Api) -> None:
    import threading
    from http.server import BaseHTTPRequestHandler, HTTPServer

    class Site(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            self.send_response(200 if self.path == "/up" else 503)
            self.end_headers()

        def log_message(self, *args) -> None:
            pass

    # Given one site that answers 200 and one that answers 503
    server = HTTPServer(("127.0.0.1", 0), Site)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_port}"
    try:
        status, body = await api.execute("check_sites", {"urls": f"{base}/up, {base}/down"},
                                         body_extra={"mode": "sync"})
    finally:
        server.shutdown()
    # Then the run completes with errors, naming the site that is down
    assert status == 200 and body["status"] == "CompletedWithErrors"
    assert body["error_message"] == "1 of 2 site(s) did not answer 200"
    assert body["output_data"]["down"] == [f"{base}/down"]
    assert [line["message"] for line in body["logs"]] == [f"{base}/up -> 200", f"{base}/down -> 503"]


async def test_each_listed_workflow_has_its_input_schema(api: Api) -> None:
    # Given the platform's greet workflow (name required, times defaulting to 1, formal a bool)
    status, body = await api.call("list_workflows", "GET", "http://localhost/api/workflows")
    assert status == 200
    greet = next(item for item in body["items"] if item["name"] == "greet")
    # Then its entry carries the JSON Schema of its input: titles, help texts, defaults, required
    schema = greet["input_schema"]
    assert schema["type"] == "object" and schema["required"] == ["name"] and schema["additionalProperties"] is False
    assert schema["properties"]["name"] == {"type": "string", "title": "Name", "description": "Who to greet"}
    assert schema["properties"]["times"] == {"type": "integer", "title": "Times", "default": 1,
                                             "description": "How many greetings (1-10)"}
    assert schema["properties"]["formal"] == {"type": "boolean", "title": "Formal", "default": False}
    assert all(isinstance(item["input_schema"], dict) for item in body["items"])
