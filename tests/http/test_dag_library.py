"""DAGs created through the API, over function_app's HTTP functions against the test Azurite: create, read, change,
delete, versions, the 409s, other organizations' 404s, the 403s for non-admins and one 422 naming every problem."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import pytest

from tests.http.conftest import ADMIN_KEY, Api

BASE = "http://localhost/api"


def dag(name: str, factor: int = 2, **extra: Any) -> dict[str, Any]:
    """A transform-only DAG: its result is inputs.n times `factor`."""
    return {"name": name, "description": f"times {factor}", "parameters": [{"name": "n", "type": "int"}],
            "nodes": [{"id": "scale", "type": "transform", "data": {"value": f"{{{{ inputs.n * {factor} }}}}"}}],
            "edges": [], **extra}


def in_org(org: str) -> dict[str, str]:
    """The platform admin acting in `org` (X-Organization-Id)."""
    return {"X-Organization-Id": org}


async def create(api: Api, body: Any, headers: dict[str, str] | None = None, key: str | None = ADMIN_KEY) -> Any:
    return await api.call("list_dags", "POST", f"{BASE}/dags", body=body, headers=headers, key=key)


async def one(api: Api, method: str, name: str, body: Any = None, headers: dict[str, str] | None = None,
              key: str | None = ADMIN_KEY, params: dict[str, str] | None = None) -> Any:
    return await api.call("get_dag", method, f"{BASE}/dags/{name}", body=body, route={"name": name},
                          headers=headers, key=key, params=params)


async def listing(api: Api, headers: dict[str, str] | None = None, key: str | None = ADMIN_KEY) -> list[str]:
    status, body = await api.call("list_dags", "GET", f"{BASE}/dags", headers=headers, key=key)
    assert status == 200, body
    return [item["name"] for item in body["items"]]


async def org_with_key(api: Api) -> tuple[str, str]:
    """A new organization and an API key of it (a caller of the organization, no admin)."""
    org = f"dl-{uuid.uuid4().hex[:10]}"
    status, made = await api.call("create_organization", "POST", f"{BASE}/organizations",
                                  body={"id": org, "name": org.upper()})
    assert status == 201, made
    status, key = await api.call("create_key", "POST", f"{BASE}/keys", body={"name": "dl", "org_id": org})
    assert status == 201, key
    return org, key["secret"]


def fresh(prefix: str = "dl") -> str:
    return f"{prefix}_{uuid.uuid4().hex[:10]}"


async def test_create_read_change_delete_and_create_again(api: Api) -> None:
    # Given an organization whose platform admin creates a DAG
    org, _ = await org_with_key(api)
    name = fresh()
    status, created = await create(api, dag(name), in_org(org))
    # Then it is version 1 of the organization, with its author and an ETag
    assert status == 201, created
    assert (created["version"], created["scope"], created["source"]) == (1, org, "api")
    assert created["created_by"] and created["definition"]["nodes"][0]["id"] == "scale"
    # When it is changed with the ETag it was created with
    status, changed = await one(api, "PUT", name, dag(name, 3), {**in_org(org), "If-Match": created["etag"]})
    # Then it is version 2, and both versions read back
    assert status == 200 and changed["version"] == 2, changed
    status, current = await one(api, "GET", name, headers=in_org(org))
    assert status == 200 and current["version"] == 2 and current["description"] == "times 3"
    status, first = await one(api, "GET", name, headers=in_org(org), params={"version": "1"})
    assert status == 200 and first["version"] == 1 and first["description"] == "times 2"
    # And the stale ETag changes nothing (412), nor does a body naming another DAG (422)
    status, stale = await one(api, "PUT", name, dag(name, 4), {**in_org(org), "If-Match": created["etag"]})
    assert status == 412, stale
    status, renamed = await one(api, "PUT", name, dag("other"), in_org(org))
    assert status == 422 and renamed["error"]["details"][0]["field"] == "name", renamed
    assert renamed["error"]["details"][0]["code"] == "name_changed", renamed
    assert name in await listing(api, in_org(org))
    # When it is deleted
    status, _ = await one(api, "DELETE", name, headers=in_org(org))
    assert status == 204
    # Then it no longer reads or lists, and its old versions still read by number
    status, gone = await one(api, "GET", name, headers=in_org(org))
    assert status == 404 and gone["error"]["code"] == "dag_not_found", gone
    assert name not in await listing(api, in_org(org))
    status, kept = await one(api, "GET", name, headers=in_org(org), params={"version": "2"})
    assert status == 200 and kept["description"] == "times 3"
    # And creating it again goes on at version 3
    status, again = await create(api, dag(name, 5), in_org(org))
    assert status == 201 and again["version"] == 3, again


async def test_names_taken_here_or_by_registered_functions_are_409(api: Api) -> None:
    # Given a DAG of an organization
    org, _ = await org_with_key(api)
    name = fresh()
    assert (await create(api, dag(name), in_org(org)))[0] == 201
    # When the same name is created again there, or a registered workflow's name is used
    status, twice = await create(api, dag(name, 9), in_org(org))
    assert status == 409, twice
    status, registered = await create(api, dag("echo_any"), in_org(org))
    assert status == 409 and "registered" in registered["error"]["message"], registered
    # Then the first DAG is unchanged
    status, current = await one(api, "GET", name, headers=in_org(org))
    assert status == 200 and current["version"] == 1 and current["description"] == "times 2"
    # And another organization may use the name for a DAG of its own
    other, _ = await org_with_key(api)
    assert (await create(api, dag(name), in_org(other)))[0] == 201


async def test_concurrent_changes_of_one_version_one_wins(api: Api) -> None:
    # Given a DAG at version 1, and four admins who read it
    org, _ = await org_with_key(api)
    name = fresh()
    status, created = await create(api, dag(name), in_org(org))
    assert status == 201
    # When all four save a change with its ETag at once
    answers = await asyncio.gather(*(one(api, "PUT", name, dag(name, 10 + i), {**in_org(org),
                                                                                "If-Match": created["etag"]})
                                     for i in range(4)))
    # Then one is version 2 and the others are refused (412 stale, or 409 for a lost race)
    statuses = sorted(status for status, _ in answers)
    assert statuses.count(200) == 1 and set(statuses) <= {200, 409, 412}, answers
    status, current = await one(api, "GET", name, headers=in_org(org))
    winner = next(body for status, body in answers if status == 200)
    assert current["version"] == 2 and current["description"] == winner["description"]


async def test_other_organizations_get_404_and_never_see_it_listed(api: Api) -> None:
    # Given a DAG of organization A
    org_a, key_a = await org_with_key(api)
    org_b, key_b = await org_with_key(api)
    name = fresh()
    assert (await create(api, dag(name), in_org(org_a)))[0] == 201
    # Then A's caller reads and lists it
    status, seen = await one(api, "GET", name, key=key_a)
    assert status == 200 and seen["name"] == name
    assert name in await listing(api, key=key_a)
    # And B's caller and B's admin get 404 for every verb, exactly as for a name nobody used
    for method, body in (("GET", None), ("PUT", dag(name, 7)), ("DELETE", None)):
        headers = in_org(org_b)
        status, hidden = await one(api, method, name, body, headers)
        status_missing, missing = await one(api, method, "dl_nobody", body and dag("dl_nobody", 7), headers)
        assert (status, status_missing) == (404, 404), (hidden, missing)
        assert hidden["error"]["message"].replace(name, "dl_nobody") == missing["error"]["message"]
    assert (await one(api, "GET", name, key=key_b))[0] == 404
    assert name not in await listing(api, key=key_b)
    # And its graph is A's to see, as the engine would run it
    graph = {caller: await api.call("get_workflow_graph", "GET", f"{BASE}/workflows/{name}/graph",
                                    route={"name": name}, key=caller) for caller in (key_a, key_b)}
    assert graph[key_a][0] == 200 and [n["id"] for n in graph[key_a][1]["nodes"]] == ["scale"], graph[key_a]
    assert graph[key_b][0] == 404
    # And A's DAG is unchanged
    status, current = await one(api, "GET", name, key=key_a)
    assert current["version"] == 1


async def test_callers_who_are_no_admins_get_403_and_write_nothing(api: Api) -> None:
    # Given a DAG of an organization, and a (non-admin) API key of it
    org, key = await org_with_key(api)
    name = fresh()
    assert (await create(api, dag(name), in_org(org)))[0] == 201
    # When the key creates, changes, deletes or runs an unregistered DAG
    refused = [
        await create(api, dag(fresh()), key=key),
        await one(api, "PUT", name, dag(name, 5), key=key),
        await one(api, "DELETE", name, key=key),
        await api.call("execute_dag", "POST", f"{BASE}/dags/execute", body={"dag": dag(fresh()), "event_payload": {}},
                       key=key),
    ]
    # Then each is 403, and the DAG is as it was
    assert [status for status, _ in refused] == [403, 403, 403, 403], refused
    status, current = await one(api, "GET", name, key=key)
    assert status == 200 and current["version"] == 1


async def test_a_bad_definition_is_one_422_naming_every_problem_and_writes_nothing(api: Api) -> None:
    # Given a body with nodes that are not a list, a schedule, an endpoint and an unknown field
    org, _ = await org_with_key(api)
    name = fresh()
    body = {"name": name, "nodes": "none", "schedule": "0 * * * *", "endpoint_enabled": True, "colour": "red"}
    # When it is created
    status, answer = await create(api, body, in_org(org))
    # Then one 422 names every field
    assert status == 422, answer
    fields = {error["field"] for error in answer["error"]["details"]}
    assert {"nodes", "schedule", "endpoint_enabled", "colour"} <= fields, answer
    # And nothing was stored
    assert (await one(api, "GET", name, headers=in_org(org)))[0] == 404
    assert name not in await listing(api, in_org(org))
    # And a well-formed definition whose graph is wrong is refused with its graph problems and the stored-DAG ones
    broken = dag(name, schedule="0 * * * *") | {"edges": [{"source": "scale", "target": "nowhere"}]}
    status, answer = await create(api, broken, in_org(org))
    assert status == 422 and answer["error"]["code"] == "dag_invalid", answer
    fields = [error["field"] for error in answer["error"]["details"]]
    assert "schedule" in fields and any(f.startswith("edges") for f in fields), answer
    codes = {error["field"]: error.get("code") for error in answer["error"]["details"]}
    assert codes["schedule"] == "not_for_stored_dags", answer
    assert (await one(api, "GET", name, headers=in_org(org)))[0] == 404
    # And a name that could be no path, or is a path of /api/dags/ itself, is refused naming `name`
    for bad in ("no spaces allowed", "execute"):
        status, refused = await create(api, dag(bad), in_org(org))
        assert status == 422 and [e["field"] for e in refused["error"]["details"]] == ["name"], refused
    assert refused["error"]["details"][0]["code"] == "reserved_name", refused


@pytest.mark.parametrize("raw", [b"not json", b"[1, 2]"])
async def test_a_body_that_is_no_json_object_is_400(api: Api, raw: bytes) -> None:
    status, answer = await api.call("list_dags", "POST", f"{BASE}/dags", raw=raw)
    assert status == 400, answer


async def test_a_form_may_name_a_stored_dag_of_its_scope_only(api: Api) -> None:
    # Given a DAG of organization A
    org_a, _ = await org_with_key(api)
    org_b, _ = await org_with_key(api)
    name = fresh()
    assert (await create(api, dag(name), in_org(org_a)))[0] == 201

    async def form_in(org: str) -> tuple[int, Any]:
        form = {"id": f"dl-{uuid.uuid4().hex[:10]}", "name": "Double", "linked_workflow": name,
                "fields": [{"name": "n", "type": "number", "required": True}]}
        return await api.call("create_form", "POST", f"{BASE}/forms", body=form, headers=in_org(org))

    # When a form of A and a form of B link to it
    status_a, made = await form_in(org_a)
    status_b, refused = await form_in(org_b)
    # Then A's form is checked against the DAG's parameters and stored; B's names no workflow B can run
    assert status_a == 201, made
    assert status_b == 422 and refused["error"]["details"][0]["field"] == "linked_workflow", refused
