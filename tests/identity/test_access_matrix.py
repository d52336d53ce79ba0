"""The access matrix: every route of the route table x every kind of caller -> the status the issue's rules give.

The world: organizations A and B; an execution, a form, a config value and an API key of A (made by A's own users
and admin); real credentials of every kind — API keys (valid, revoked, expired, wrong), HS256 tokens (valid users
and admins of A and B, a platform admin, and expired / forged / wrong-audience ones). Each route is called once per
caller through function_app's function objects against the test Azurite, and the status is compared with MATRIX,
one declarative table (route -> caller -> status). Routes that change or remove what they address (cancel, PUT and
DELETE) get a fresh resource of A per cell, so that no cell depends on the order of the others.

What it proves beyond the statuses:
- zero cross-organization successes: no caller of B gets a 2xx on a route addressing a resource of A, and no listing
  answered to B (or to another user of A, for executions) names A's resources — counted, and asserted to be 0;
- another organization's resource answers 404 with the same body as a missing one (the id substituted);
- a route added to the table without a row here fails the test (the table is iterated, not this list).
The counted table (cells by status) is written to /tmp/conduit-access-matrix.txt and printed (`-s`).
"""

from __future__ import annotations

import base64
import json
import os
import time
import uuid
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import jwt
import pytest

from functions.http import TABLE
from shared.api.routes import ANY_METHOD, Route
from shared.storage.account import StorageAccount
from shared.storage.api_keys import ApiKey, ApiKeyStore, new_secret, secret_hash
from tests.http.conftest import ADMIN_KEY, Api

SECRET = "matrix-jwt-secret-of-at-least-32-bytes!"
ISSUER, AUDIENCE = "https://issuer.matrix.test", "conduit-matrix"
BASE = "http://localhost/api"
REPORT = Path("/tmp/conduit-access-matrix.txt")

# Callers, in the columns' order. Bad credentials first, then valid callers of A, then of B, then the platform.
CALLERS = ("anon", "wrng", "rvkd", "expd", "tokx", "frgd", "aud", "keyA", "usrA", "usA2", "usrB", "admA",
           "admB", "plat")
OF_B = ("usrB", "admB")
CALLER_NAMES = {
    "anon": "anonymous (no credentials)", "wrng": "wrong API key", "rvkd": "revoked API key of A",
    "expd": "expired API key of A", "tokx": "expired token (user of A)", "frgd": "forged token (user of A)",
    "aud": "wrong-audience token (user of A)", "keyA": "API key of A", "usrA": "OrgUser of A (owner)",
    "usA2": "another OrgUser of A", "usrB": "OrgUser of B", "admA": "OrgAdmin of A", "admB": "OrgAdmin of B",
    "plat": "PlatformAdmin (X-Organization-Id: A)",
}

# route -> caller -> status. `{x}` are the route template's parameters, addressing resources of A.
MATRIX = """
route                                           anon wrng rvkd expd tokx frgd  aud keyA usrA usA2 usrB admA admB plat
GET workflows                                    401  401  401  401  401  401  401  200  200  200  200  200  200  200
POST workflows/{name}/execute                    401  401  401  401  401  401  401  200  200  200  200  200  200  200
GET workflows/executions                         401  401  401  401  401  401  401  200  200  200  200  200  200  200
GET workflows/executions/{execution_id}          401  401  401  401  401  401  401  404  200  404  404  200  404  200
DELETE workflows/executions/{execution_id}       401  401  401  401  401  401  401  403  403  403  403  204  404  204
GET workflows/executions/{execution_id}/logs     401  401  401  401  401  401  401  404  200  404  404  200  404  200
GET workflows/executions/{execution_id}/steps    401  401  401  401  401  401  401  404  200  404  404  200  404  200
POST workflows/executions/{execution_id}/cancel  401  401  401  401  401  401  401  404  200  404  404  200  404  200
POST workflows/executions/batch                  401  401  401  401  401  401  401  200  200  200  200  200  200  200
POST workflows/executions/cancel                 401  401  401  401  401  401  401  200  200  200  200  200  200  200
POST workflows/executions/{execution_id}/rerun   401  401  401  401  401  401  401  404  202  404  404  202  404  202
POST workflows/executions/{execution_id}/events/{name} 401 401 401 401 401 401 401 404 409 404 404 409 404 409
POST scripts/execute                             401  401  401  401  401  401  401  403  403  403  403  403  403  200
GET data-providers                               401  401  401  401  401  401  401  200  200  200  200  200  200  200
POST data-providers/{name}                       401  401  401  401  401  401  401  200  200  200  200  200  200  200
DELETE data-providers/{name}/cache               401  401  401  401  401  401  401  403  403  403  403  403  403  200
POST forms                                       401  401  401  401  401  401  401  403  403  403  403  201  201  201
GET forms                                        401  401  401  401  401  401  401  200  200  200  200  200  200  200
GET forms/{form_id}                              401  401  401  401  401  401  401  200  200  200  404  200  404  200
PUT forms/{form_id}                              401  401  401  401  401  401  401  403  403  403  403  200  404  200
DELETE forms/{form_id}                           401  401  401  401  401  401  401  403  403  403  403  204  404  204
POST forms/{form_id}/fields/{field}/options      401  401  401  401  401  401  401  200  200  200  404  200  404  200
POST forms/{form_id}/submit                      401  401  401  401  401  401  401  200  200  200  404  200  404  200
POST forms/{form_id}/startup                     401  401  401  401  401  401  401  200  200  200  404  200  404  200
GET dags                                         401  401  401  401  401  401  401  200  200  200  200  200  200  200
POST dags                                        401  401  401  401  401  401  401  403  403  403  403  201  201  201
POST dags/execute                                401  401  401  401  401  401  401  403  403  403  403  200  200  200
GET dags/{name}                                  401  401  401  401  401  401  401  200  200  200  404  200  404  200
PUT dags/{name}                                  401  401  401  401  401  401  401  403  403  403  403  200  404  200
DELETE dags/{name}                               401  401  401  401  401  401  401  403  403  403  403  204  404  204
GET config                                       401  401  401  401  401  401  401  403  403  403  403  200  200  200
GET config/{key}                                 401  401  401  401  401  401  401  403  403  403  403  200  404  200
PUT config/{key}                                 401  401  401  401  401  401  401  403  403  403  403  200  200  200
DELETE config/{key}                              401  401  401  401  401  401  401  403  403  403  403  204  404  204
POST keys                                        401  401  401  401  401  401  401  403  403  403  403  201  403  201
GET keys                                         401  401  401  401  401  401  401  403  403  403  403  200  200  200
DELETE keys/{key_id}                             401  401  401  401  401  401  401  403  403  403  403  200  404  200
POST organizations                               401  401  401  401  401  401  401  403  403  403  403  403  403  201
GET organizations                                401  401  401  401  401  401  401  403  403  403  403  403  403  200
GET organizations/{organization_id}              401  401  401  401  401  401  401  403  403  403  403  200  404  200
PUT organizations/{organization_id}              401  401  401  401  401  401  401  403  403  403  403  403  404  200
PATCH organizations/{organization_id}            401  401  401  401  401  401  401  403  403  403  403  200  404  200
DELETE organizations/{organization_id}           401  401  401  401  401  401  401  403  403  403  403  403  403  204
GET schedules                                    401  401  401  401  401  401  401  200  200  200  200  200  200  200
GET schedules/{name}                             401  401  401  401  401  401  401  200  200  200  200  200  200  200
POST schedules/{name}/trigger                    401  401  401  401  401  401  401  403  403  403  403  403  403  202
POST schedules/{name}/pause                      401  401  401  401  401  401  401  403  403  403  403  403  403  200
POST schedules/{name}/resume                     401  401  401  401  401  401  401  403  403  403  403  403  403  200
GET dags/schema                                  401  401  401  401  401  401  401  200  200  200  200  200  200  200
GET dags/node-types                              401  401  401  401  401  401  401  200  200  200  200  200  200  200
POST dags/validate                               401  401  401  401  401  401  401  403  403  403  403  200  200  200
GET workflows/{name}/graph                       401  401  401  401  401  401  401  200  200  200  200  200  200  200
GET workflows/{name}/stats                       401  401  401  401  401  401  401  200  200  200  200  200  200  200
GET health                                       200  200  200  200  200  200  200  200  200  200  200  200  200  200
* endpoints/{name}                               401  401  401  401  401  401  401  200  403  403  403  403  403  403
"""
# Why some cells are what they are:
# - 404, not 403, wherever a caller may use the kind of resource but not this one (another organization's, another
#   user's execution): the answer tells nothing about whether it exists. 403 where the caller's role may not use
#   the route at all (a user and config, keys, organizations), which reveals nothing about any resource either.
# - PUT config/{key} by B's admin is 200: the key is a name within the caller's own scope, so it writes B's value
#   (A's stays as it was — asserted below); it addresses nothing of A.
# - PUT organizations/{id} by A's admin is 403: a PUT replaces name and is_active, which only platform admins change
#   (PATCH of allowed_workflows is its own admin's).
# - POST keys by B's admin (org_id: A) is 403: an organization's admin makes keys of its own organization only.
# - A webhook endpoint takes an API key (or a signature, or nothing when public), never a user's token: 403 for
#   tokens, the platform admin's included — people run workflows through POST /api/workflows/{name}/execute.
# - Checking a DAG definition (POST dags/validate) is for the admins who author DAGs (an organization's too): it
#   reads the names of the registered workflows its actions call. The schema, the node types and a workflow's graph
#   are any caller's (the graph follows GET workflows: a workflow the caller may not list is a 404).
# - Stored DAGs are managed like forms: an organization's admins (and platform admins) create, change and delete
#   those of the scope they act in (B's admin creates B's own; A's are 404 to it), every caller of a scope reads and
#   lists its DAGs and the global ones; running an unregistered DAG (dags/execute) is for the same admins.
# - Rerunning an execution and delivering an event to one follow cancel (policy.check_may_cancel): its owner, its
#   organization's admins and platform admins; the event cells are 409 because A's execution waits for no event.
# - A workflow's stats are any caller's who may list it, counted over the caller's own scope (a user who is no admin:
#   its own executions), so B's callers see B's counts and nothing of A's.
# - Deleting an execution is an admin's (403 for everyone else, its owner included); another organization's admin
#   gets 404 as for a missing one.
# - The bulk execution routes (batch read, cancel by ids) are 200 for every authenticated caller: they address no
#   single resource, so they answer per item. An execution of A the caller may not see (or cancel) is reported as a
#   missing one — `found: false`, outcome `not_found` — exactly for the callers whose single-execution cell is 404
#   (checked per cell against that row, see BULK_ITEMS); a bulk cancel gets a fresh Pending execution per cell.
# - Health is public: any credentials, even invalid ones, get its public answer.
# - Schedules belong to the app, not to an organization: any caller lists (and reads) the scheduled workflows it
#   may run; running one now, pausing and resuming are the platform admin's (an organization's admin included, 403).


def parse_matrix(text: str) -> dict[str, dict[str, int]]:
    lines = [line.split() for line in text.strip().splitlines()]
    header, rows = lines[0], lines[1:]
    assert tuple(header[1:]) == CALLERS, header
    table: dict[str, dict[str, int]] = {}
    for row in rows:
        name = f"{row[0]} {row[1]}"
        assert name not in table, f"{name} is listed twice"
        assert len(row) == 2 + len(CALLERS), f"{name}: one status per caller"
        table[name] = dict(zip(CALLERS, map(int, row[2:]), strict=True))
    return table


EXPECTED = parse_matrix(MATRIX)


def route_name(route: Route) -> str:
    return f"{route.method} {route.path}"


# Credentials --------------------------------------------------------------------------------------------------------


def token(user: str, org: str | None, *roles: str, secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"sub": user, "iss": ISSUER, "aud": AUDIENCE, "iat": now, "exp": now + 3600,
                            "roles": list(roles), "email": f"{user}@example.com"}
    if org is not None:
        body["org_id"] = org
    return jwt.encode(body | claims, secret, algorithm="HS256")


def bearer(credential: str, **extra: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {credential}", **extra}


@dataclass
class World:
    """Two organizations, credentials of every caller kind, and resources of A."""

    org_a: str
    org_b: str
    headers: dict[str, dict[str, str]]
    execution_a: str = ""
    form_a: str = ""
    config_a: str = ""
    key_a: str = ""
    dag_a: str = ""


@dataclass(frozen=True)
class Request:
    """One call of a route: its URL, route parameters, body and headers; `target` is the id of A's resource it
    addresses (None: it addresses none), so that the same call can be made for a missing one."""

    url: str
    route: dict[str, str]
    body: Any = None
    headers: dict[str, str] = field(default_factory=dict)
    target: str | None = None

    def for_missing(self, missing: str) -> Request:
        assert self.target is not None
        swap = lambda text: text.replace(self.target, missing)  # noqa: E731
        return replace(self, url=swap(self.url), route={k: swap(v) for k, v in self.route.items()},
                       body=json.loads(swap(json.dumps(self.body))), target=missing)


# Making resources of A ----------------------------------------------------------------------------------------------


def admin_in(org: str) -> dict[str, str]:
    return {"x-api-key": ADMIN_KEY, "X-Organization-Id": org}


async def call(api: Api, route: Route, request: Request, headers: dict[str, str]) -> tuple[int, Any]:
    method = "POST" if route.method == ANY_METHOD else route.method
    function = next(iter(TABLE.by_path()[route.path].values())).name  # one Functions function per path
    return await api.call(function, method, request.url, body=request.body, route=request.route,
                          headers={**headers, **request.headers}, key=None)


async def made(api: Api, status_wanted: int, function: str, method: str, url: str, *, body: Any = None,
               headers: dict[str, str], route: dict[str, str] | None = None) -> Any:
    status, answer = await api.call(function, method, url, body=body, route=route, headers=headers, key=None)
    assert status == status_wanted, (url, answer)
    return answer


def form_document(form_id: str) -> dict[str, Any]:
    return {
        "id": form_id, "name": "Matrix form", "linked_workflow": "matrix_debug", "launch_workflow": "matrix_debug",
        "fields": [{"name": "note", "type": "select", "required": True, "data_provider": "api_sizes",
                    "data_provider_inputs": {"limit": {"mode": "static", "value": 2}}}],
    }


async def new_form(api: Api, world: World) -> str:
    form_id = f"mx-{uuid.uuid4().hex[:10]}"
    await made(api, 201, "create_form", "POST", f"{BASE}/forms", body=form_document(form_id),
               headers=bearer(token("ann", world.org_a, "OrgAdmin")))
    return form_id


async def new_config(api: Api, world: World) -> str:
    key = f"mx_{uuid.uuid4().hex[:10]}"
    await made(api, 200, "get_config", "PUT", f"{BASE}/config/{key}", body={"type": "string", "value": "of A"},
               route={"key": key}, headers=admin_in(world.org_a))
    return key


async def new_key(api: Api, world: World) -> str:
    answer = await made(api, 201, "create_key", "POST", f"{BASE}/keys", body={"name": "mx", "org_id": world.org_a},
                        headers=admin_in(world.org_a))
    return str(answer["id"])


async def new_pending_execution(api: Api, world: World) -> str:
    """An async execution of A's user, left Pending (nobody drains the queue here)."""
    answer = await made(api, 202, "execute_workflow", "POST", f"{BASE}/workflows/echo_async/execute",
                        body={"input_data": {"payload": {"cancel": "me"}}}, route={"name": "echo_async"},
                        headers=world.headers["usrA"])
    return str(answer["execution_id"])


async def new_org(api: Api) -> str:
    org_id = f"mx-{uuid.uuid4().hex[:10]}"
    await made(api, 201, "create_organization", "POST", f"{BASE}/organizations",
               body={"id": org_id, "name": org_id.upper()}, headers={"x-api-key": ADMIN_KEY})
    return org_id


# One request per route and caller ------------------------------------------------------------------------------------

Build = Callable[[Api, World, str], Awaitable[Request]]


def execution_request(suffix: str = "") -> Build:
    async def build(api: Api, world: World, caller: str) -> Request:
        eid = world.execution_a
        return Request(f"{BASE}/workflows/executions/{eid}{suffix}", {"execution_id": eid}, target=eid)
    return build


async def delete_request(api: Api, world: World, caller: str) -> Request:
    """A fresh finished execution of A's user, deleted (or not) by each caller."""
    ran = await made(api, 200, "execute_workflow", "POST", f"{BASE}/workflows/echo_any/execute",
                     body={"input_data": {"payload": {"delete": "me"}}}, route={"name": "echo_any"},
                     headers=world.headers["usrA"])
    eid = str(ran["execution_id"])
    return Request(f"{BASE}/workflows/executions/{eid}", {"execution_id": eid}, target=eid)


async def cancel_request(api: Api, world: World, caller: str) -> Request:
    eid = await new_pending_execution(api, world)
    return Request(f"{BASE}/workflows/executions/{eid}/cancel", {"execution_id": eid}, target=eid)


async def batch_request(api: Api, world: World, caller: str) -> Request:
    return Request(f"{BASE}/workflows/executions/batch", {}, {"ids": [world.execution_a]})


async def bulk_cancel_request(api: Api, world: World, caller: str) -> Request:
    eid = await new_pending_execution(api, world)
    return Request(f"{BASE}/workflows/executions/cancel", {}, {"ids": [eid]})


async def event_request(api: Api, world: World, caller: str) -> Request:
    """An event for A's finished execution: who may deliver it gets 409 (it waits for nothing), anyone else 404."""
    eid = world.execution_a
    return Request(f"{BASE}/workflows/executions/{eid}/events/approval", {"execution_id": eid, "name": "approval"},
                   body={"approved": True}, target=eid)


def form_request(suffix: str = "", body: Any = None, fresh: bool = False, **route: str) -> Build:
    async def build(api: Api, world: World, caller: str) -> Request:
        fid = await new_form(api, world) if fresh else world.form_a
        headers = {"If-Match": "*"} if fresh and body is not None else {}
        document = form_document(fid) | {"name": "Changed"} if body == "form" else body
        return Request(f"{BASE}/forms/{fid}{suffix}", {"form_id": fid, **route}, document, headers, target=fid)
    return build


def fixed(path: str, body: Any = None, **route: str) -> Build:
    async def build(api: Api, world: World, caller: str) -> Request:
        return Request(f"{BASE}/{path}", dict(route), body)
    return build


async def config_read(api: Api, world: World, caller: str) -> Request:
    return Request(f"{BASE}/config/{world.config_a}", {"key": world.config_a}, target=world.config_a)


async def config_put(api: Api, world: World, caller: str) -> Request:
    key = f"mx_put_{uuid.uuid4().hex[:8]}"  # a name in the caller's own scope
    return Request(f"{BASE}/config/{key}", {"key": key}, {"type": "string", "value": caller})


async def config_delete(api: Api, world: World, caller: str) -> Request:
    key = await new_config(api, world)
    return Request(f"{BASE}/config/{key}", {"key": key}, target=key)


async def key_delete(api: Api, world: World, caller: str) -> Request:
    key_id = await new_key(api, world)
    return Request(f"{BASE}/keys/{key_id}", {"key_id": key_id}, target=key_id)


def organization_request(body: Any = None) -> Build:
    async def build(api: Api, world: World, caller: str) -> Request:
        org = world.org_a
        return Request(f"{BASE}/organizations/{org}", {"organization_id": org}, body, target=org)
    return build


async def organization_create(api: Api, world: World, caller: str) -> Request:
    return Request(f"{BASE}/organizations", {}, {"id": f"mx-{uuid.uuid4().hex[:10]}", "name": "made"})


async def organization_delete(api: Api, world: World, caller: str) -> Request:
    org = await new_org(api)  # a fresh one: deleting A would end the matrix
    return Request(f"{BASE}/organizations/{org}", {"organization_id": org})


async def form_create(api: Api, world: World, caller: str) -> Request:
    return Request(f"{BASE}/forms", {}, form_document(f"mx-{uuid.uuid4().hex[:10]}"))


def dag_document(name: str, description: str = "Matrix DAG") -> dict[str, Any]:
    return {"name": name, "description": description, "execution_mode": "sync",
            "nodes": [{"id": "double", "type": "transform", "data": {"value": "{{ inputs.n * 2 }}"}}], "edges": []}


async def new_dag(api: Api, world: World) -> str:
    name = f"mx-dag-{uuid.uuid4().hex[:10]}"
    await made(api, 201, "list_dags", "POST", f"{BASE}/dags", body=dag_document(name),
               headers=bearer(token("ann", world.org_a, "OrgAdmin")))
    return name


def dag_request(body: bool = False, fresh: bool = False) -> Build:
    async def build(api: Api, world: World, caller: str) -> Request:
        name = await new_dag(api, world) if fresh else world.dag_a
        document = dag_document(name, "Changed") if body else None
        return Request(f"{BASE}/dags/{name}", {"name": name}, document, target=name)
    return build


async def dag_create(api: Api, world: World, caller: str) -> Request:
    return Request(f"{BASE}/dags", {}, dag_document(f"mx-dag-{uuid.uuid4().hex[:10]}"))


SCRIPT = base64.b64encode(b"result = 1").decode()
REQUESTS: dict[str, Build] = {
    "GET workflows": fixed("workflows"),
    "POST workflows/{name}/execute": fixed("workflows/echo_any/execute", {"input_data": {"payload": 1}},
                                           name="echo_any"),
    "GET workflows/executions": fixed("workflows/executions"),
    "GET workflows/executions/{execution_id}": execution_request(),
    "DELETE workflows/executions/{execution_id}": delete_request,
    "GET workflows/executions/{execution_id}/logs": execution_request("/logs"),
    "GET workflows/executions/{execution_id}/steps": execution_request("/steps"),
    "POST workflows/executions/{execution_id}/cancel": cancel_request,
    "POST workflows/executions/{execution_id}/rerun": execution_request("/rerun"),
    "POST workflows/executions/batch": batch_request,
    "POST workflows/executions/cancel": bulk_cancel_request,
    "POST workflows/executions/{execution_id}/events/{name}": event_request,
    "POST scripts/execute": fixed("scripts/execute", {"code": SCRIPT}),
    "GET data-providers": fixed("data-providers"),
    "POST data-providers/{name}": fixed("data-providers/api_sizes", {"inputs": {"limit": 2}}, name="api_sizes"),
    "DELETE data-providers/{name}/cache": fixed("data-providers/api_sizes/cache", name="api_sizes"),
    "POST forms": form_create,
    "GET forms": fixed("forms"),
    "GET forms/{form_id}": form_request(),
    "PUT forms/{form_id}": form_request(body="form", fresh=True),
    "DELETE forms/{form_id}": form_request(fresh=True),
    "POST forms/{form_id}/fields/{field}/options": form_request("/fields/note/options", {"values": {}},
                                                                field="note"),
    "POST forms/{form_id}/submit": form_request("/submit", {"values": {"note": "XS"}}),
    "POST forms/{form_id}/startup": form_request("/startup", {"note": "start"}),
    "GET dags": fixed("dags"),
    "POST dags": dag_create,
    "POST dags/execute": fixed("dags/execute", {"dag": dag_document("mx_adhoc"), "event_payload": {"n": 2}}),
    "GET dags/{name}": dag_request(),
    "PUT dags/{name}": dag_request(body=True, fresh=True),
    "DELETE dags/{name}": dag_request(fresh=True),
    "GET config": fixed("config"),
    "GET config/{key}": config_read,
    "PUT config/{key}": config_put,
    "DELETE config/{key}": config_delete,
    "POST keys": fixed("keys", {"name": "made by the matrix", "org_id": "<A>"}),
    "GET keys": fixed("keys"),
    "DELETE keys/{key_id}": key_delete,
    "POST organizations": organization_create,
    "GET organizations": fixed("organizations"),
    "GET organizations/{organization_id}": organization_request(),
    "PUT organizations/{organization_id}": organization_request({"name": "Org A", "is_active": True}),
    "PATCH organizations/{organization_id}": organization_request({"allowed_workflows": None}),
    "DELETE organizations/{organization_id}": organization_delete,
    "GET health": fixed("health"),
    "GET dags/schema": fixed("dags/schema"),
    "GET dags/node-types": fixed("dags/node-types"),
    "POST dags/validate": fixed("dags/validate", {"name": "matrix_dag", "nodes": [
        {"id": "only", "type": "transform", "data": {"value": 1}}]}),
    "GET workflows/{name}/graph": fixed("workflows/echo_any/graph", name="echo_any"),
    "GET workflows/{name}/stats": fixed("workflows/echo_any/stats", name="echo_any"),
    "GET schedules": fixed("schedules"),
    "GET schedules/{name}": fixed("schedules/matrix_scheduled", name="matrix_scheduled"),
    "POST schedules/{name}/trigger": fixed("schedules/matrix_scheduled/trigger", name="matrix_scheduled"),
    "POST schedules/{name}/pause": fixed("schedules/matrix_scheduled/pause", name="matrix_scheduled"),
    "POST schedules/{name}/resume": fixed("schedules/matrix_scheduled/resume", name="matrix_scheduled"),
    "* endpoints/{name}": fixed("endpoints/hook_echo", {"name": "matrix"}, name="hook_echo"),
}
# A bulk route's one item (an execution of A) -> the single-execution route whose cell says whether the caller may
# see it: a 404 there must be a missing item here (`found: false` / outcome `not_found`), a 200 a found one.
BULK_ITEMS = {"POST workflows/executions/batch": "GET workflows/executions/{execution_id}",
              "POST workflows/executions/cancel": "POST workflows/executions/{execution_id}/cancel"}
LISTINGS = ("GET workflows/executions", "GET forms", "GET keys", "GET config", "GET dags")


# The world ---------------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
async def world(api: Api, storage_connection_string: str) -> AsyncIterator[World]:
    saved = {name: os.environ.get(name) for name in ("CONDUIT_JWT_SECRET", "CONDUIT_JWT_ISSUER",
                                                      "CONDUIT_JWT_AUDIENCE")}
    os.environ.update(CONDUIT_JWT_SECRET=SECRET, CONDUIT_JWT_ISSUER=ISSUER, CONDUIT_JWT_AUDIENCE=AUDIENCE)
    try:
        yield await build_world(api, storage_connection_string)
    finally:
        for name, value in saved.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value


async def build_world(api: Api, storage_connection_string: str) -> World:
    org_a, org_b = await new_org(api), await new_org(api)
    key_a = await made(api, 201, "create_key", "POST", f"{BASE}/keys", body={"name": "A", "org_id": org_a},
                       headers={"x-api-key": ADMIN_KEY})
    revoked = await made(api, 201, "create_key", "POST", f"{BASE}/keys", body={"name": "R", "org_id": org_a},
                         headers={"x-api-key": ADMIN_KEY})
    await made(api, 200, "revoke_key", "DELETE", f"{BASE}/keys/{revoked['id']}", route={"key_id": revoked["id"]},
               headers={"x-api-key": ADMIN_KEY})
    expired = await expired_key(storage_connection_string, org_a)
    wrong = f"cdk_{uuid.uuid4().hex[:16]}_{'x' * 43}"
    now = int(time.time())
    headers = {
        "anon": {},
        "wrng": {"x-api-key": wrong},
        "rvkd": {"x-api-key": revoked["secret"]},
        "expd": {"x-api-key": expired},
        "tokx": bearer(token("alice", org_a, exp=now - 3600, iat=now - 7200)),
        "frgd": bearer(token("alice", org_a, secret="not-the-secret-but-as-long-as-it!!!!")),
        "aud": bearer(token("alice", org_a, aud="someone-else")),
        "keyA": {"x-api-key": key_a["secret"]},
        "usrA": bearer(token("alice", org_a, "OrgUser")),
        "usA2": bearer(token("albert", org_a, "OrgUser")),
        "usrB": bearer(token("bob", org_b, "OrgUser")),
        "admA": bearer(token("ann", org_a, "OrgAdmin")),
        "admB": bearer(token("bea", org_b, "OrgAdmin")),
        "plat": bearer(token("root", None, "PlatformAdmin"), **{"X-Organization-Id": org_a}),
    }
    world = World(org_a, org_b, headers)
    ran = await made(api, 200, "execute_workflow", "POST", f"{BASE}/workflows/echo_any/execute",
                     body={"input_data": {"payload": {"of": "alice"}}}, route={"name": "echo_any"},
                     headers=headers["usrA"])
    world.execution_a = ran["execution_id"]
    world.form_a = await new_form(api, world)
    world.config_a = await new_config(api, world)
    world.key_a = key_a["id"]
    world.dag_a = await new_dag(api, world)
    return world


async def expired_key(connection_string: str, org: str) -> str:
    """A key of A whose expiry has passed (written as it would stand a while after its creation)."""
    store = ApiKeyStore.open(StorageAccount.from_connection_string(connection_string))
    key_id, secret = new_secret()
    now = datetime.now(UTC)
    await store.create(ApiKey(key_id, "expired", org, None, now - timedelta(minutes=1), now - timedelta(hours=1),
                              "admin", hash=secret_hash(secret)))
    await store.close()
    return secret


# The matrix --------------------------------------------------------------------------------------------------------


@dataclass
class Tally:
    cells: Counter[int] = field(default_factory=Counter)
    by_caller: dict[str, Counter[int]] = field(default_factory=dict)
    mismatches: list[str] = field(default_factory=list)
    cross_org_successes: list[str] = field(default_factory=list)
    listing_leaks: list[str] = field(default_factory=list)
    not_found_compared: int = 0
    not_found_differences: list[str] = field(default_factory=list)


def missing_id(route: str) -> str:
    if "{execution_id}" in route:
        return "00000000-0000-8000-8000-000000000000"
    if "{key_id}" in route:
        return "0123456789abcdef"
    return f"mx-missing-{uuid.uuid4().hex[:8]}" if "{key}" not in route else f"mx_missing_{uuid.uuid4().hex[:8]}"


def hidden_in_listings(world: World, caller: str) -> set[str]:
    """What a listing must not name for this caller: A's resources for B's callers; A's user's execution for the
    other users of A (users list their own executions only)."""
    if caller in OF_B:
        return {world.execution_a, world.form_a, world.config_a, world.key_a, world.dag_a}
    if caller in ("keyA", "usA2"):
        return {world.execution_a}
    return set()


async def test_every_route_answers_every_caller_as_the_matrix_says(api: Api, world: World) -> None:
    # Given every route of the table, each with a row of the matrix
    routes = {route_name(route): route for route in TABLE.routes}
    assert set(routes) == set(EXPECTED), {"routes without a matrix row": sorted(set(routes) - set(EXPECTED)),
                                          "rows of no route": sorted(set(EXPECTED) - set(routes))}
    assert set(routes) == set(REQUESTS), sorted(set(routes) ^ set(REQUESTS))
    tally = Tally()
    started = time.monotonic()
    # When each caller calls each route
    for name, route in routes.items():
        for caller in CALLERS:
            await check_cell(api, world, tally, name, route, caller)
    elapsed = time.monotonic() - started
    report = render(tally, elapsed)
    REPORT.write_text(report)
    print(report)
    # Then every cell is as the matrix says, nothing of A reaches B, and a 404 of A's resource is a missing one's
    assert not tally.mismatches, "\n".join(tally.mismatches)
    assert tally.cross_org_successes == [], tally.cross_org_successes
    assert tally.listing_leaks == [], tally.listing_leaks
    assert tally.not_found_differences == [], tally.not_found_differences
    assert sum(tally.cells.values()) == len(routes) * len(CALLERS)
    # And the body comparison ran for every 404 the matrix expects (each addresses a resource of A)
    assert tally.not_found_compared == sum(row[c] == 404 for row in EXPECTED.values() for c in CALLERS)


async def check_cell(api: Api, world: World, tally: Tally, name: str, route: Route, caller: str) -> None:
    request = await REQUESTS[name](api, world, caller)
    if request.body is not None and "<A>" in json.dumps(request.body):
        request = replace(request, body=json.loads(json.dumps(request.body).replace("<A>", world.org_a)))
    status, body = await call(api, route, request, world.headers[caller])
    expected = EXPECTED[name][caller]
    tally.cells[status] += 1
    tally.by_caller.setdefault(caller, Counter())[status] += 1
    if status != expected:
        tally.mismatches.append(f"{name} as {caller}: {status} (expected {expected}) {json.dumps(body)[:300]}")
    if caller in OF_B and request.target is not None and status < 400:
        tally.cross_org_successes.append(f"{name} as {caller}: {status}")
    if name in LISTINGS and status == 200:
        leaked = {item for item in hidden_in_listings(world, caller) if item in json.dumps(body)}
        if leaked:
            tally.listing_leaks.append(f"{name} as {caller} names {sorted(leaked)}")
    if name in BULK_ITEMS and status == 200:
        check_bulk_item(tally, name, caller, body)
    if status == 404 and request.target is not None:
        await compare_with_missing(api, world, tally, name, route, caller, request, body)


def check_bulk_item(tally: Tally, name: str, caller: str, body: Any) -> None:
    """A bulk answer's item of A is found (or cancelled) exactly when the single-execution route answers 200."""
    item = body["items"][0]
    found = item.get("found", True) and item.get("outcome") != "not_found"
    if found != (EXPECTED[BULK_ITEMS[name]][caller] == 200):
        tally.mismatches.append(f"{name} as {caller}: item {json.dumps(item)}")
    if found and caller in OF_B:
        tally.cross_org_successes.append(f"{name} as {caller}: {json.dumps(item)}")


async def compare_with_missing(api: Api, world: World, tally: Tally, name: str, route: Route, caller: str,
                               request: Request, body: Any) -> None:
    """The same call for an id nobody made must answer the same status and body (its id in place of A's)."""
    missing = missing_id(name)
    status, missing_body = await call(api, route, request.for_missing(missing), world.headers[caller])
    tally.not_found_compared += 1
    assert request.target is not None
    if status != 404 or json.dumps(missing_body).replace(missing, request.target) != json.dumps(body):
        tally.not_found_differences.append(f"{name} as {caller}: {json.dumps(body)} vs {status} "
                                           f"{json.dumps(missing_body)}")


def render(tally: Tally, elapsed: float) -> str:
    total = sum(tally.cells.values())
    statuses = sorted(tally.cells)
    lines = [f"Access matrix: {len(EXPECTED)} routes x {len(CALLERS)} callers = {total} cells, "
             f"{total - len(tally.mismatches)} as expected, in {elapsed:.1f} s",
             "cells by status: " + ", ".join(f"{status}: {tally.cells[status]}" for status in statuses),
             f"cross-organization successes: {len(tally.cross_org_successes) + len(tally.listing_leaks)}",
             f"404s of another's resource compared with a missing one's body: {tally.not_found_compared}, "
             f"different: {len(tally.not_found_differences)}", "",
             "| caller | " + " | ".join(str(status) for status in statuses) + " |",
             "|---|" + "---:|" * len(statuses)]
    for caller in CALLERS:
        counts = tally.by_caller.get(caller, Counter())
        lines.append(f"| {CALLER_NAMES[caller]} | " + " | ".join(str(counts[s]) for s in statuses) + " |")
    return "\n".join(lines) + "\n"


# The isolation rules the matrix cannot show by status alone ---------------------------------------------------------


async def get(api: Api, path: str, headers: dict[str, str], **route: str) -> tuple[int, Any]:
    """GET a route by its template (`workflows/executions/{execution_id}`) with these route parameters."""
    function = next(iter(TABLE.by_path()[path].values())).name
    return await api.call(function, "GET", f"{BASE}/{path.format(**route)}", route=route, headers=headers, key=None)


async def test_debug_lines_are_shown_to_admins_only(api: Api, world: World) -> None:
    # Given a workflow that stores DEBUG lines, run by a user of A (sync: its answer carries its log lines)
    status, ran = await api.call("execute_workflow", "POST", f"{BASE}/workflows/matrix_debug/execute",
                                 body={"input_data": {"note": "n1"}}, route={"name": "matrix_debug"},
                                 headers=world.headers["usrA"], key=None)
    assert status == 200 and ran["status"] == "Success", ran
    # Then the user's own answer has its INFO line and no DEBUG line
    assert [line["level"] for line in ran["logs"]] == ["INFO"], ran["logs"]
    eid = ran["execution_id"]
    route = {"execution_id": eid}
    # When the user, A's admin and the platform admin read its logs
    levels = {}
    for caller in ("usrA", "admA", "plat"):
        status, logs = await get(api, "workflows/executions/{execution_id}/logs", world.headers[caller], **route)
        assert status == 200, logs
        levels[caller] = [line["level"] for line in logs["items"]]
    # Then only the admins see the DEBUG line
    assert levels == {"usrA": ["INFO"], "admA": ["DEBUG", "INFO"], "plat": ["DEBUG", "INFO"]}
    # And asking for DEBUG explicitly, or for one line (limit), still shows the user none
    status, logs = await api.call("get_execution_log_lines", "GET", f"{BASE}/workflows/executions/{eid}/logs",
                                  route=route, params={"level": "DEBUG", "limit": "1"},
                                  headers=world.headers["usrA"], key=None)
    assert status == 200 and [line["level"] for line in logs["items"]] == ["INFO"], logs


async def test_script_variables_are_shown_to_admins_only(api: Api, world: World) -> None:
    # Given an inline script run by the platform admin in A's scope (its answer carries its variables)
    code = base64.b64encode(b"token = 'internal'\nresult = 2").decode()
    status, ran = await api.call("execute_script", "POST", f"{BASE}/scripts/execute", body={"code": code},
                                 headers=admin_in(world.org_a), key=None)
    assert status == 200 and ran["variables"]["token"] == "internal", ran
    # When A's admin reads the record, Then it sees the variables; the record as a user would get it has none
    route = {"execution_id": ran["execution_id"]}
    status, record = await get(api, "workflows/executions/{execution_id}", world.headers["admA"], **route)
    assert status == 200 and record["variables"]["token"] == "internal"
    from shared.executions.queries import execution_to_api, result_to_api
    from shared.models import Caller, ExecutionRecord, ExecutionResult, ExecutionStatus, LogLine
    user = Caller(user_id="admin", scope=world.org_a, organization_id=world.org_a, kind="user",
                  roles=frozenset({"OrgUser"}))
    stored = ExecutionRecord(ran["execution_id"], world.org_a, "script", ExecutionStatus.SUCCESS,
                             variables={"token": "internal"})
    assert "variables" not in execution_to_api(user, stored)
    result = ExecutionResult("x", ExecutionStatus.SUCCESS, variables={"token": "internal"},
                             logs=[LogLine(1, "t", "DEBUG", "workflow.x", "d"),
                                   LogLine(2, "t", "INFO", "workflow.x", "i")])
    answered = result_to_api(result, user)
    assert "variables" not in answered and [line["level"] for line in answered["logs"]] == ["INFO"]
    assert "variables" not in result_to_api(result, None)  # anonymous (public endpoints): never


async def test_cached_provider_options_never_cross_organizations(api: Api, world: World) -> None:
    async def options(caller: str) -> dict[str, Any]:
        status, body = await api.call("get_data_provider_options", "POST", f"{BASE}/data-providers/matrix_scoped",
                                      body={"inputs": {}}, route={"name": "matrix_scoped"},
                                      headers=world.headers[caller], key=None)
        assert status == 200, body
        return body
    # Given A's options computed and cached for A
    first = await options("usrA")
    assert first["options"][0]["value"] == world.org_a
    # When B asks for the same provider and inputs, Then it gets options computed for B, not A's cached ones
    of_b = await options("usrB")
    assert of_b["options"][0]["value"] == world.org_b and of_b["cached"] is False
    # And A's next read is its own cached entry
    again = await options("usA2")
    assert again["options"][0]["value"] == world.org_a and again["cached"] is True


async def test_a_config_key_of_the_same_name_is_per_organization(api: Api, world: World) -> None:
    # Given A's value under a key, When B's admin writes the same key, Then it writes B's own and A's is unchanged
    key = await new_config(api, world)
    status, written = await api.call("get_config", "PUT", f"{BASE}/config/{key}", route={"key": key},
                                     body={"type": "string", "value": "of B"}, headers=world.headers["admB"], key=None)
    assert status == 200 and written["scope"] == world.org_b, written
    status, of_a = await get(api, "config/{key}", world.headers["admA"], key=key)
    assert status == 200 and of_a["value"] == "of A"
    # And B's admin deleting it deletes B's; A's stays
    status, _ = await api.call("get_config", "DELETE", f"{BASE}/config/{key}", route={"key": key},
                               headers=world.headers["admB"], key=None)
    assert status == 204
    assert (await get(api, "config/{key}", world.headers["admA"], key=key))[1]["value"] == "of A"
