"""/api/config over HTTP through a real devhost: per organization and global, typed, secrets never answered,
and what workflows of each organization read; admins only."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from tests.config.conftest import KEY, WORKSPACE
from tests.e2e.conftest import ConduitHost, ConduitHosts

SECRET = "xoxb-very-secret-token-42"


@pytest.fixture(scope="module")
async def host(tmp_path_factory: pytest.TempPathFactory, storage_connection_string: str) -> AsyncIterator[
        ConduitHost]:
    hosts = ConduitHosts(tmp_path_factory.mktemp("config-hosts"), storage_connection_string)
    try:
        yield await hosts.start(env={"CONDUIT_WORKSPACE": str(WORKSPACE), "CONDUIT_SECRETS_KEY": KEY})
    finally:
        await hosts.stop_all()


def in_org(org: str | None) -> dict[str, str]:
    return {"X-Organization-Id": org} if org else {}


async def put(host: ConduitHost, key: str, type_: str, value: Any, org: str | None = None) -> httpx.Response:
    return await host.client.put(f"/api/config/{key}", json={"type": type_, "value": value}, headers=in_org(org))


async def read_in_workflow(host: ConduitHost, key: str, org: str | None, workflow: str = "cfg_async") -> Any:
    response = await host.client.post(f"/api/workflows/{workflow}/execute", json={"input_data": {"key": key}},
                                      headers=in_org(org))
    assert response.status_code == 200, response.text
    return response.json()


async def test_global_and_organization_values_the_override_and_what_workflows_read(host: ConduitHost) -> None:
    key, org, other = f"greeting_{uuid.uuid4().hex[:6]}", f"org-{uuid.uuid4().hex[:6]}", f"org-{uuid.uuid4().hex[:6]}"
    # Given a global value and an organization's own
    created = await put(host, key, "string", "hello")
    assert created.status_code == 200, created.text
    assert created.json() | {"updated_at": None} == {"key": key, "scope": "GLOBAL", "type": "string", "value": "hello",
                                                    "is_secret": False, "updated_by": "admin", "updated_at": None}
    assert (await put(host, key, "string", "hallo", org)).json()["scope"] == org
    # Then each scope answers its own
    assert (await host.client.get(f"/api/config/{key}")).json()["value"] == "hello"
    assert (await host.client.get(f"/api/config/{key}", headers=in_org(org))).json()["value"] == "hallo"
    # And the organization's listing (for a platform admin) shows both, the global one as overridden
    listed = (await host.client.get("/api/config", headers=in_org(org))).json()["items"]
    mine = [(i["scope"], i["value"], i["overridden"]) for i in listed if i["key"] == key]
    assert mine == [(org, "hallo", False), ("GLOBAL", "hello", True)]
    # And the organization's workflows read its value, another organization's the global one
    assert (await read_in_workflow(host, key, org))["output_data"] == {"value": "hallo"}
    assert (await read_in_workflow(host, key, other, "cfg_sync"))["output_data"] == {"value": "hello"}
    # When the organization's value is deleted, Then its workflows fall back to the global one at once
    assert (await host.client.delete(f"/api/config/{key}", headers=in_org(org))).status_code == 204
    assert (await read_in_workflow(host, key, org))["output_data"] == {"value": "hello"}
    missing = await host.client.get(f"/api/config/{key}", headers=in_org(org))
    assert missing.status_code == 404 and missing.json()["error"]["code"] == "config_not_found"
    assert (await host.client.delete(f"/api/config/{key}", headers=in_org(org))).status_code == 404


@pytest.mark.parametrize(("body", "fields"), [
    ({"type": "int", "value": "3", "extra": 1}, {"extra", "value"}),
    ({"type": "float", "value": 1.5}, {"type"}),
    ({}, {"type", "value"}),
    ({"type": "int", "value": True}, {"value"}),
    ({"type": "int", "value": 2**70}, {"value"}),
    ({"type": "bool", "value": "true"}, {"value"}),
    ({"type": "string", "value": 12}, {"value"}),
    ({"type": "secret", "value": ""}, {"value"}),
    ({"type": "secret", "value": {"not": "text"}}, {"value"}),
    ({"type": "string", "value": "x" * 40_000}, {"value"}),
])
async def test_wrong_fields_are_422_naming_every_one_and_nothing_is_stored(
    host: ConduitHost, body: dict[str, Any], fields: set[str]
) -> None:
    key = f"typed_{uuid.uuid4().hex[:6]}"
    response = await host.client.put(f"/api/config/{key}", json=body)
    assert response.status_code == 422, response.text
    assert {detail["field"] for detail in response.json()["error"]["details"]} == fields
    assert (await host.client.get(f"/api/config/{key}")).status_code == 404


async def test_a_bad_key_is_named_with_the_body_s_problems(host: ConduitHost) -> None:
    response = await host.client.put("/api/config/bad%20key", json={"type": "bool", "value": 1})
    assert response.status_code == 422
    assert {d["field"] for d in response.json()["error"]["details"]} == {"key", "value"}


async def test_a_secret_is_never_answered_and_workflows_see_it_masked(host: ConduitHost) -> None:
    key, org = f"token_{uuid.uuid4().hex[:6]}", f"org-{uuid.uuid4().hex[:6]}"
    # When an admin stores a secret
    stored = await put(host, key, "secret", SECRET, org)
    # Then neither the PUT's answer, nor GET, nor the list answers its value
    assert stored.status_code == 200 and stored.json()["value"] is None and stored.json()["is_secret"] is True
    read = await host.client.get(f"/api/config/{key}", headers=in_org(org))
    listed = await host.client.get("/api/config", headers=in_org(org))
    assert read.json() | {"updated_at": None} == {"key": key, "scope": org, "type": "secret", "value": None,
                                                 "is_secret": True, "updated_by": "admin", "updated_at": None}
    assert [i["value"] for i in listed.json()["items"] if i["key"] == key] == [None]
    assert all(SECRET not in r.text for r in (stored, read, listed))
    # And a workflow of the organization that returns and prints it answers it masked
    run = await host.client.post("/api/workflows/leak_config/execute", json={"input_data": {"key": key}},
                                 headers=in_org(org))
    assert run.json()["output_data"] == {"value": "***"} and SECRET not in run.text
    record = await host.client.get(f"/api/workflows/executions/{run.json()['execution_id']}", headers=in_org(org))
    assert record.status_code == 200 and record.json()["output_data"] == {"value": "***"}
    assert SECRET not in record.text


async def test_config_routes_need_an_admin(host: ConduitHost) -> None:
    async with httpx.AsyncClient(base_url=host.base_url) as anonymous:
        for method in ("GET", "PUT", "DELETE"):
            response = await anonymous.request(method, "/api/config/anything", json={"type": "string", "value": "x"})
            assert response.status_code == 401
        assert (await anonymous.get("/api/config")).status_code == 401
        wrong = await anonymous.get("/api/config", headers={"x-api-key": "wrong"})
        assert wrong.status_code == 401
