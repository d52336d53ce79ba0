"""The host's limits devhost imitates: functionTimeout (with the worker recycle it causes) and refused routes."""

from __future__ import annotations

import json
import subprocess
import sys

import httpx
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tests.devhost.conftest import REPO_ROOT, AppUnderTest, free_port, wait_until


def set_function_timeout(app: AppUnderTest, timespan: str) -> None:
    path = app.root / "host.json"
    document = json.loads(path.read_text())
    document["functionTimeout"] = timespan
    path.write_text(json.dumps(document))


def test_an_invocation_past_function_timeout_fails_and_recycles_the_host(make_app, start_devhost) -> None:
    # Given functionTimeout 00:00:01 in host.json
    app = make_app()
    set_function_timeout(app, "00:00:01")
    host = start_devhost(app)
    for route in ("sleep", "slow"):  # a sync function (blocking its thread), then an async one
        restarts = host.log().count("Host started")
        # When an invocation runs past the timeout
        response = httpx.get(f"{host.base_url}/api/{route}?seconds=60", timeout=30)
        # Then the caller gets 500 and the host logs the host's timeout line
        assert response.status_code == 500
        host.wait_for_log(rf"Timeout value of 00:00:01 exceeded by function 'Functions.{route}' \(Id: '[0-9a-f-]+'\)")
        # And the worker (here the whole devhost process, same PID) restarts, abandoning the invocation
        host.wait_for_log(r"A function timeout has occurred. Restarting worker process executing invocationId")
        wait_until(lambda n=restarts: host.log().count("Host started") > n, timeout=30)
        assert httpx.get(f"{host.base_url}/api/ping", timeout=10).text == "pong"
        assert host.process.poll() is None
    # And the abandoned calls never completed, and the start-up timer did not fire again on the recycles
    assert "Executed 'Functions.sleep' (Succeeded" not in host.log()
    assert "did not stop within" not in host.log()  # the recycle did not wait for the blocked thread
    assert len(app.read("startup")) == 1


def run_until_exit(app: AppUnderTest) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "devhost", "--script-root", str(app.root), "--port", str(free_port())]
    return subprocess.run(command, cwd=REPO_ROOT, capture_output=True, text=True, timeout=60)


def test_a_route_constraint_devhost_does_not_implement_stops_the_start_up(make_app) -> None:
    # Given a function whose route uses ASP.NET's `file` constraint, which devhost does not implement
    app = make_app(DEVHOST_TEST_EXTRA_ROUTE="downloads/{name:file}")
    # When devhost starts
    result = run_until_exit(app)
    # Then it refuses with a configuration error naming the function and the constraint, and hosts nothing
    assert result.returncode == 2
    assert "Function 'extra' has the route 'downloads/{name:file}', which devhost refuses" in result.stderr
    assert "does not implement the route constraint 'file'" in result.stderr
    assert "Host started" not in result.stderr


def test_a_function_timeout_the_consumption_plan_refuses_stops_the_start_up(make_app) -> None:
    # Given functionTimeout 02:00:00 and the Consumption plan (WEBSITE_SKU=Dynamic), whose limit is 10 minutes
    app = make_app(WEBSITE_SKU="Dynamic")
    set_function_timeout(app, "02:00:00")
    result = run_until_exit(app)
    # Then devhost refuses it as the host does
    assert result.returncode == 2
    assert "FunctionTimeout must be greater than 00:00:01 and less than 00:10:00" in result.stderr


def test_without_a_catch_all_a_wrong_method_or_head_is_the_hosts_bare_404(make_app, start_devhost) -> None:
    # Given the test app without its catch-all function
    host = start_devhost(make_app(**{"AzureWebJobs.not_found.Disabled": "true"}))
    with httpx.Client(base_url=host.base_url, timeout=30) as client:
        # When a route exists for the path but not for the method (HEAD included)
        wrong = client.patch("/api/workflows/greet")
        head = client.head("/api/ping")
        # Then the answer is a bodiless 404, not 405: methods are route constraints in the host
        assert (wrong.status_code, wrong.content, "allow" in wrong.headers) == (404, b"", False)
        assert head.status_code == 404
        assert client.get("/api/workflows/greet").status_code == 200


def test_a_queue_message_past_function_timeout_is_retried_after_the_recycle(
    make_app, start_devhost, storage_connection_string: str
) -> None:
    # Given functionTimeout 00:00:01 and a queue message whose function takes 60 s
    app = make_app()
    set_function_timeout(app, "00:00:01")
    start_devhost(app, http=False)
    QueueClient.from_connection_string(
        storage_connection_string, app.queue("slow"), message_encode_policy=TextBase64EncodePolicy()
    ).send_message(json.dumps({"seconds": 60}))
    # When it times out, the failed delivery is settled as a failure (visible again after visibilityTimeout 0)
    # Then the recycled host receives it again at once, as the host's queue listener retries a failed invocation
    starts = wait_until(lambda: len(app.read("slow-start")) >= 2 and app.read("slow-start"), timeout=30)
    assert [s["dequeue_count"] for s in starts[:2]] == [1, 2]
    assert not app.read("slow-done")
