"""Every kind of mistake in tests/e2e/mistakes_workspace is in the load report of a real devhost serving it (admin
`GET /api/health`), with a message naming the function, the file and the argument — and the good modules next to
them still load and run. (`import bifrost` with the setting off: tests/deploy/test_load_report.py.)
"""

from __future__ import annotations

import re
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import ConduitHost, ConduitHosts

MISTAKES_WORKSPACE = Path(__file__).resolve().parent / "mistakes_workspace"
SETTINGS = {"CONDUIT_WORKSPACE": str(MISTAKES_WORKSPACE), "CONDUIT_BIFROST_COMPAT": "true"}

# file -> what its load error must say (each text must appear in it)
EXPECTED = {
    "unknown_argument.py": ["@workflow on create_user: unknown argument `descripton`; did you mean `description`?",
                            "unknown_argument.py:4)"],
    "seed_only_argument.py": ["@workflow on lookup_user: `is_tool` is a Bifrost argument Conduit does not support",
                              "remove it", "seed_only_argument.py:4)"],
    "decorator_on_class.py": ["@workflow applies to a function (def or async def), not to the class OnboardingFlow",
                              "decorator_on_class.py:4)"],
    "decorator_on_non_function.py": ["@data_provider applies to a function (def or async def), not to countries as "
                                     "wrapped by _lru_cache_wrapper", "decorator_on_non_function.py:6)"],
    "param_for_missing_argument.py": ["@param('emial') on invite_guest: invite_guest has no argument named 'emial'",
                                      "param_for_missing_argument.py:4)"],
    "hr/sync_users.py": ["Two functions are named 'sync_users'", "billing/sync_users.py:4)", "hr/sync_users.py:4)",
                         "rename one of the functions"],
    "unsupported_module.py": ["`bifrost.files` is not offered by Conduit: it has no file storage"],
    "syntax_error.py": ["SyntaxError: expected ':' (line 5: async def broken(context))"],
    "missing_package.py": ["No module named 'halo_psa_sdk'", "add the package to requirements.txt"],
    "bad_validation.py": ["@workflow on order_laptops: parameter 'count': validation has an unknown key 'minimum' "
                          "(did you mean 'min'?)", "bad_validation.py:4)"],
    "bad_schedule.py": ["@workflow on poll_tickets: schedule '*/30 * * * * *' fires more often than once a minute",
                        "bad_schedule.py:4)"],
    "timeout_above_cap.py": ["@workflow on full_export: timeout_seconds may be at most 3300", "got 7200",
                             "timeout_above_cap.py:4)"],
    "unknown_data_provider.py": ["assign_license: @param('license') names data_provider 'available_licences', but "
                                 "no data provider has that name"],
    "forgotten_workflow.py": ["disable_user (", "forgotten_workflow.py:4) has @param but neither @workflow nor "
                              "@data_provider, so it is not registered"],
}


@pytest.fixture(scope="module")
async def host(conduit_hosts_module: ConduitHosts) -> ConduitHost:
    return await conduit_hosts_module.start(env=SETTINGS)


@pytest.fixture(scope="module")
async def health(host: ConduitHost) -> dict:
    response = await host.client.get("/api/health")
    assert response.status_code == 200  # load errors do not make the host unhealthy: the good functions run
    return dict(response.json())


@pytest.fixture
def client(host: ConduitHost) -> httpx.AsyncClient:
    return host.client


def load_errors(health: dict) -> dict[str, str]:
    return {Path(e["path"]).relative_to(MISTAKES_WORKSPACE).as_posix(): e["error"] for e in health["load_errors"]}


@pytest.mark.parametrize("file", sorted(EXPECTED))
async def test_the_load_report_names_the_mistake(health: dict, file: str) -> None:
    # Given a host serving the mistakes workspace; when an admin reads the load report
    error = load_errors(health).get(file)
    # Then this file's mistake is listed, saying what is wrong and where, without a traceback
    assert error is not None, f"{file} is not in load_errors"
    for text in EXPECTED[file]:
        assert text in error, f"{file}: {text!r} not in {error!r}"
    assert "Traceback" not in error


async def test_every_mistake_is_reported_and_nothing_else(health: dict, host: ConduitHost) -> None:
    # Then the load errors are exactly the mistakes: none passes silently, no good module is reported
    assert set(load_errors(health)) == set(EXPECTED)
    # And the private folder is skipped with its reason
    assert [(Path(s["path"]).name, s["reason"]) for s in health["load_skipped"]] == [
        ("_archive", "private folder (_ prefix)")]
    # And the console showed one line per load error when the host started (no request needed)
    assert len(re.findall(r"could not load .*mistakes_workspace/", host.log())) == len(EXPECTED)


async def test_the_good_modules_next_to_the_mistakes_load_and_run(client: httpx.AsyncClient) -> None:
    # Then the workspace's good workflows are listed (and the one whose @param names a missing provider loads too)
    listed = {i["name"] for i in (await client.get("/api/workflows")).json()["items"] if i["source"] == "workspace"}
    assert listed == {"still_loads", "assign_license", "sync_users"}
    # And they run; the helper next to the good workflow imports by plain name
    response = await client.post("/api/workflows/still_loads/execute", json={"input_data": {"name": "Ada"}})
    assert (response.json()["status"], response.json()["output_data"]) == ("Success", {"greeting": "HELLO ADA!"})
    assigned = await client.post("/api/workflows/assign_license/execute", json={"input_data": {"license": "E3"}})
    assert assigned.json()["status"] == "Success"
    # And of the two `sync_users`, the one loaded first (billing/, paths in sorted order) is the one registered;
    # the other is the load error above
    synced = await client.post("/api/workflows/sync_users/execute", json={"input_data": {}, "mode": "sync"})
    assert synced.json()["output_data"] == "billing's users"
