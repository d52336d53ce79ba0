"""Durable executions across real devhost processes on Azurite: a host SIGKILLed mid-graph (and mid-loop) is taken
over without repeating completed nodes, a waiting execution outlives the host that parked it and takes an event
delivered to another host (or its timeout edge), a delay outlives a restart of every host, and a failed run is rerun
from its failed node over HTTP.

The DAGs (tests/e2e/durable_workspace) call a counting HTTP server that lives in the test process, so the count of
each side effect survives any host's death: every request is counted by path, a held path answers only once the test
lets it (the node "runs" until then), and a path set to fail answers 500 to its first request.

The module's hosts are alike: each serves HTTP and runs the queue worker, with 3 s leases, a recovery pass every
second and waits over 0.5 s parked in the queue. A test that kills a host starts its replacement while it waits.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
import uuid
from collections import Counter, defaultdict
from collections.abc import AsyncIterator, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import httpx
import pytest

from shared.models import ExecutionStatus, new_execution_id
from shared.storage.executions import ExecutionStore
from tests.e2e.conftest import ConduitHost, ConduitHosts, wait_for_record

DURABLE_WORKSPACE = Path(__file__).resolve().parent / "durable_workspace"
HOST_SETTINGS = {
    "CONDUIT_WORKSPACE": str(DURABLE_WORKSPACE),
    "CONDUIT_LEASE_SECONDS": "3",
    "CONDUIT_RECOVERY_SCHEDULE": "*/1 * * * * *",
    "CONDUIT_PARK_AFTER_SECONDS": "0.5",
}
TERMINAL = {"Success", "Failed", "Timeout", "Cancelled", "CompletedWithErrors"}
HOLD_SECONDS = 30.0  # a held request answers after this even if the test never releases it


class CountingServer:
    """The DAGs' side effects, counted where a SIGKILLed host cannot lose them: requests per path, and the
    Idempotency-Key each carried."""

    def __init__(self) -> None:
        self.calls: Counter[str] = Counter()
        self.idempotency_keys: defaultdict[str, list[str]] = defaultdict(list)
        self._held: dict[str, threading.Event] = {}
        self._fail_first: set[str] = set()
        self._lock = threading.Lock()
        self._http = ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._http.daemon_threads = True
        self._http.block_on_close = False
        self.url = f"http://127.0.0.1:{self._http.server_address[1]}"
        self._thread = threading.Thread(target=self._http.serve_forever, name="counting-server", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        for gate in self._held.values():
            gate.set()
        self._http.shutdown()
        self._http.server_close()

    def hold(self, path: str) -> None:
        """Requests to `path` are counted at once but answered only after `release(path)`."""
        self._held[path] = threading.Event()

    def release(self, path: str) -> None:
        self._held[path].set()

    def fail_first(self, path: str) -> None:
        """The first request to `path` is answered 500, later ones 200."""
        self._fail_first.add(path)

    def counts(self, key: str) -> dict[str, int]:
        """Requests per last path segment, for the paths under `/<key>/`."""
        with self._lock:
            return {path.rsplit("/", 1)[1]: n for path, n in self.calls.items() if path.startswith(f"/{key}/")}

    def answer(self, path: str, idempotency_key: str | None) -> tuple[int, dict[str, Any]]:
        with self._lock:
            self.calls[path] += 1
            count = self.calls[path]
            self.idempotency_keys[path].append(idempotency_key or "")
        gate = self._held.get(path)
        if gate is not None:
            gate.wait(HOLD_SECONDS)
        status = 500 if path in self._fail_first and count == 1 else 200
        return status, {"path": path, "count": count}

    async def seen(self, path: str, timeout: float = 20.0) -> None:
        """Returns once `path` has been requested."""
        deadline = time.monotonic() + timeout
        while not self.calls[path]:
            assert time.monotonic() < deadline, f"nothing requested {path} within {timeout}s: {dict(self.calls)}"
            await asyncio.sleep(0.05)


def _handler_for(server: CountingServer) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            status, body = server.answer(self.path.split("?", 1)[0], self.headers.get("Idempotency-Key"))
            data = json.dumps(body).encode()
            try:
                self.send_response(status)
                self.send_header("content-type", "application/json")
                self.send_header("content-length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)
            except OSError:
                pass  # the host that asked was killed meanwhile

        def log_message(self, *args: Any) -> None:
            pass  # quiet: the test reports what it counted

    return Handler


@dataclass
class Cluster:
    """The module's hosts that are alive, all alike (HTTP and queue worker); the store to see who runs what."""

    hosts: ConduitHosts
    store: ExecutionStore
    alive: list[ConduitHost] = field(default_factory=list)
    starting: list[asyncio.Task[list[ConduitHost]]] = field(default_factory=list)

    @property
    def client(self) -> httpx.AsyncClient:
        return self.alive[0].client

    async def start(self, count: int = 1) -> list[ConduitHost]:
        started = await asyncio.gather(*(self.hosts.start(env=HOST_SETTINGS) for _ in range(count)))
        self.alive.extend(started)
        return list(started)

    async def kill(self, host: ConduitHost, *, replace: bool = False) -> None:
        """SIGKILL: the host dies at once with whatever it was running. With `replace`, a fresh host starts meanwhile
        (for the tests after this one: `settle` waits for it)."""
        self.alive.remove(host)
        host.kill()
        assert await host.wait() == -9
        if replace:
            self.starting.append(asyncio.ensure_future(self.start()))

    async def settle(self) -> None:
        """Wait for the hosts being started."""
        starting, self.starting = self.starting, []
        await asyncio.gather(*starting)

    async def running(self, execution_id: str) -> ConduitHost:
        """The host whose worker holds the execution's lease now."""
        record = await wait_for_record(self.store, execution_id, lambda r: r.status is ExecutionStatus.RUNNING)
        pid = int((record.lease_owner or "::").split(":")[1])
        return next(host for host in self.alive if host.pid == pid)


@pytest.fixture(scope="module")
def server() -> Iterator[CountingServer]:
    counting = CountingServer()
    counting.start()
    yield counting
    counting.stop()


@pytest.fixture(scope="module")
async def module_cluster(conduit_hosts_module: ConduitHosts, storage_connection_string: str) -> AsyncIterator[
        Cluster]:
    async with ExecutionStore.from_connection_string(storage_connection_string) as store:
        hosts = Cluster(conduit_hosts_module, store)
        await hosts.start(2)
        try:
            yield hosts
        finally:
            await asyncio.gather(*hosts.starting, return_exceptions=True)


@pytest.fixture
async def cluster(module_cluster: Cluster) -> Cluster:
    """The module's hosts, every replacement started by an earlier test up (each test starts with two or more)."""
    await module_cluster.settle()
    return module_cluster


def new_key() -> str:
    return uuid.uuid4().hex[:12]


async def submit(client: httpx.AsyncClient, name: str, **inputs: Any) -> str:
    response = await client.post(f"/api/workflows/{name}/execute", json={"input_data": inputs})
    assert response.status_code == 202, response.text
    return str(response.json()["execution_id"])


async def detail(client: httpx.AsyncClient, execution_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/workflows/executions/{execution_id}")
    assert response.status_code == 200, response.text
    return dict(response.json())


async def killed_while_held(cluster: Cluster, server: CountingServer, path: str, name: str, **inputs: Any) -> str:
    """Submit `name`, hold its request to `path` until the host running it is SIGKILLed (a fresh host replaces it),
    then let the path answer; the execution id."""
    server.hold(path)
    execution_id = await submit(cluster.client, name, **inputs)
    await server.seen(path)
    await cluster.kill(await cluster.running(execution_id), replace=True)
    server.release(path)
    return execution_id


async def reaches(cluster: Cluster, execution_id: str, statuses: set[str], timeout: float = 30.0) -> dict[str, Any]:
    """The execution's detail (asked of whichever host is alive) once its status is one of `statuses`."""
    deadline = time.monotonic() + timeout
    while (record := await detail(cluster.client, execution_id))["status"] not in statuses:
        assert time.monotonic() < deadline, f"execution {execution_id} is still {record['status']}: {record}"
        await asyncio.sleep(0.1)
    return record


async def node_steps(client: httpx.AsyncClient, execution_id: str, attempt: int | None = None) -> list[dict[str, Any]]:
    """`GET .../steps` (the latest attempt's, or `attempt`'s): the DAG node steps, in order."""
    params = {"attempt": attempt} if attempt is not None else {}
    response = await client.get(f"/api/workflows/executions/{execution_id}/steps", params=params)
    assert response.status_code == 200, response.text
    return [step for step in response.json()["items"] if step["step_type"] == "dag_node"]


def shown(steps: list[dict[str, Any]]) -> list[tuple[str, str, int, int]]:
    return [(s["step_name"], s["status"], s["attempt"], s["node_attempt"]) for s in steps]


async def test_a_host_killed_mid_graph_is_taken_over_and_completed_nodes_do_not_run_again(
        cluster: Cluster, server: CountingServer) -> None:
    # Given a chain a -> b -> c -> d whose node c is running (the server holds its request) on some host
    key = new_key()
    # When that host is SIGKILLed while c runs (and a fresh host is started for the tests after this one)
    execution_id = await killed_while_held(cluster, server, f"/{key}/c", "e2e_durable_chain", base=server.url,
                                           key=key)
    # Then another host takes it over in attempt 2 and it ends Success
    record = await reaches(cluster, execution_id, TERMINAL)
    assert (record["status"], record["attempt"]) == ("Success", 2), record
    # And a and b happened once; c ran again (its host died while it ran), with the same Idempotency-Key; d once
    assert server.counts(key) == {"a": 1, "b": 1, "c": 2, "d": 1}
    assert len(set(server.idempotency_keys[f"/{key}/c"])) == 1
    assert record["output_data"] == {"a": 1, "b": 1, "c": 2, "d": 1}
    # And attempt 2's steps start at c; attempt 1 recorded a and b, which attempt 2 reused
    assert shown(await node_steps(cluster.client, execution_id)) == [
        ("c", "Success", 2, 1), ("d", "Success", 2, 1)]
    assert shown(await node_steps(cluster.client, execution_id, attempt=1)) == [
        ("a", "Success", 1, 1), ("b", "Success", 1, 1)]
    assert set(record["node_outputs"]) == {"a", "b", "c", "d"}


async def test_a_host_killed_inside_a_loop_does_not_repeat_the_iterations_that_completed(
        cluster: Cluster, server: CountingServer) -> None:
    # Given a foreach over three items, one at a time, killed during the middle one
    key = new_key()
    execution_id = await killed_while_held(cluster, server, f"/{key}/item1", "e2e_durable_loop", base=server.url,
                                           key=key, things=[0, 1, 2])
    # When another host takes it over
    record = await reaches(cluster, execution_id, TERMINAL)
    # Then it ends Success in attempt 2: item 0 was called once, item 1 again (it was running), item 2 once
    assert (record["status"], record["attempt"]) == ("Success", 2), record
    assert server.counts(key) == {"item0": 1, "item1": 2, "item2": 1}
    assert record["output_data"] == [{"item": 0, "calls": 1}, {"item": 1, "calls": 2}, {"item": 2, "calls": 1}]
    # And attempt 2 ran the loop again (its step is numbered when it starts) from item 1 on; attempt 1 had recorded
    # item 0
    assert shown(await node_steps(cluster.client, execution_id)) == [
        ("each", "Success", 2, 1), ("work[1]", "Success", 2, 1), ("row[1]", "Success", 2, 1),
        ("work[2]", "Success", 2, 1), ("row[2]", "Success", 2, 1)]
    assert [s["step_name"] for s in await node_steps(cluster.client, execution_id, attempt=1)] == [
        "work[0]", "row[0]"]


async def test_an_event_delivered_to_another_host_resumes_a_wait_whose_host_was_killed(
        cluster: Cluster, server: CountingServer) -> None:
    # Given an approval DAG that asked (a held call, so the test sees which host runs it), and a DAG whose wait runs
    # out after 2 s
    key, short_key = new_key(), new_key()
    server.hold(f"/{key}/ask")
    execution_id = await submit(cluster.client, "e2e_durable_approval", base=server.url, key=key)
    short_id = await submit(cluster.client, "e2e_durable_short_approval", base=server.url, key=short_key)
    await server.seen(f"/{key}/ask")
    parker = await cluster.running(execution_id)
    server.release(f"/{key}/ask")
    # When it reaches its wait_for_event it is Waiting for that event, holding no worker
    waiting = await reaches(cluster, execution_id, {"Waiting"} | TERMINAL)
    assert waiting["status"] == "Waiting", waiting
    assert {k: waiting["waiting"][k] for k in ("reason", "node_id", "event")} == {
        "reason": "event", "node_id": "approve", "event": "approval"}
    # And the host that ran it is SIGKILLed
    await cluster.kill(parker, replace=True)
    events = f"/api/workflows/executions/{execution_id}/events"
    # Then an event it does not wait for is refused with 409, and one for an unknown execution with 404
    wrong = await cluster.client.post(f"{events}/rejection", json={"by": "eve"})
    assert wrong.status_code == 409, wrong.text
    assert wrong.json()["error"]["details"]["waiting_for"] == ["approval"], wrong.text
    unknown = await cluster.client.post(f"/api/workflows/executions/{new_execution_id()}/events/approval", json={})
    assert unknown.status_code == 404, unknown.text
    # When the approval is delivered over HTTP to a surviving host
    server.hold(f"/{key}/after")
    delivered = await cluster.client.post(f"{events}/approval", json={"by": "ana", "note": "fine"})
    assert delivered.status_code == 202, delivered.text
    assert delivered.json()["status"] == "Pending"
    # Then a surviving host runs it on (its node after the wait is running there) to Success: the payload is the
    # wait node's output, and ask ran once
    await server.seen(f"/{key}/after")
    assert (await cluster.running(execution_id)).pid != parker.pid
    server.release(f"/{key}/after")
    record = await reaches(cluster, execution_id, TERMINAL)
    assert record["status"] == "Success", record
    assert record["node_outputs"]["approve"] == {"by": "ana", "note": "fine"}
    assert record["output_data"] == {"approved_by": "ana", "after_calls": 1}
    assert server.counts(key) == {"ask": 1, "after": 1}
    assert [(s["node_id"], s["status"]) for s in await node_steps(cluster.client, execution_id)] == [
        ("ask", "Success"), ("approve", "Waiting"), ("approve", "Success"), ("expired", "Skipped"),
        ("after", "Success")]
    # And once it no longer waits, the same event is refused with 409
    again = await cluster.client.post(f"{events}/approval", json={"by": "bo"})
    assert again.status_code == 409, again.text
    # And the DAG nobody answered ended Success through its timeout edge, with no event delivered
    short = await reaches(cluster, short_id, TERMINAL)
    assert short["status"] == "Success", short
    assert short["node_outputs"]["approve"]["timed_out"] is True
    assert server.counts(short_key) == {"expired": 1}


async def test_a_delay_outlives_a_restart_of_every_host(cluster: Cluster, server: CountingServer) -> None:
    # Given a DAG parked in a 4 s delay after its first call
    key = new_key()
    execution_id = await submit(cluster.client, "e2e_durable_delay", base=server.url, key=key, seconds=4)
    waiting = await reaches(cluster, execution_id, {"Waiting"} | TERMINAL)
    assert waiting["status"] == "Waiting" and waiting["waiting"]["reason"] == "delay", waiting
    until = datetime.fromisoformat(waiting["waiting"]["until"].replace("Z", "+00:00"))
    # When every host is SIGKILLed and fresh ones are started
    for host in list(cluster.alive):
        await cluster.kill(host)
    assert server.counts(key) == {"before": 1}
    await cluster.start(2)
    # Then the execution ends Success after its delay, woken from the queue by a fresh host
    record = await reaches(cluster, execution_id, TERMINAL)
    assert record["status"] == "Success", record
    assert datetime.fromisoformat(record["completed_at"].replace("Z", "+00:00")) >= until
    assert (record["attempt"], record["resumes"]) == (1, 1)
    # And each call happened once; the delay node's wait is recorded, then its end
    assert server.counts(key) == {"before": 1, "after": 1}
    steps = await node_steps(cluster.client, execution_id)
    assert [(s["node_id"], s["status"]) for s in steps] == [
        ("before", "Success"), ("pause", "Waiting"), ("pause", "Success"), ("after", "Success")]
    assert steps[2]["output_data"]["waited_seconds"] >= 3.0


async def test_a_failed_run_is_rerun_from_its_failed_node_and_in_full_over_http(
        cluster: Cluster, server: CountingServer) -> None:
    # Given a run that failed at its second node (the server answered b with 500)
    key = new_key()
    server.fail_first(f"/{key}/b")
    failed_id = await submit(cluster.client, "e2e_durable_flaky", base=server.url, key=key)
    failed = await reaches(cluster, failed_id, TERMINAL)
    assert (failed["status"], failed["error_type"]) == ("Failed", "DagNodeFailed"), failed
    assert "node 'b'" in failed["error_message"]
    # When it is rerun from its failed node
    response = await cluster.client.post(f"/api/workflows/executions/{failed_id}/rerun",
                                         params={"from_failed": "true"})
    assert response.status_code == 202, response.text
    rerun_id = response.json()["execution_id"]
    assert rerun_id != failed_id and response.json()["from_failed"] is True
    # Then the new execution is linked to the failed one, reuses a and ends Success: a was called once in all
    resumed = await reaches(cluster, rerun_id, TERMINAL)
    assert resumed["status"] == "Success", resumed
    assert (resumed["rerun_of"], resumed["resume_from"]) == (failed_id, failed_id)
    assert resumed["input_data"] == {"base": server.url, "key": key}
    assert server.counts(key) == {"a": 1, "b": 2, "c": 1}
    assert resumed["output_data"] == {"a": 1, "b": 2, "c": 1}
    assert [s["node_id"] for s in await node_steps(cluster.client, rerun_id)] == ["b", "c"]
    assert list(resumed["node_outputs"]) == ["a", "b", "c"]  # a's is the output the rerun reused
    # When that finished execution is rerun plainly
    response = await cluster.client.post(f"/api/workflows/executions/{rerun_id}/rerun")
    assert response.status_code == 202, response.text
    again = await reaches(cluster, response.json()["execution_id"], TERMINAL)
    # Then everything runs again, as a new execution linked to it
    assert again["status"] == "Success", again
    assert again["rerun_of"] == rerun_id and "resume_from" not in again
    assert server.counts(key) == {"a": 2, "b": 3, "c": 2}
    assert [s["node_id"] for s in await node_steps(cluster.client, again["id"])] == ["a", "b", "c"]
