"""Webhook endpoints: `/api/endpoints/{name}` runs an `endpoint_enabled` workflow for another service.

One request, in this order, each step refusing with the status that fits before the next one costs anything:

1. the workflow must be an endpoint (404 `workflow_not_found` otherwise, the same answer as for a missing one);
2. the method must be one of its `allowed_methods` (405 with `Allow`; `OPTIONS` answers 204 with `Allow`);
3. the body is at most MAX_BODY_BYTES (413);
4. who may call (shared.identity.policy): a signed endpoint verifies the signature over the raw body with its
   secret — the stored GLOBAL config secret, else the app setting (shared.identity.webhook_secrets) — (401 naming
   what failed), a public one takes anyone, the others an API key;
5. the rate limit of the signed endpoint, of the client address, or of the admin key (429 with Retry-After); an
   API key's was spent when it was authenticated (shared.api.callers), as on every route;
6. the input: the query parameters merged with a JSON object or form-encoded body (the body wins), validated and
   coerced like any execution's (422 naming every field);
7. the run, through the execution service like POST /api/workflows/{name}/execute: sync 200 with the result,
   async 202 with a Location. A delivery id (the `Idempotency-Key` header, else the sender's delivery id) makes a
   redelivery answer with the first execution instead of running again.

The workflow sees the request as `context.trigger` (see `trigger_data`); the record's own `trigger` stays small.
"""

from __future__ import annotations

import base64
import os
import time
from collections.abc import Mapping
from typing import Any
from urllib.parse import parse_qs

import azure.functions as func

from shared.api.http import json_object
from shared.api.routes import ApiCall
from shared.api.submissions import submission_response
from shared.errors import BadRequestError, MethodNotAllowedError, PayloadTooLargeError, WorkflowNotFoundError
from shared.executions.service import WorkflowCall, submit
from shared.executions.services import Services
from shared.functions.registry import FunctionMetadata
from shared.identity import policy, rate_limits
from shared.identity.client_address import client_address
from shared.identity.signatures import (
    DELIVERY_BODY_FIELDS,
    DELIVERY_HEADERS,
    SIGNATURE_HEADERS,
    Check,
    Verified,
    verify,
)
from shared.identity.webhook_secrets import webhook_secret
from shared.models import GLOBAL_SCOPE

MAX_BODY_BYTES = 4 * 1024 * 1024  # stored twice at most (parsed as input, raw in trigger_data), each spilled if large
REPLAY_WINDOW_SETTING = "CONDUIT_WEBHOOK_REPLAY_WINDOW_SECONDS"
DEFAULT_REPLAY_WINDOW_SECONDS = 300
IDEMPOTENCY_HEADER = "idempotency-key"
# Credentials never reach the workflow or storage: keys, tokens, cookies, App Service authentication's headers.
CREDENTIAL_HEADERS = frozenset({"authorization", "proxy-authorization", "x-api-key", "x-functions-key", "cookie"})
CREDENTIAL_PREFIXES = ("x-ms-client-principal", "x-ms-token-")


async def answer(services: Services, call: ApiCall) -> func.HttpResponse:
    """Answer one request to `/api/endpoints/{name}` (see the module docstring for the order of the checks)."""
    request, name = call.request, call.path("name")
    endpoint = services.registry.get(name)
    if endpoint is None or not endpoint.is_workflow or not endpoint.endpoint_enabled:
        raise WorkflowNotFoundError(name)
    method = (request.method or "GET").upper()
    allow = sorted({*endpoint.allowed_methods, "OPTIONS"})
    if method == "OPTIONS":
        return func.HttpResponse(status_code=204, headers={"Allow": ", ".join(allow)})
    if method not in endpoint.allowed_methods:
        raise MethodNotAllowedError(method, request.url, allow)
    headers = {key.lower(): value for key, value in request.headers.items()}
    body = request.get_body() or b""
    if len(body) > MAX_BODY_BYTES:
        raise PayloadTooLargeError(
            f"The request body is {len(body):,} bytes; an endpoint takes at most {MAX_BODY_BYTES:,}.",
            details={"size": len(body), "limit": MAX_BODY_BYTES},
        )
    verified = await _verified(services, endpoint, headers, body)
    caller = policy.check_endpoint_access(call.caller, endpoint, key_presented=_key_presented(headers))
    address = client_address(headers)
    limit = policy.rate_limit_name(caller, endpoint, address)
    if limit is not None:
        rate_limits.check(*limit)
    query = dict(request.params)
    parsed = body_fields(headers.get("content-type", ""), body)
    delivery_id = _delivery_id(endpoint, headers, parsed)
    trigger: dict[str, Any] = {"kind": "webhook", "endpoint": name, "method": method}
    if delivery_id is not None:
        trigger["delivery_id"] = delivery_id
    submission = await submit(
        services,
        WorkflowCall(
            workflow_name=name,
            input_data={**query, **(parsed or {})},
            caller=caller,
            trigger_payload=trigger,
            delivery_id=delivery_id,
            trigger_data=trigger_data(trigger, query, headers, body, verified, address),
        ),
    )
    return submission_response(submission, caller, duplicate_outcome=policy.sees_repeated_outcome(endpoint))


def body_fields(content_type: str, body: bytes) -> dict[str, Any] | None:
    """The body's fields, merged over the query's: a JSON object, or a form-encoded body (a field given twice is a
    list). None for other content types (XML, text, multipart): the workflow reads those from `context.raw_body`."""
    media = content_type.split(";", 1)[0].strip().lower()
    if not body.strip():
        return None
    if media == "application/json" or media.endswith("+json"):
        return json_object(body)
    if media == "application/x-www-form-urlencoded":
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            raise BadRequestError("The form-encoded body is not UTF-8.") from None
        fields = parse_qs(text, keep_blank_values=True)
        return {key: values[0] if len(values) == 1 else values for key, values in fields.items()}
    return None


def trigger_data(trigger: Mapping[str, Any], query: Mapping[str, str], headers: Mapping[str, str], body: bytes,
                 verified: Verified | None, address: str) -> dict[str, Any]:
    """What the workflow sees as `context.trigger`: the small trigger plus the request, without credentials.

    The raw body is text when it is UTF-8 (`body_encoding` "utf-8"), else base64 ("base64"); `context.raw_body`
    gives the bytes either way. Signature headers are left out too (the signature was checked; within its window
    it would let whoever reads it deliver the request again) — `signature` says which scheme verified it."""
    try:
        text, encoding = body.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        text, encoding = base64.b64encode(body).decode("ascii"), "base64"
    return {
        **trigger,
        "query": dict(query),
        "headers": {name: value for name, value in headers.items() if _visible(name)},
        "body": text,
        "body_encoding": encoding,
        "content_type": headers.get("content-type"),
        "client_address": address,
        "signature": None if verified is None else {"scheme": verified.scheme, "timestamp": verified.timestamp},
    }


def _visible(header: str) -> bool:
    return (header not in CREDENTIAL_HEADERS and header not in SIGNATURE_HEADERS
            and not header.startswith(CREDENTIAL_PREFIXES))


async def _verified(services: Services, endpoint: FunctionMetadata, headers: Mapping[str, str],
                    body: bytes) -> Verified | None:
    """The verified signature of a signed endpoint's request (SignatureError otherwise); None for other endpoints."""
    if not endpoint.webhook_signature or not endpoint.webhook_secret:
        return None
    secret = await _secret(services, endpoint.webhook_secret)
    check = Check(secret, headers, body, time.time(), replay_window_seconds())
    return verify(endpoint.webhook_signature, check)


async def _secret(services: Services, name: str) -> bytes:
    """The endpoint's secret: stored config (through the engine's per-scope cache: one partition read per
    CONDUIT_CONFIG_CACHE_SECONDS, not one per call), else the app setting. A signed endpoint runs in GLOBAL
    (policy.check_endpoint_access): nothing in an unverified request could be trusted to pick an organization, so
    the secret is GLOBAL's."""
    reader = services.engine.config
    stored = None if reader is None else await reader.find(GLOBAL_SCOPE, name)
    return webhook_secret(name, stored, GLOBAL_SCOPE)


def replay_window_seconds() -> int:
    """How old (or how far ahead) a timestamped signature may be: CONDUIT_WEBHOOK_REPLAY_WINDOW_SECONDS, default 300."""
    raw = os.environ.get(REPLAY_WINDOW_SETTING, "").strip()
    return int(raw) if raw.isdigit() and int(raw) > 0 else DEFAULT_REPLAY_WINDOW_SECONDS


def _key_presented(headers: Mapping[str, str]) -> bool:
    return bool((headers.get("authorization") or "").strip() or (headers.get("x-api-key") or "").strip())


def _delivery_id(
    endpoint: FunctionMetadata, headers: Mapping[str, str], fields: Mapping[str, Any] | None
) -> str | None:
    """The id that makes a redelivery run nothing again: `Idempotency-Key`, else the endpoint's delivery header
    (`webhook_delivery_header`, else its scheme's: X-GitHub-Delivery, X-Conduit-Delivery), else the scheme's body
    field (a Stripe event's `id`, a Slack event's `event_id`). None: every request runs."""
    scheme = endpoint.webhook_signature or ""
    header = endpoint.webhook_delivery_header or DELIVERY_HEADERS.get(scheme)
    for name in (IDEMPOTENCY_HEADER, header):
        value = (headers.get(name.lower()) or "").strip() if name else ""
        if value:
            return value
    field = DELIVERY_BODY_FIELDS.get(scheme)
    found = fields.get(field) if field and fields else None
    return found if isinstance(found, str) and found else None
