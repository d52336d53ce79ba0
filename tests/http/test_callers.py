"""Callers over HTTP: API keys (create, list, revoke, expiry, workflow limits), JWT users of organizations and their
roles, Easy Auth only when trusted, inactive organizations, X-Organization-Id, own executions and allowlists.

Every request goes through function_app's function objects against the test Azurite (tests/http/conftest.py)."""

from __future__ import annotations

import base64
import json
import time
import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import azure.functions as func
import jwt
import pytest

from shared.storage.api_keys import ApiKey, ApiKeyStore, new_secret, secret_hash
from tests.http.conftest import Api

SECRET = "test-jwt-secret-of-at-least-32-bytes!!"
BASE = "http://localhost/api"


@pytest.fixture(autouse=True)
def jwt_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CONDUIT_JWT_SECRET", SECRET)
    monkeypatch.setenv("CONDUIT_JWT_ISSUER", "https://issuer.test")
    monkeypatch.setenv("CONDUIT_JWT_AUDIENCE", "conduit")


def token(user: str, org: str | None, *roles: str, secret: str = SECRET, **claims: Any) -> str:
    now = int(time.time())
    body: dict[str, Any] = {"sub": user, "iss": "https://issuer.test", "aud": "conduit", "iat": now,
                            "exp": now + 600, "roles": list(roles), "email": f"{user}@example.com"}
    if org is not None:
        body["org_id"] = org
    return jwt.encode(body | claims, secret, algorithm="HS256")


def bearer(credential: str, **extra: str) -> dict[str, Any]:
    return {"key": None, "headers": {"Authorization": f"Bearer {credential}", **extra}}


async def new_org(api: Api, **fields: Any) -> str:
    org_id = f"org-{uuid.uuid4().hex[:8]}"
    status, body = await api.call("create_organization", "POST", f"{BASE}/organizations",
                                  body={"id": org_id, "name": org_id.upper(), **fields})
    assert status == 201, body
    return org_id


async def patch_org(api: Api, org_id: str, changes: dict[str, Any], **kw: Any) -> tuple[int, Any]:
    return await api.call("get_organization", "PATCH", f"{BASE}/organizations/{org_id}", body=changes,
                          route={"organization_id": org_id}, **kw)


async def new_key(api: Api, **fields: Any) -> tuple[int, Any]:
    kw = fields.pop("kw", {})
    return await api.call("create_key", "POST", f"{BASE}/keys", body={"name": "svc", **fields}, **kw)


async def list_executions(api: Api, **kw: Any) -> tuple[int, Any]:
    return await api.call("list_execution_page", "GET", f"{BASE}/workflows/executions", **kw)


# API keys ----------------------------------------------------------------------------------------------------------


async def test_a_key_is_shown_once_listed_without_secrets_and_refused_once_revoked(api: Api) -> None:
    # Given an organization and a key of it
    org = await new_org(api)
    status, created = await new_key(api, org_id=org)
    assert status == 201 and created["secret"].startswith("cdk_") and created["org_id"] == org
    # When the key runs a workflow, Then it runs in its organization's scope
    status, ran = await api.execute("echo_any", {"payload": 1}, key=created["secret"])
    assert status == 200 and ran["status"] == "Success"
    status, record = await api.execution(ran["execution_id"], key=created["secret"])
    assert status == 200 and record["scope"] == org and record["caller"]["key_id"] == created["id"]
    # And the listing never shows a secret or a hash
    status, listed = await api.call("create_key", "GET", f"{BASE}/keys")
    assert status == 200
    mine = [key for key in listed["items"] if key["id"] == created["id"]]
    assert len(mine) == 1 and "secret" not in mine[0] and "hash" not in mine[0]
    assert created["secret"] not in json.dumps(listed)
    # When it is revoked, Then the same instance refuses it at once
    status, revoked = await api.call("revoke_key", "DELETE", f"{BASE}/keys/{created['id']}",
                                     route={"key_id": created["id"]})
    assert status == 200 and revoked["revoked"] is True
    status, body = await api.execute("echo_any", {}, key=created["secret"])
    assert status == 401 and "revoked" in body["error"]["message"]


async def test_a_wrong_secret_with_a_real_key_id_is_refused(api: Api) -> None:
    status, created = await new_key(api)
    forged = created["secret"][:-4] + ("AAAA" if not created["secret"].endswith("AAAA") else "BBBB")
    status, body = await api.execute("echo_any", {}, key=forged)
    assert status == 401 and body["error"]["message"] == "Invalid API key."


async def test_an_expired_key_is_401(api: Api, storage_connection_string: str) -> None:
    # Given a key whose expiry has passed (written as it would stand an hour after its creation)
    store = ApiKeyStore.open(_account(storage_connection_string))
    key_id, secret = new_secret()
    now = datetime.now(UTC)
    await store.create(ApiKey(key_id, "old", None, None, now - timedelta(minutes=1), now - timedelta(hours=1),
                              "admin", hash=secret_hash(secret)))
    await store.close()
    # When it is used, Then it is refused as expired
    status, body = await api.execute("echo_any", {}, key=secret)
    assert status == 401 and "expired" in body["error"]["message"]


async def test_a_key_limited_to_workflows_runs_only_those(api: Api) -> None:
    status, created = await new_key(api, workflows=["echo_any"])
    assert status == 201 and created["workflows"] == ["echo_any"]
    assert (await api.execute("echo_any", {}, key=created["secret"]))[0] == 200
    status, body = await api.execute("not_finite", {"which": "nan"}, key=created["secret"])
    assert status == 403 and "may not run" in body["error"]["message"]
    # And the workflow list shows it only what it may run
    status, listed = await api.call("list_workflows", "GET", f"{BASE}/workflows", key=created["secret"])
    assert [item["name"] for item in listed["items"]] == ["echo_any"]



async def test_an_api_key_is_rate_limited_on_every_route_and_counted_once_per_request(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a key and a limit of 5 requests a minute per key
    status, created = await new_key(api)
    assert status == 201
    monkeypatch.setenv("CONDUIT_RATE_LIMIT_PER_MINUTE", "5")
    key = created["secret"]
    # When the key calls five different routes, an endpoint among them (counted once there too)
    answers = [
        await api.call("list_workflows", "GET", f"{BASE}/workflows", key=key),
        await list_executions(api, key=key),
        await api.execute("echo_any", {}, key=key),
        await api.call("call_endpoint", "POST", f"{BASE}/endpoints/hook_echo", route={"name": "hook_echo"},
                       params={"name": "x"}, key=key),
        await api.call("list_data_providers", "GET", f"{BASE}/data-providers", key=key),
    ]
    # Then each is answered
    assert [status for status, _ in answers] == [200, 200, 200, 200, 200], answers
    # And the sixth request, on any route, is 429 with Retry-After, before the route does anything
    request = func.HttpRequest("GET", f"{BASE}/workflows", headers={"x-api-key": key}, body=b"")
    refused = await api.functions["list_workflows"](request)
    assert refused.status_code == 429 and int(refused.headers["Retry-After"]) >= 1
    assert json.loads(refused.get_body())["error"]["code"] == "rate_limited"
    status, _ = await api.execute("echo_any", {}, key=key)
    assert status == 429
    # While the admin key and another key are not held back by it
    assert (await api.call("list_workflows", "GET", f"{BASE}/workflows"))[0] == 200
    _, other = await new_key(api)
    assert (await api.call("list_workflows", "GET", f"{BASE}/workflows", key=other["secret"]))[0] == 200


async def test_a_bad_key_request_names_every_wrong_field(api: Api) -> None:
    status, body = await new_key(api, org_id="no-such-org", workflows=["echo_any", "nope"],
                                 expires_at="2001-01-01T00:00:00Z")
    assert status == 422
    assert {e["field"] for e in body["error"]["details"]} == {"org_id", "workflows.1", "expires_at"}
    status, body = await api.call("create_key", "POST", f"{BASE}/keys",
                                  body={"name": "", "expires_at": "tomorrow", "extra": 1})
    assert status == 422
    assert {e["field"] for e in body["error"]["details"]} == {"name", "expires_at", "extra"}


async def test_org_admins_manage_only_their_organizations_keys(api: Api) -> None:
    # Given two organizations, a key of each, and an admin of the first
    org_a, org_b = await new_org(api), await new_org(api)
    key_b = (await new_key(api, org_id=org_b))[1]
    admin_a = bearer(token("ann", org_a, "OrgAdmin"))
    # When the admin creates a key of its organization, Then it may; of another one or a global one, it may not
    status, key_a = await new_key(api, org_id=org_a, kw=admin_a)
    assert status == 201 and key_a["created_by"] == "ann"
    assert (await new_key(api, org_id=org_b, kw=admin_a))[0] == 403
    assert (await new_key(api, org_id=None, kw=admin_a))[0] == 403
    # And it lists its organization's keys only
    status, listed = await api.call("create_key", "GET", f"{BASE}/keys", **admin_a)
    assert status == 200 and {key["org_id"] for key in listed["items"]} == {org_a}
    # And another organization's key answers 404 to its revoke, as a missing one
    status, body = await api.call("revoke_key", "DELETE", f"{BASE}/keys/{key_b['id']}",
                                  route={"key_id": key_b["id"]}, **admin_a)
    missing = await api.call("revoke_key", "DELETE", f"{BASE}/keys/0123456789abcdef",
                             route={"key_id": "0123456789abcdef"}, **admin_a)
    assert status == missing[0] == 404 and body["error"]["code"] == missing[1]["error"]["code"]
    # And a user who is no admin may not manage keys at all
    assert (await new_key(api, org_id=org_a, kw=bearer(token("uma", org_a))))[0] == 403


# JWT users ---------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("case", "claims", "secret"), [
    ("expired", {"exp": int(time.time()) - 3600}, SECRET),
    ("not yet valid", {"nbf": int(time.time()) + 3600}, SECRET),
    ("wrong audience", {"aud": "someone-else"}, SECRET),
    ("wrong issuer", {"iss": "https://evil.test"}, SECRET),
    ("forged signature", {}, "another-secret-of-at-least-32-bytes!!"),
    ("no exp", {"exp": None}, SECRET),
])
async def test_bad_tokens_are_401(api: Api, case: str, claims: dict[str, Any], secret: str) -> None:
    org = await new_org(api)
    sent = token("alice", org, secret=secret, **claims) if claims.get("exp", 0) is not None else jwt.encode(
        {"sub": "alice", "org_id": org, "iss": "https://issuer.test", "aud": "conduit"}, secret, algorithm="HS256")
    status, body = await list_executions(api, **bearer(sent))
    assert status == 401, (case, body)
    assert body["error"]["message"].startswith("Invalid token"), body


async def test_a_valid_token_within_the_clock_skew_allowance_is_accepted(api: Api) -> None:
    org = await new_org(api)
    sent = token("alice", org, exp=int(time.time()) - 20)  # expired 20 s ago: within the 60 s leeway
    assert (await list_executions(api, **bearer(sent)))[0] == 200


async def test_users_see_their_own_executions_and_org_admins_all_of_their_organization(api: Api) -> None:
    # Given two users of one organization who each ran a workflow, and an admin of it
    org = await new_org(api)
    alice, bob, admin = (bearer(token(name, org, *roles)) for name, roles in
                         (("alice", ()), ("bob", ()), ("ann", ("OrgAdmin",))))
    status_a, ran_a = await api.execute("echo_any", {"payload": {"v": "a"}}, **alice)
    status_b, ran_b = await api.execute("echo_async", {"payload": {"v": "b"}}, **bob)
    assert (status_a, status_b) == (200, 202), (ran_a, ran_b)
    # When each lists, Then each sees only its own; the admin sees both
    listed = {name: {item["id"] for item in (await list_executions(api, **who))[1]["items"]}
              for name, who in (("alice", alice), ("bob", bob), ("admin", admin))}
    assert listed == {"alice": {ran_a["execution_id"]}, "bob": {ran_b["execution_id"]},
                      "admin": {ran_a["execution_id"], ran_b["execution_id"]}}
    # And a point read of the other's execution is 404, exactly as a missing one; its logs and cancel too
    other = await api.execution(ran_b["execution_id"], **alice)
    missing = await api.execution(str(uuid.uuid4()), **alice)
    assert other[0] == missing[0] == 404 and other[1]["error"]["code"] == missing[1]["error"]["code"]
    assert (await api.logs(ran_b["execution_id"], **alice))[0] == 404
    cancel = await api.call("cancel_execution_by_id", "POST",
                            f"{BASE}/workflows/executions/{ran_b['execution_id']}/cancel",
                            route={"execution_id": ran_b["execution_id"]}, **alice)
    assert cancel[0] == 404
    assert (await api.execution(ran_b["execution_id"], **admin))[0] == 200
    assert (await api.execution(ran_a["execution_id"], **alice))[1]["caller"]["user_id"] == "alice"


async def test_an_inactive_organization_is_403_and_x_organization_id_of_another_is_refused(api: Api) -> None:
    org, other = await new_org(api), await new_org(api)
    user = token("alice", org)
    # X-Organization-Id naming its own organization is fine; another one (existing or not) is 403, one message
    assert (await list_executions(api, **bearer(user, **{"X-Organization-Id": org})))[0] == 200
    refused = await list_executions(api, **bearer(user, **{"X-Organization-Id": other}))
    unknown = await list_executions(api, **bearer(user, **{"X-Organization-Id": "never-made"}))
    assert refused[0] == unknown[0] == 403 and refused[1] == unknown[1]
    # When the organization is deactivated, Then its users get 403
    assert (await patch_org(api, org, {"is_active": False}))[0] == 200
    status, body = await list_executions(api, **bearer(user))
    assert status == 403 and "not active" in body["error"]["message"]
    # And a token naming no organization (and no platform admin) is 403
    assert (await list_executions(api, **bearer(token("nobody", None))))[0] == 403


async def test_a_token_refused_before_its_organization_exists_is_accepted_once_it_is_created(api: Api) -> None:
    # Given a user's token for an organization nobody has created yet: refused (and that answer is cached)
    org_id = f"org-{uuid.uuid4().hex[:8]}"
    user = token("alice", org_id)
    assert (await list_executions(api, **bearer(user)))[0] == 403
    # When a platform admin creates the organization on this instance
    status, _ = await api.call("create_organization", "POST", f"{BASE}/organizations",
                               body={"id": org_id, "name": "Late"})
    assert status == 201
    # Then the same token is accepted at once, not after the cache period
    assert (await list_executions(api, **bearer(user)))[0] == 200


async def test_a_platform_admin_token_picks_any_scope(api: Api) -> None:
    org = await new_org(api)
    admin = bearer(token("root", None, "PlatformAdmin", **{}), **{"X-Organization-Id": org})
    status, ran = await api.execute("echo_any", {}, **admin)
    assert status == 200
    assert (await api.execution(ran["execution_id"], **admin))[1]["scope"] == org


async def test_the_organization_allowlist_limits_what_its_users_run(api: Api) -> None:
    # Given an organization whose admin allows one global workflow only
    org = await new_org(api)
    admin = bearer(token("ann", org, "OrgAdmin"))
    status, changed = await patch_org(api, org, {"allowed_workflows": ["echo_any"]}, **admin)
    assert status == 200 and changed["allowed_workflows"] == ["echo_any"]
    # When a user runs it, Then it runs; another workflow is refused
    user = bearer(token("alice", org))
    assert (await api.execute("echo_any", {}, **user))[0] == 200
    status, body = await api.execute("not_finite", {"which": "nan"}, **user)
    assert status == 403 and "does not allow" in body["error"]["message"]
    # And the org admin may change nothing else of its organization, nor another organization
    assert (await patch_org(api, org, {"is_active": False}, **admin))[0] == 403
    assert (await patch_org(api, await new_org(api), {"allowed_workflows": None}, **admin))[0] == 404
    # And unknown names are refused by field
    status, body = await patch_org(api, org, {"allowed_workflows": ["echo_any", "nope"]})
    assert status == 422 and [e["field"] for e in body["error"]["details"]] == ["allowed_workflows.1"]


# Easy Auth -------------------------------------------------------------------------------------------------------


def principal(user: str, org: str, *roles: str) -> str:
    claims = [{"typ": "sub", "val": user}, {"typ": "org_id", "val": org}]
    claims += [{"typ": "roles", "val": role} for role in roles]
    document = {"auth_typ": "aad", "claims": claims, "name_typ": "name", "role_typ": "roles"}
    return base64.b64encode(json.dumps(document).encode()).decode()


async def test_easy_auth_is_trusted_only_with_its_setting(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    org = await new_org(api)
    headers = {"X-MS-CLIENT-PRINCIPAL": principal("eve", org, "OrgAdmin")}
    # Without the setting the header is ignored: no credentials
    assert (await list_executions(api, key=None, headers=headers))[0] == 401
    # With it, the principal is the caller
    monkeypatch.setenv("CONDUIT_TRUST_EASY_AUTH", "true")
    status, ran = await api.execute("echo_any", {}, key=None, headers=headers)
    assert status == 200
    status, record = await api.execution(ran["execution_id"], key=None, headers=headers)
    assert status == 200 and record["caller"]["user_id"] == "eve" and record["scope"] == org


# Organizations ---------------------------------------------------------------------------------------------------


async def test_organizations_crud_and_field_errors(api: Api) -> None:
    org = await new_org(api, allowed_workflows=None)
    status, got = await api.call("get_organization", "GET", f"{BASE}/organizations/{org}",
                                 route={"organization_id": org})
    assert status == 200 and got["is_active"] is True and got["allowed_workflows"] is None
    status, listed = await api.call("create_organization", "GET", f"{BASE}/organizations")
    assert org in {item["id"] for item in listed["items"]}
    status, put = await api.call("get_organization", "PUT", f"{BASE}/organizations/{org}",
                                 route={"organization_id": org}, body={"name": "Renamed"})
    assert status == 200 and put["name"] == "Renamed"
    assert (await api.call("create_organization", "POST", f"{BASE}/organizations",
                           body={"id": org, "name": "again"}))[0] == 409
    status, body = await api.call("create_organization", "POST", f"{BASE}/organizations",
                                  body={"id": "bad id!", "name": "", "is_active": "yes"})
    assert status == 422 and {e["field"] for e in body["error"]["details"]} == {"id", "name", "is_active"}
    # Users of the organization may not manage organizations
    assert (await api.call("create_organization", "GET", f"{BASE}/organizations",
                           **bearer(token("alice", org, "OrgAdmin"))))[0] == 403
    status, _ = await api.call("get_organization", "DELETE", f"{BASE}/organizations/{org}",
                               route={"organization_id": org})
    assert status == 204
    assert (await api.call("get_organization", "GET", f"{BASE}/organizations/{org}",
                           route={"organization_id": org}))[0] == 404


def _account(connection_string: str) -> Any:
    from shared.storage.account import StorageAccount

    return StorageAccount.from_connection_string(connection_string)
