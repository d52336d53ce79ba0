"""Webhook endpoints through function_app's HTTP function objects, on real Azurite: methods, input, access,
signatures, redelivery and rate limits, as another service calling `/api/endpoints/{name}` would see them."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

import azure.functions as func
import pytest

from shared.identity.signatures import sign_conduit
from shared.runtime import get_runtime
from shared.storage.config import ConfigStore
from shared.storage.secret_box import KEY_SETTING, SecretBox, generate_key
from tests.http.conftest import ADMIN_KEY, Api

SECRETS = {
    "github": "gh-secret-for-tests",
    "stripe": "whsec_stripe-secret-for-tests",
    "slack": "slack-secret-for-tests",
    "conduit": "conduit-secret-for-tests",
}


@pytest.fixture(autouse=True)
def secrets(monkeypatch: pytest.MonkeyPatch) -> None:
    for scheme, secret in SECRETS.items():
        monkeypatch.setenv(f"CONDUIT_CONFIG_TEST_{scheme.upper()}_SECRET", secret)


class Answer:
    def __init__(self, response: func.HttpResponse) -> None:
        self.status = response.status_code
        self.headers = response.headers
        self.text = response.get_body().decode()
        self.body: Any = json.loads(self.text) if self.text else None


async def hook(
    api: Api,
    name: str,
    method: str = "POST",
    *,
    body: Any = None,
    raw: bytes | None = None,
    params: dict[str, str] | None = None,
    headers: dict[str, str] | None = None,
    key: str | None = ADMIN_KEY,
    content_type: str | None = "application/json",
) -> Answer:
    sent = dict(headers or {})
    if content_type is not None:
        sent.setdefault("Content-Type", content_type)
    if key is not None:
        sent["x-api-key"] = key
    payload = raw if raw is not None else (json.dumps(body).encode() if body is not None else b"")
    request = func.HttpRequest(method, f"http://localhost/api/endpoints/{name}", headers=sent, params=params or {},
                               route_params={"name": name}, body=payload)
    return Answer(await api.functions["call_endpoint"](request))


async def executions_of(api: Api, workflow: str, headers: dict[str, str] | None = None) -> list[dict]:
    _, page = await api.call("list_execution_page", "GET", "http://x/api/workflows/executions",
                             params={"limit": "100", "workflow_id": workflow}, headers=headers)
    return page["items"]


def org() -> dict[str, str]:
    """A fresh scope (the admin key acts in it), so counts of executions concern this test only."""
    return {"X-Organization-Id": f"org-hook-{uuid.uuid4().hex[:8]}"}


def address() -> str:
    return f"198.51.100.{uuid.uuid4().int % 250 + 1}"


# --- methods -------------------------------------------------------------------------------------------------------

async def test_a_method_outside_the_workflows_allowed_methods_is_405_with_its_allow(api: Api) -> None:
    # Given hook_echo, which takes GET, POST and PUT, and hook_public, which takes POST only
    # When each is called with a method it does not take
    for name, method, allow in (("hook_echo", "DELETE", "GET, OPTIONS, POST, PUT"),
                                ("hook_echo", "PATCH", "GET, OPTIONS, POST, PUT"),
                                ("hook_public", "GET", "OPTIONS, POST")):
        answer = await hook(api, name, method, params={"name": "x"})
        # Then the answer is 405 with that workflow's own methods in Allow and in the error
        assert answer.status == 405, (name, method, answer.text)
        assert answer.headers["Allow"] == allow
        assert answer.body["error"]["code"] == "method_not_allowed"
        assert answer.body["error"]["details"]["allowed"] == allow.split(", ")
    # And OPTIONS answers 204 with the same Allow; HEAD (which would run a workflow) is not taken, and has no body
    options = await hook(api, "hook_echo", "OPTIONS")
    assert options.status == 204 and options.headers["Allow"] == "GET, OPTIONS, POST, PUT"
    head = await hook(api, "hook_echo", "HEAD")
    assert head.status == 405 and head.text == ""
    # And each allowed method runs it
    for method in ("GET", "POST", "PUT"):
        answer = await hook(api, "hook_echo", method, params={"name": "m"})
        assert answer.status == 200 and answer.body["output_data"]["trigger"]["method"] == method


async def test_a_workflow_that_is_no_endpoint_answers_exactly_as_a_missing_one(api: Api) -> None:
    # Given `refuse`, a workflow that is not endpoint_enabled, and a name nothing is registered under
    not_endpoint = await hook(api, "refuse", params={"reason": "x"})
    missing = await hook(api, "refuse_not_there", params={"reason": "x"})
    # Then both are 404 with the same code and the same message but for the name
    assert not_endpoint.status == missing.status == 404
    assert not_endpoint.body["error"]["code"] == missing.body["error"]["code"] == "workflow_not_found"
    assert not_endpoint.body["error"]["message"].replace("'refuse'", "'refuse_not_there'") == \
        missing.body["error"]["message"]
    # And that is so for any method, before anything else is checked (no key needed to learn nothing)
    assert (await hook(api, "refuse", "DELETE", key=None)).status == 404


# --- input ---------------------------------------------------------------------------------------------------------

async def test_query_parameters_and_a_json_body_merge_and_the_body_wins(api: Api) -> None:
    # When the query says name=query, count=2 and the JSON body says name=body
    answer = await hook(api, "hook_echo", params={"name": "query", "count": "2"}, body={"name": "body"})
    # Then the workflow got the body's name and the query's count, coerced to an int
    assert answer.status == 200 and answer.body["status"] == "Success"
    assert answer.body["output_data"]["inputs"] == {"name": "body", "count": 2, "tags": None}


async def test_a_form_encoded_body_merges_too_and_a_repeated_field_is_a_list(api: Api) -> None:
    # When a form-encoded body (as Slack and GitHub can send) names name and tags twice, and the query a count
    answer = await hook(api, "hook_echo", params={"count": "3", "name": "query"}, raw=b"name=Ada+L&tags=a&tags=b",
                        content_type="application/x-www-form-urlencoded")
    # Then the form's fields win over the query's, and the repeated field is a list
    assert answer.status == 200, answer.text
    assert answer.body["output_data"]["inputs"] == {"name": "Ada L", "count": 3, "tags": ["a", "b"]}


async def test_invalid_input_is_one_422_naming_every_field_and_nothing_is_stored(api: Api) -> None:
    # Given a fresh scope
    scope = org()
    # When the input lacks name, has a count that is no number and a field the workflow does not take
    answer = await hook(api, "hook_echo", params={"count": "many"}, body={"colour": "red"}, headers=scope)
    # Then one 422 names all three, and no execution was recorded
    assert answer.status == 422
    assert {d["field"] for d in answer.body["error"]["details"]} == {"name", "count", "colour"}
    assert await executions_of(api, "hook_echo", scope) == []


async def test_a_body_that_is_not_a_json_object_is_400(api: Api) -> None:
    for raw in (b"{not json", b"[1, 2]"):
        answer = await hook(api, "hook_echo", params={"name": "x"}, raw=raw)
        assert answer.status == 400 and answer.body["error"]["code"] == "bad_request"


async def test_the_workflow_sees_the_raw_body_and_the_headers_without_credentials(api: Api) -> None:
    # Given a body with its own spacing and key order, and credential headers besides ordinary ones
    scope = org()
    raw = b'{ "name" : "Ada",\n  "count": "4" }'
    headers = {**scope, "Cookie": "session=abc", "X-Custom": "kept", "X-Forwarded-For": "203.0.113.9:4431",
               "X-MS-CLIENT-PRINCIPAL": "e30="}
    # When it is posted with the admin key
    answer = await hook(api, "hook_echo", params={"tags": "x,y"}, raw=raw, headers=headers)
    assert answer.status == 200, answer.text
    trigger = answer.body["output_data"]["trigger"]
    # Then the workflow saw the exact bytes, the method, the query and the headers without any credential
    assert base64.b64decode(answer.body["output_data"]["raw_b64"]) == raw
    assert trigger["body"] == raw.decode() and trigger["body_encoding"] == "utf-8"
    assert (trigger["kind"], trigger["endpoint"], trigger["method"]) == ("webhook", "hook_echo", "POST")
    assert trigger["query"] == {"tags": "x,y"} and trigger["client_address"] == "203.0.113.9"
    assert trigger["headers"]["x-custom"] == "kept"
    assert not {"x-api-key", "cookie", "authorization", "x-ms-client-principal"} & set(trigger["headers"])
    # And the stored execution's trigger is small: no body, no headers, no key
    status, record = await api.execution(answer.body["execution_id"], headers=scope)
    assert status == 200 and record["trigger"] == {"kind": "webhook", "endpoint": "hook_echo", "method": "POST"}
    assert "session=abc" not in json.dumps(record) and ADMIN_KEY not in json.dumps(record)


async def test_an_async_endpoint_answers_202_and_its_queued_run_sees_the_request(api: Api, run_queue) -> None:
    # Given a body that is not UTF-8, posted to an async endpoint
    scope = org()
    raw = b"\xff\x00binary\xfe"
    answer = await hook(api, "hook_queued", params={"source": "q"}, raw=raw, content_type="application/octet-stream",
                        headers=scope)
    # Then it is 202 with a Location, like POST /api/workflows/{name}/execute
    assert answer.status == 202 and answer.body["status"] == "Pending"
    execution_id = answer.body["execution_id"]
    assert answer.headers["Location"] == f"/api/workflows/executions/{execution_id}"
    # When the queue runs it
    await run_queue()
    status, record = await api.execution(execution_id, headers=scope)
    # Then the queued run saw the same request: the bytes (as base64), the query as input, no key
    assert status == 200 and record["status"] == "Success", record
    seen = record["output_data"]
    assert base64.b64decode(seen["raw_b64"]) == raw and seen["trigger"]["body_encoding"] == "base64"
    assert seen["inputs"] == {"source": "q"} and "x-api-key" not in seen["trigger"]["headers"]
    assert record["trigger"]["kind"] == "webhook" and "body" not in record["trigger"]


async def test_a_failing_workflow_is_200_with_status_failed(api: Api) -> None:
    answer = await hook(api, "hook_fails", body={"any": 1})
    assert answer.status == 200
    assert (answer.body["status"], answer.body["error_message"]) == ("Failed", "the payload was refused")


# --- access --------------------------------------------------------------------------------------------------------

async def test_an_api_key_endpoint_refuses_a_missing_or_wrong_key(api: Api) -> None:
    missing = await hook(api, "hook_echo", params={"name": "x"}, key=None)
    wrong = await hook(api, "hook_echo", params={"name": "x"}, key="not-the-key")
    assert (missing.status, wrong.status) == (401, 401)
    assert missing.body["error"]["message"].startswith("Missing API key")
    assert wrong.body["error"]["message"] == "Invalid API key."


async def test_disable_global_key_refuses_the_admin_key(api: Api) -> None:
    # Given hook_locked (disable_global_key=True): only a key limited to it may call it
    answer = await hook(api, "hook_locked", body={})
    # Then the bootstrap admin key, which is not limited to workflows, is refused
    assert answer.status == 403 and "disable_global_key" in answer.body["error"]["message"]


async def test_a_public_endpoint_runs_anonymous_in_global_and_is_limited_per_address(
    api: Api, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Given a limit of 2 requests a minute per client address
    monkeypatch.setenv("CONDUIT_PUBLIC_RATE_LIMIT_PER_MINUTE", "2")
    client, other = address(), f"203.0.113.{uuid.uuid4().int % 250 + 1}"
    # When one address calls twice without a key (and once with the admin key: a public endpoint ignores keys)
    first = await hook(api, "hook_public", body={}, key=None, headers={"X-Forwarded-For": f"{client}:1234"})
    second = await hook(api, "hook_public", body={}, headers={"X-Forwarded-For": client})
    # Then both ran anonymous, in GLOBAL scope
    assert (first.status, second.status) == (200, 200)
    assert first.body["output_data"] == second.body["output_data"] == {"caller": "anonymous", "scope": "GLOBAL"}
    # When it calls a third time, even claiming another address on the left of X-Forwarded-For
    third = await hook(api, "hook_public", body={}, key=None, headers={"X-Forwarded-For": f"10.9.8.7, {client}"})
    # Then it is 429 with a whole number of seconds in Retry-After
    assert third.status == 429 and third.body["error"]["code"] == "rate_limited"
    assert 1 <= int(third.headers["Retry-After"]) <= 30
    # And another address is not affected
    assert (await hook(api, "hook_public", body={}, key=None, headers={"X-Forwarded-For": other})).status == 200


async def test_an_api_key_is_rate_limited(api: Api, monkeypatch: pytest.MonkeyPatch) -> None:
    # Given a limit of 3 requests a minute per key, spread over 1 instance
    monkeypatch.setenv("CONDUIT_RATE_LIMIT_PER_MINUTE", "3")
    answers = [await hook(api, "hook_echo", params={"name": "x"}) for _ in range(4)]
    # Then the fourth request of the key is refused with Retry-After
    assert [a.status for a in answers] == [200, 200, 200, 429]
    assert int(answers[3].headers["Retry-After"]) >= 1


# --- signatures ----------------------------------------------------------------------------------------------------

def _hex(secret: str, text: bytes) -> str:
    return hmac.new(secret.encode(), text, hashlib.sha256).hexdigest()


def signed(scheme: str, body: bytes, *, secret: str | None = None, at: int | None = None) -> dict[str, str]:
    """The headers `scheme`'s sender adds to `body`."""
    secret = secret or SECRETS[scheme]
    at = int(time.time()) if at is None else at
    if scheme == "github":
        return {"X-Hub-Signature-256": f"sha256={_hex(secret, body)}"}
    if scheme == "stripe":
        return {"Stripe-Signature": f"t={at},v1={_hex(secret, f'{at}.'.encode() + body)}"}
    if scheme == "slack":
        digest = _hex(secret, f"v0:{at}:".encode() + body)
        return {"X-Slack-Request-Timestamp": str(at), "X-Slack-Signature": f"v0={digest}"}
    return sign_conduit(secret.encode(), at, body)


SCHEMES = ("github", "stripe", "slack", "conduit")
SIGNATURE_HEADER = {"github": "X-Hub-Signature-256", "stripe": "Stripe-Signature", "slack": "X-Slack-Signature",
                    "conduit": "X-Conduit-Signature"}


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_valid_signature_runs_the_workflow_without_an_api_key(api: Api, scheme: str) -> None:
    body = json.dumps({"id": f"evt_{uuid.uuid4().hex}", "action": "opened"}).encode()
    answer = await hook(api, f"hook_{scheme}", raw=body, headers=signed(scheme, body), key=None)
    assert answer.status in (200, 202), answer.text
    if scheme != "conduit":  # hook_conduit is async
        assert answer.body["status"] == "Success"
        trigger = answer.body["output_data"]["trigger"]
        assert trigger["signature"]["scheme"] == scheme
        assert not {h.lower() for h in SIGNATURE_HEADER.values()} & set(trigger["headers"])


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_wrong_secret_or_a_changed_body_is_401_mismatch_without_the_expected_signature(
    api: Api, scheme: str
) -> None:
    body = b'{"action": "opened", "n": 1}'
    wrong_secret = await hook(api, f"hook_{scheme}", raw=body, headers=signed(scheme, body, secret="guess"), key=None)
    tampered = await hook(api, f"hook_{scheme}", raw=body.replace(b"1", b"2"), headers=signed(scheme, body),
                          key=None)
    for answer in (wrong_secret, tampered):
        assert answer.status == 401 and answer.body["error"]["code"] == "invalid_signature"
        assert answer.body["error"]["details"]["failed"] == "mismatch"
        assert answer.headers["WWW-Authenticate"]
    # And the answer never carries the signature that would have matched (nor the secret)
    expected = signed(scheme, body.replace(b"1", b"2"))[SIGNATURE_HEADER[scheme]]
    digest = expected.split("v1=")[-1].split("v0=")[-1].split("sha256=")[-1]
    assert digest not in tampered.text and SECRETS[scheme] not in tampered.text


@pytest.mark.parametrize("scheme", ("stripe", "slack", "conduit"))
async def test_a_request_replayed_outside_the_window_is_401(api: Api, scheme: str) -> None:
    body = b'{"action": "old"}'
    old = await hook(api, f"hook_{scheme}", raw=body, headers=signed(scheme, body, at=int(time.time()) - 301),
                     key=None)
    ahead = await hook(api, f"hook_{scheme}", raw=body, headers=signed(scheme, body, at=int(time.time()) + 400),
                       key=None)
    for answer in (old, ahead):
        assert answer.status == 401 and answer.body["error"]["details"]["failed"] == "outside_replay_window"
    assert "300 s" in old.body["error"]["message"]


@pytest.mark.parametrize("scheme", SCHEMES)
async def test_a_missing_or_malformed_signature_header_is_401_naming_it(api: Api, scheme: str) -> None:
    body = b'{"action": "x"}'
    headers = signed(scheme, body)
    header = SIGNATURE_HEADER[scheme]
    missing = await hook(api, f"hook_{scheme}", raw=body, headers={k: v for k, v in headers.items() if k != header},
                         key=ADMIN_KEY)  # a key is no substitute for the signature
    malformed = await hook(api, f"hook_{scheme}", raw=body, headers={**headers, header: "md5=abc"}, key=None)
    assert missing.status == 401 and missing.body["error"]["details"] == {"failed": "missing_header",
                                                                          "header": header}
    assert malformed.status == 401 and malformed.body["error"]["details"]["failed"] == "bad_format"


async def test_a_signed_endpoint_without_its_secret_configured_accepts_nothing(api: Api) -> None:
    body = b"{}"
    answer = await hook(api, "hook_unconfigured", raw=body, headers=signed("conduit", body), key=None)
    assert answer.status == 500 and answer.body["error"]["code"] == "webhook_secret_missing"
    assert "CONDUIT_CONFIG" not in answer.text


async def put_secret(api: Api, key: str, value: str) -> None:
    status, body = await api.call("get_config", "PUT", f"http://localhost/api/config/{key}", route={"key": key},
                                  body={"type": "secret", "value": value})
    assert status == 200 and body["is_secret"] is True and body["value"] is None, body


@pytest.fixture
async def stored_secret_key(api: Api, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    """Secrets encrypted with a key of this test's deployment; no app setting for hook_stored's config key; the
    stored secret deleted afterwards (left encrypted with this key, `make rotate-secrets` tests would find it
    unreadable)."""
    monkeypatch.setenv(KEY_SETTING, generate_key())
    monkeypatch.delenv("CONDUIT_CONFIG_TEST_STORED_SECRET", raising=False)
    yield "test_stored_secret"
    await api.call("get_config", "DELETE", "http://localhost/api/config/test_stored_secret",
                   route={"key": "test_stored_secret"})


async def test_a_secret_stored_with_put_api_config_signs_and_rotates_without_a_read_per_call(
    api: Api, monkeypatch: pytest.MonkeyPatch, storage_connection_string: str, stored_secret_key: str
) -> None:
    # Given an instance keeping config 1 s, and hook_stored, signed with GitHub's scheme by the config key
    # test_stored_secret, which no app setting holds
    reader = (await get_runtime()).engine.config
    assert reader is not None
    monkeypatch.setattr(reader, "ttl", 1.0)
    first, second, third = (f"stored-{n}-{uuid.uuid4().hex}" for n in ("one", "two", "three"))
    body = json.dumps({"action": "opened"}).encode()
    # When an admin stores the secret through /api/config (type secret, global)
    await put_secret(api, stored_secret_key, first)
    answer = await hook(api, "hook_stored", raw=body, headers=signed("github", body, secret=first), key=None)
    # Then a delivery signed with it runs the workflow; one signed otherwise is refused
    assert answer.status == 200 and answer.body["status"] == "Success", answer.text
    wrong = await hook(api, "hook_stored", raw=body, headers=signed("github", body, secret="guess"), key=None)
    assert wrong.status == 401 and wrong.body["error"]["details"]["failed"] == "mismatch"
    # And more deliveries within the cache period cost no storage request: the scope's config was read once
    reads = reader.reads
    for _ in range(5):
        again = await hook(api, "hook_stored", raw=body, headers=signed("github", body, secret=first), key=None)
        assert again.status == 200
    assert reader.reads == reads
    # And the secret is nowhere in the execution: not in its record, its trigger or its logs
    status, record = await api.execution(answer.body["execution_id"])
    _, logs = await api.logs(answer.body["execution_id"])
    assert status == 200 and record["trigger"]["endpoint"] == "hook_stored"
    assert first not in json.dumps(record) + json.dumps(logs) + answer.text
    # When the secret is rotated with PUT on this instance, Then the new one verifies at once and the old one not
    await put_secret(api, stored_secret_key, second)
    old = await hook(api, "hook_stored", raw=body, headers=signed("github", body, secret=first), key=None)
    assert old.status == 401
    assert (await hook(api, "hook_stored", raw=body, headers=signed("github", body, secret=second),
                       key=None)).status == 200
    # When another instance rotates it (a write this instance's cache is not told about)
    store = ConfigStore.from_connection_string(storage_connection_string)
    try:
        await store.put("GLOBAL", stored_secret_key, "secret", third, "admin", SecretBox.from_env())
    finally:
        await store.close()
    # Then this instance verifies with the new secret within its cache period (polled, generous bound)
    deadline = time.monotonic() + 10
    while (await hook(api, "hook_stored", raw=body, headers=signed("github", body, secret=third),
                      key=None)).status != 200:
        assert time.monotonic() < deadline, "the rotated secret was never used"
        await asyncio.sleep(0.2)


async def test_a_webhook_secret_stored_as_a_plain_value_is_refused_not_used(api: Api) -> None:
    # Given the key of a signed endpoint stored as a plain string (readable by admins, never masked)
    status, _ = await api.call("get_config", "PUT", "http://localhost/api/config/test_never_set",
                               route={"key": "test_never_set"}, body={"type": "string", "value": "plain-text-123"})
    assert status == 200
    try:
        # When a delivery signed with that value arrives
        body = b"{}"
        answer = await hook(api, "hook_unconfigured", raw=body,
                            headers=signed("conduit", body, secret="plain-text-123"), key=None)
        # Then it is refused as unconfigured, and the answer names no setting
        assert answer.status == 500 and answer.body["error"]["code"] == "webhook_secret_missing"
        assert "plain-text-123" not in answer.text
    finally:
        await api.call("get_config", "DELETE", "http://localhost/api/config/test_never_set",
                       route={"key": "test_never_set"})


# --- redelivery ----------------------------------------------------------------------------------------------------

async def test_a_redelivered_github_event_answers_with_the_first_sync_run(api: Api) -> None:
    # Given a GitHub delivery, and the same delivery sent again (GitHub's "Redeliver": same X-GitHub-Delivery)
    delivery = str(uuid.uuid4())
    body = json.dumps({"action": "opened", "delivery": delivery}).encode()
    headers = {**signed("github", body), "X-GitHub-Delivery": delivery}
    before = len(await executions_of(api, "hook_github"))
    first = await hook(api, "hook_github", raw=body, headers=headers, key=None)
    again = await hook(api, "hook_github", raw=body, headers=headers, key=None)
    # Then the first ran (200 Success) and the second answers with the same execution and outcome, marked duplicate
    assert first.status == again.status == 200
    assert first.body["status"] == again.body["status"] == "Success"
    assert again.body["execution_id"] == first.body["execution_id"] and again.body["duplicate"] is True
    assert again.body["output_data"] == first.body["output_data"]
    # And one execution exists, whose trigger records the delivery id
    runs = await executions_of(api, "hook_github")
    assert len(runs) == before + 1
    status, record = await api.execution(first.body["execution_id"])
    assert status == 200 and record["trigger"]["delivery_id"] == delivery


async def test_a_redelivered_stripe_event_is_known_by_its_event_id(api: Api) -> None:
    # Given a Stripe event delivered twice: Stripe signs each attempt anew, with a new timestamp
    event = {"id": f"evt_{uuid.uuid4().hex}", "type": "invoice.paid"}
    body = json.dumps(event).encode()
    first = await hook(api, "hook_stripe", raw=body, headers=signed("stripe", body, at=int(time.time()) - 5),
                       key=None)
    again = await hook(api, "hook_stripe", raw=body, headers=signed("stripe", body), key=None)
    assert first.status == again.status == 200
    assert again.body["execution_id"] == first.body["execution_id"] and again.body.get("duplicate") is True


async def test_a_redelivered_async_delivery_is_one_execution(api: Api, run_queue) -> None:
    delivery = f"d-{uuid.uuid4().hex}"
    body = b'{"n": 1}'
    before = len(await executions_of(api, "hook_conduit"))
    answers = [await hook(api, "hook_conduit", raw=body, headers={**signed("conduit", body),
                                                                  "X-Conduit-Delivery": delivery}, key=None)
               for _ in range(3)]
    assert [a.status for a in answers] == [202, 202, 202]
    assert len({a.body["execution_id"] for a in answers}) == 1
    assert [bool(a.body.get("duplicate")) for a in answers] == [False, True, True]
    await run_queue()
    runs = await executions_of(api, "hook_conduit")
    assert len(runs) == before + 1 and runs[0]["status"] == "Success"


async def test_concurrent_deliveries_with_one_idempotency_key_run_once(api: Api) -> None:
    # Given a fresh scope and five requests carrying the same Idempotency-Key, sent at once to a sync endpoint
    scope = org()
    headers = {**scope, "Idempotency-Key": f"k-{uuid.uuid4().hex}"}
    answers = await asyncio.gather(*(hook(api, "hook_delivered", body={"n": i}, headers=headers) for i in range(5)))
    # Then exactly one execution ran; every answer names it (finished: 200, still running: 202)
    ids = {a.body["execution_id"] for a in answers}
    assert len(ids) == 1 and {a.status for a in answers} <= {200, 202}
    assert sum(1 for a in answers if not a.body.get("duplicate")) == 1
    assert len(await executions_of(api, "hook_delivered", scope)) == 1


async def test_the_endpoints_own_delivery_header_and_different_ids_run_separately(api: Api) -> None:
    scope = org()
    one = await hook(api, "hook_delivered", body={"n": 1}, headers={**scope, "X-Delivery": "a"})
    same = await hook(api, "hook_delivered", body={"n": 1}, headers={**scope, "X-Delivery": "a"})
    other = await hook(api, "hook_delivered", body={"n": 1}, headers={**scope, "X-Delivery": "b"})
    assert one.body["execution_id"] == same.body["execution_id"] != other.body["execution_id"]
    assert len(await executions_of(api, "hook_delivered", scope)) == 2


async def test_on_a_public_endpoint_a_repeated_key_learns_the_execution_but_not_its_outcome(api: Api) -> None:
    # Given a public endpoint run with an Idempotency-Key that someone else later repeats
    key, client = f"order-{uuid.uuid4().hex}", {"X-Forwarded-For": address()}
    first = await hook(api, "hook_public", body={}, key=None, headers={**client, "Idempotency-Key": key})
    repeat = await hook(api, "hook_public", body={}, key=None, headers={"X-Forwarded-For": address(),
                                                                        "Idempotency-Key": key})
    # Then the first got its result; the repeat names the same execution (nothing ran again) without its output
    assert first.status == 200 and first.body["output_data"]["caller"] == "anonymous"
    assert repeat.status == 202 and repeat.body == {"execution_id": first.body["execution_id"],
                                                    "status": "Success", "duplicate": True}
    assert repeat.headers["Location"] == f"/api/workflows/executions/{first.body['execution_id']}"
