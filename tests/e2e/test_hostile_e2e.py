"""Hostile input and a storage outage against a real devhost process: raw header bytes over a socket, faults
switched on and off in a running host through its rules file, unreadable queue messages end to end."""

from __future__ import annotations

import asyncio
import base64
import json
import re
import time
from pathlib import Path

import httpx
import pytest
from azure.storage.queue.aio import QueueClient

from shared.storage.queues import EXECUTIONS_QUEUE
from tests.e2e.conftest import ADMIN_KEY, ConduitHost, ConduitHosts

INTERNAL = ("Injected", "ServiceRequestError", "127.0.0.1", "devstoreaccount1", "Could not", "Traceback")


async def raw_request(host: ConduitHost, head: bytes, body: bytes = b"") -> tuple[int, dict[str, str], bytes]:
    """Send exactly these bytes as an HTTP/1.1 request; the status, headers and body of the answer."""
    reader, writer = await asyncio.open_connection("127.0.0.1", host.port)
    try:
        writer.write(head + b"Host: localhost\r\nConnection: close\r\n"
                     + f"Content-Length: {len(body)}\r\n\r\n".encode() + body)
        await writer.drain()
        answer = await asyncio.wait_for(reader.read(), 30)
    finally:
        writer.close()
    header_block, _, payload = answer.partition(b"\r\n\r\n")
    status_line, *lines = header_block.decode("latin-1").split("\r\n")
    headers = {name.strip().lower(): value.strip() for name, _, value in (line.partition(":") for line in lines)}
    return int(status_line.split()[1]), headers, payload


@pytest.mark.parametrize(
    "header",
    [b"x-api-key: \xff\xfe\r\n", b"x-api-key: " + ADMIN_KEY.encode() + b"\xc3\r\n", b"Authorization: Bearer \xff\r\n"],
)
async def test_a_key_with_bytes_that_are_not_utf8_is_401_through_devhost(
    conduit_hosts_module: ConduitHosts, header: bytes
) -> None:
    # Given a real devhost (its aiohttp hands such bytes over as lone surrogates)
    host = conduit_hosts_module.hosts[0] if conduit_hosts_module.hosts else await conduit_hosts_module.start()
    # When a request carries a key header with bytes that are not UTF-8
    status, headers, body = await raw_request(host, b"GET /api/workflows HTTP/1.1\r\n" + header)
    # Then it is 401 with the error shape, not a 500
    assert status == 401, body[:300]
    assert json.loads(body)["error"]["code"] == "unauthorized" and headers["www-authenticate"] == "Bearer"
    assert "Traceback" not in host.log()


async def test_json_nested_100000_levels_is_400_through_devhost(conduit_hosts_module: ConduitHosts) -> None:
    host = conduit_hosts_module.hosts[0] if conduit_hosts_module.hosts else await conduit_hosts_module.start()
    body = b'{"input_data": {"message": ' + b"[" * 100_000 + b"]" * 100_000 + b"}}"
    head = b"POST /api/workflows/echo/execute HTTP/1.1\r\nContent-Type: application/json\r\nx-api-key: "
    status, _, answer = await raw_request(host, head + ADMIN_KEY.encode() + b"\r\n", body)
    assert status == 400 and json.loads(answer)["error"]["code"] == "bad_request"
    assert "RecursionError" not in host.log()


async def test_an_outage_switched_on_in_a_running_host_answers_503_then_recovers(
    conduit_hosts: ConduitHosts, tmp_path: Path
) -> None:
    # Given a host whose faults come from a rules file, with no faults yet
    rules = tmp_path / "faults.json"
    rules.write_text("[]")
    host = await conduit_hosts.start(env={"CONDUIT_STORAGE_FAULTS": f"@{rules}"})
    done = (await host.client.post("/api/workflows/echo/execute", json={"input_data": {"message": "hi"}})).json()
    assert done["status"] == "Success"
    # When every Table request starts failing as a dropped connection
    rules.write_text(json.dumps([{"match": "table.*", "fault": "drop"}]))
    paths = ["/api/workflows/executions", f"/api/workflows/executions/{done['execution_id']}",
             f"/api/workflows/executions/{done['execution_id']}/logs"]
    answers = await _poll_until(host, paths[0], 503)
    answers += [await host.client.get(path) for path in paths[1:]]
    answers.append(await host.client.post("/api/workflows/echo/execute", json={"input_data": {"message": "x"}}))
    # Then each answers 503 with Retry-After, the error id, and nothing internal
    ids = []
    for response in answers:
        assert response.status_code == 503 and response.headers["Retry-After"] == "5", response.text
        assert not [word for word in INTERNAL if word in response.text], response.text
        ids.append(response.json()["error"]["details"]["error_id"])
    async with httpx.AsyncClient(base_url=host.base_url) as anonymous:
        health = await anonymous.get("/api/health")
    assert health.status_code == 503 and not [word for word in INTERNAL if word in health.text], health.text
    # And the host logged each once, with its id and the real error
    log = host.log()
    for error_id in ids:
        assert len(re.findall(rf"storage unavailable {error_id} in .*Injected dropped connection", log)) == 1
    # When the faults are cleared, the same routes answer normally
    rules.write_text("[]")
    await _poll_until(host, paths[0], 200)
    for path in paths[1:]:
        assert (await host.client.get(path)).status_code == 200


async def _poll_until(host: ConduitHost, path: str, status: int, timeout: float = 20.0) -> list[httpx.Response]:
    """GET `path` until it answers `status` (the host re-reads its rules file within about half a second)."""
    deadline = time.monotonic() + timeout
    while True:
        response = await host.client.get(path)
        if response.status_code == status:
            return [response]
        assert time.monotonic() < deadline, f"{path} still answers {response.status_code}: {response.text[:300]}"
        await asyncio.sleep(0.2)


async def test_unreadable_messages_are_one_line_each_end_to_end(
    conduit_hosts_module: ConduitHosts, storage_connection_string: str
) -> None:
    # Given a running host (the only one of this module: it takes every message)
    host = conduit_hosts_module.hosts[0] if conduit_hosts_module.hosts else await conduit_hosts_module.start()
    # When messages that are not execution references arrive (base64, as the host expects), and one not in base64
    bodies = {"not-json-e2e": b"not-json-e2e", "deep-e2e": b'{"deep-e2e": ' + b"[" * 20_000 + b"]" * 20_000 + b"}",
              "list-e2e": b'["list-e2e"]'}
    async with QueueClient.from_connection_string(storage_connection_string, EXECUTIONS_QUEUE) as client:
        for data in bodies.values():
            await client.send_message(base64.b64encode(data).decode())
        await client.send_message("not-base64-e2e!")
    # Then each is dropped by the poison handler with one line naming why, and nothing is retried
    for marker in bodies:
        await host.wait_for_log(rf"Dropped an unreadable message .*{marker}")
    await host.wait_for_log(r"workflow-executions' message .*is not valid base64")
    await asyncio.sleep(7)  # more than a queue lease (5 s here): room for any retry or repeated line to show up
    log = host.log()
    for marker in bodies:
        lines = [line for line in log.splitlines() if marker in line]
        assert len(lines) == 1 and "Dropped an unreadable message" in lines[0], log
    # And the text that is not base64 is one line too: moved to poison by the host, not repeated from there
    assert len(re.findall(r"not valid base64", log)) == 1 and "has no poison queue" not in log, log
    assert "Traceback" not in log and "MaxDequeueCount" not in log, log
