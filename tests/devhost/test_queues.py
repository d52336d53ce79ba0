"""devhost's queue trigger, end to end: messages sent with the Azure SDK as another service would send them."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections.abc import Callable

import httpx
from azure.core.exceptions import ResourceNotFoundError
from azure.storage.queue import QueueClient, TextBase64EncodePolicy

from tests.devhost.conftest import AppUnderTest, Devhost, wait_until


def queue(connection: str, name: str, *, base64: bool = True) -> QueueClient:
    policy = TextBase64EncodePolicy() if base64 else None
    client = QueueClient.from_connection_string(connection, name, message_encode_policy=policy)
    return client


def peek(client: QueueClient) -> list:
    """Visible messages, or none while the queue does not exist yet (the host creates poison queues on demand)."""
    try:
        return list(client.peek_messages(max_messages=32))
    except ResourceNotFoundError:
        return []


def settled(client: QueueClient) -> bool:
    """True once the queue holds no message, visible or not (so each one was deleted or moved)."""
    return client.get_queue_properties().approximate_message_count == 0


def test_base64_message_reaches_its_function_with_metadata(
    make_app: Callable[..., AppUnderTest], start_devhost, storage_connection_string: str
) -> None:
    # Given a running host and a message sent base64-encoded, as the Functions default expects
    app = make_app()
    start_devhost(app, http=False)
    sender = queue(storage_connection_string, app.queue("work"))
    sent = sender.send_message(json.dumps({"hello": "world"}))
    # When the host picks it up
    [event] = wait_until(lambda: app.read("work"), timeout=10)
    # Then the function saw the decoded body and the message's metadata, and the message is gone
    assert json.loads(event["body"]) == {"hello": "world"}
    assert event["id"] == sent.id
    assert event["dequeue_count"] == 1
    assert event["insertion_time"] and event["expiration_time"] and event["time_next_visible"]
    assert event["pop_receipt"]
    wait_until(lambda: settled(sender), timeout=5)


def test_message_encoding_none_passes_the_raw_text(make_app, start_devhost, storage_connection_string: str) -> None:
    # Given host.json's messageEncoding overridden to "none" through an app setting, as the host allows
    app = make_app(AzureFunctionsJobHost__extensions__queues__messageEncoding="none")
    start_devhost(app, http=False)
    queue(storage_connection_string, app.queue("work"), base64=False).send_message("plain text")
    [event] = wait_until(lambda: app.read("work"), timeout=10)
    assert event["body"] == "plain text"


def test_failing_message_is_retried_then_moved_to_poison(
    make_app, start_devhost, storage_connection_string: str
) -> None:
    # Given a function that always fails and host.json maxDequeueCount 3
    app = make_app()
    host: Devhost = start_devhost(app, http=False)
    sender = queue(storage_connection_string, app.queue("fail"))
    sender.send_message("doomed")
    # When the host has given up on it
    poison = QueueClient.from_connection_string(storage_connection_string, app.queue("fail") + "-poison")
    wait_until(lambda: peek(poison), timeout=15)
    # Then the function saw dequeue counts 1..3, and the message sits in <queue>-poison still base64-encoded
    assert [e["dequeue_count"] for e in app.read("fail")] == [1, 2, 3]
    [moved] = peek(poison)
    assert moved.content == TextBase64EncodePolicy()("doomed")
    assert settled(sender)
    expected = f"Message has reached MaxDequeueCount of 3. Moving message to queue '{app.queue('fail')}-poison'."
    assert expected in host.log()


def test_message_that_is_not_base64_goes_straight_to_poison(
    make_app, start_devhost, storage_connection_string: str
) -> None:
    app = make_app()
    start_devhost(app, http=False)
    queue(storage_connection_string, app.queue("work"), base64=False).send_message("not base64!")
    poison = QueueClient.from_connection_string(storage_connection_string, app.queue("work") + "-poison")
    [moved] = wait_until(lambda: peek(poison), timeout=10)
    assert moved.content == "not base64!"
    assert app.read("work") == []


def test_long_running_message_stays_leased(make_app, start_devhost, storage_connection_string: str) -> None:
    # Given a 2-second lease and a function that runs 3.5 seconds
    app = make_app()
    start_devhost(app, http=False, env={"DEVHOST_QUEUE_LEASE_SECONDS": "2"})
    sender = queue(storage_connection_string, app.queue("slow"))
    sender.send_message(json.dumps({"seconds": 3.5}))
    # When it finishes
    wait_until(lambda: app.read("slow-done"), timeout=15)
    # Then the lease was renewed (nobody received it a second time) and it was deleted with the renewed receipt
    assert [e["dequeue_count"] for e in app.read("slow-start")] == [1]
    wait_until(lambda: settled(sender), timeout=5)


def test_killed_host_leaves_message_for_another_host(make_app, start_devhost, storage_connection_string: str) -> None:
    # Given a host running a slow message with a short lease
    app = make_app()
    lease = {"DEVHOST_QUEUE_LEASE_SECONDS": "2"}
    first = start_devhost(app, http=False, env=lease)
    sender = queue(storage_connection_string, app.queue("slow"))
    sender.send_message(json.dumps({"seconds": 1.5}))
    wait_until(lambda: app.read("slow-start"), timeout=10)
    # When that host is killed outright and a second one starts
    first.signal(signal.SIGKILL)
    first.process.wait(timeout=5)
    start_devhost(app, http=False, env=lease)
    # Then the message comes back once its lease lapses and the second host completes it
    [done] = wait_until(lambda: app.read("slow-done"), timeout=20)
    assert done["dequeue_count"] == 2
    assert done["pid"] != first.process.pid
    wait_until(lambda: settled(sender), timeout=5)


def test_two_hosts_share_a_queue_as_competing_consumers(
    make_app, start_devhost, storage_connection_string: str
) -> None:
    # Given two hosts on the same storage, each running one message at a time
    one_at_a_time = {
        "AzureFunctionsJobHost__extensions__queues__batchSize": "1",
        "AzureFunctionsJobHost__extensions__queues__newBatchThreshold": "0",
        "AzureFunctionsJobHost__extensions__queues__maxPollingInterval": "00:00:00.200",
    }
    app = make_app(**one_at_a_time)
    first = start_devhost(app)
    second = start_devhost(app, http=False)
    # When eight slow messages arrive
    sender = queue(storage_connection_string, app.queue("slow"))
    for _ in range(8):
        sender.send_message(json.dumps({"seconds": 0.4}))
    done = wait_until(lambda: len(app.read("slow-done")) == 8 and app.read("slow-done"), timeout=20)
    # Then both hosts did some, and each message ran exactly once
    assert {e["pid"] for e in done} == {first.process.pid, second.process.pid}
    assert len({e["id"] for e in done}) == 8
    assert len(app.read("slow-start")) == 8


def test_sigterm_lets_running_work_finish_and_exits_0(make_app, start_devhost, storage_connection_string: str) -> None:
    # Given a host running a slow HTTP request and a slow queue message
    app = make_app()
    host = start_devhost(app)
    sender = queue(storage_connection_string, app.queue("slow"))
    sender.send_message(json.dumps({"seconds": 4}))
    wait_until(lambda: app.read("slow-start"), timeout=10)
    reply: dict[str, httpx.Response] = {}
    caller = threading.Thread(target=lambda: reply.update(r=httpx.get(f"{host.base_url}/api/slow?seconds=4")))
    caller.start()
    wait_until(lambda: app.read("slow-http-start"), timeout=10)  # the request is inside its 4-second function
    # When it gets SIGTERM
    host.signal(signal.SIGTERM)
    # Then new connections are refused while the request is still running (no answer yet), running functions
    # finish, the message is deleted, and the exit code is 0
    wait_until(lambda: _connection_refused(host), timeout=10)
    assert "r" not in reply
    caller.join(timeout=15)
    assert host.process.wait(timeout=15) == 0
    assert reply["r"].status_code == 200 and reply["r"].text == "slept"
    assert len(app.read("slow-done")) == 1
    assert settled(sender)


def _connection_refused(host: Devhost) -> bool:
    try:
        httpx.get(f"{host.base_url}/api/ping", timeout=2)
    except httpx.ConnectError:
        return True
    except httpx.TimeoutException:
        return False  # a busy machine; ask again
    return False


def test_running_past_the_grace_period_leaves_the_message(
    make_app, start_devhost, storage_connection_string: str
) -> None:
    # Given a host with a 1-second grace period running a 60-second message
    app = make_app()
    host = start_devhost(app, "--grace-period", "1", http=False, env={"DEVHOST_QUEUE_LEASE_SECONDS": "2"})
    sender = queue(storage_connection_string, app.queue("slow"))
    sender.send_message(json.dumps({"seconds": 60}))
    wait_until(lambda: app.read("slow-start"), timeout=10)
    # When it is told to stop
    started = time.monotonic()
    host.signal(signal.SIGTERM)
    host.process.wait(timeout=30)
    # Then it stops after the grace period, not when the function would end (the bound is generous, for a busy
    # machine, and far below the function's 60 s), without settling the message, which becomes visible again
    assert time.monotonic() - started < 30
    assert app.read("slow-done") == []
    assert wait_until(lambda: peek(sender), timeout=15)
