"""The provider cache over HTTP, through two real devhost processes sharing one Azurite (as two instances of one
Function App): the shared tier, invalidation seen by the other host, single flight across hosts, scope isolation,
failing providers, debug log lines and a cache whose storage fails.

Runs are counted from files the providers append to (tests/e2e/cache_workspace), so they add up across processes.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ConduitHost, ConduitHosts

CACHE_WORKSPACE = Path(__file__).resolve().parent / "cache_workspace"
GENERATION_SECONDS = 1


@pytest.fixture(scope="module")
def runs_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("cache-runs")


@pytest.fixture(scope="module")
async def hosts(conduit_hosts_module: ConduitHosts, runs_dir: Path) -> tuple[ConduitHost, ConduitHost]:
    """Two hosts of one app, each re-reading a provider's generation at most every second; their storage faults
    come from a file the tests may write."""
    (runs_dir / "faults.json").write_text("[]")
    env = {
        "CONDUIT_WORKSPACE": str(CACHE_WORKSPACE),
        "CACHE_TEST_RUNS": str(runs_dir),
        "CONDUIT_PROVIDER_CACHE_GENERATION_SECONDS": str(GENERATION_SECONDS),
        "CONDUIT_STORAGE_FAULTS": f"@{runs_dir / 'faults.json'}",
    }
    first, second = await asyncio.gather(conduit_hosts_module.start(env=env), conduit_hosts_module.start(env=env))
    return first, second


def runs(runs_dir: Path, name: str, tag: str) -> int:
    path = runs_dir / f"{name}-{tag}.runs"
    return len(path.read_text().splitlines()) if path.exists() else 0


async def ask(host: ConduitHost, name: str, inputs: dict | None = None, **body) -> httpx.Response:
    headers = {"X-Organization-Id": body.pop("organization")} if "organization" in body else {}
    return await host.client.post(f"/api/data-providers/{name}", json={"inputs": inputs or {}, **body},
                                  headers=headers)


async def test_the_second_host_is_served_by_the_shared_tier_and_sees_an_invalidation(hosts, runs_dir) -> None:
    first, second = hosts
    tag = uuid.uuid4().hex[:8]
    # Given options computed on the first host
    computed = await ask(first, "cache_counted", {"tag": tag})
    assert computed.status_code == 200 and computed.json()["cached"] is False
    # When the second host is asked for them
    shared = await ask(second, "cache_counted", {"tag": tag})
    # Then it answers from the shared tier, with the same options and expiry, without running the provider
    assert shared.json()["cached"] is True and shared.json()["options"] == computed.json()["options"]
    assert shared.json()["cache_expires_at"] == computed.json()["cache_expires_at"]
    assert runs(runs_dir, "cache_counted", tag) == 1
    # When the provider's cache is invalidated through the first host
    invalidated = await first.client.delete("/api/data-providers/cache_counted/cache")
    assert invalidated.status_code == 200
    assert invalidated.json()["invalidated"] is True
    assert invalidated.json()["visible_everywhere_within_seconds"] == GENERATION_SECONDS
    # Then the second host stops serving its in-process copy within the stated bound (generous on a busy machine)
    started = time.monotonic()
    while (answer := await ask(second, "cache_counted", {"tag": tag})).json()["options"] == computed.json()["options"]:
        assert time.monotonic() - started < GENERATION_SECONDS + 10, "the second host kept the invalidated options"
        await asyncio.sleep(0.1)
    assert answer.json()["options"][0]["value"] == 2
    # And the first host serves the new options without another run
    assert (await ask(first, "cache_counted", {"tag": tag})).json()["options"] == answer.json()["options"]
    assert runs(runs_dir, "cache_counted", tag) == 2


async def test_concurrent_misses_on_two_hosts_run_the_provider_once(hosts, runs_dir) -> None:
    tag = uuid.uuid4().hex[:8]
    answers = await asyncio.gather(*(ask(host, "cache_counted", {"tag": tag}) for host in hosts for _ in range(10)))
    assert [a.status_code for a in answers] == [200] * 20
    assert len({json.dumps(a.json()["options"]) for a in answers}) == 1
    assert runs(runs_dir, "cache_counted", tag) == 1


async def test_one_organization_s_options_are_never_served_to_another(hosts) -> None:
    first, _ = hosts
    tag = uuid.uuid4().hex[:8]
    a = await ask(first, "cache_counted", {"tag": tag}, organization="org-a")
    b = await ask(first, "cache_counted", {"tag": tag}, organization="org-b")
    assert a.json()["options"][0]["label"].startswith("org-a ")
    assert b.json()["cached"] is False and b.json()["options"][0]["label"].startswith("org-b ")
    again = await ask(first, "cache_counted", {"tag": tag}, organization="org-a")
    assert again.json()["cached"] is True and again.json()["options"] == a.json()["options"]


@pytest.mark.parametrize(("name", "status", "message"), [
    ("cache_bad_shape", 502, "returned invalid options"),
    ("cache_refusing", 422, "Choose a customer first."),
    ("cache_slow", 504, "timed out"),
])
async def test_a_failing_provider_answers_its_error_and_is_not_cached(hosts, runs_dir, name, status, message) -> None:
    first, _ = hosts
    for _ in range(2):
        answer = await ask(first, name)
        assert answer.status_code == status and message in answer.json()["error"]["message"]
    assert runs(runs_dir, name, "x") == 2


async def test_debug_answers_carry_the_provider_s_log_lines(hosts) -> None:
    first, _ = hosts
    answer = await ask(first, "cache_counted", {"tag": uuid.uuid4().hex[:8]}, debug=True)
    assert answer.status_code == 200
    assert any("computing options for" in line["message"] for line in answer.json()["logs"])


async def test_invalidating_needs_an_admin_and_a_known_provider(hosts) -> None:
    first, _ = hosts
    unknown = await first.client.delete("/api/data-providers/no_such_provider/cache")
    assert unknown.status_code == 404 and unknown.json()["error"]["code"] == "data_provider_not_found"
    anonymous = await first.client.delete("/api/data-providers/cache_counted/cache", headers={"x-api-key": ""})
    assert anonymous.status_code == 401


async def test_options_are_answered_while_the_cache_storage_fails(hosts, runs_dir) -> None:
    first, _ = hosts
    tag = uuid.uuid4().hex[:8]
    # Given the cache table failing every request on the hosts (the fault file is re-read within 0.5 s)
    faults = runs_dir / "faults.json"
    faults.write_text(json.dumps([{"match": "table.ConduitProviderCache.*", "fault": "error", "status": 503}]))
    try:
        await asyncio.sleep(1.0)
        # When options are asked for
        answer = await ask(first, "cache_counted", {"tag": tag})
    finally:
        faults.write_text("[]")
    # Then the provider ran and answered, and the host logged why the cache was skipped
    assert answer.status_code == 200 and answer.json()["options"][0]["value"] == 1
    await first.wait_for_log(r"provider cache: could not read a cache entry \(HttpResponseError: Injected fault",
                             timeout=10)
