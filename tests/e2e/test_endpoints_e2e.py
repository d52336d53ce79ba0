"""Webhook endpoints over real HTTP through devhost: what a sending service sees, the client address devhost
passes on (as Azure's front end does, in X-Forwarded-For), and a per-address limit that a forged header cannot
escape."""

from __future__ import annotations

import time
import uuid

import httpx
import pytest

from shared.identity.signatures import sign_conduit
from tests.e2e.conftest import ConduitHost, ConduitHosts

SECRET = "e2e-webhook-secret"


@pytest.fixture(scope="module")
async def host(conduit_hosts_module: ConduitHosts) -> ConduitHost:
    return await conduit_hosts_module.start(env={"CONDUIT_CONFIG_E2E_HOOK_SECRET": SECRET,
                                                 "CONDUIT_PUBLIC_RATE_LIMIT_PER_MINUTE": "3"})


async def test_a_signed_form_post_runs_once_per_delivery_and_sees_the_request(host: ConduitHost) -> None:
    # Given a sender with the endpoint's secret and no API key, posting a form-encoded body with a query string
    body = b"action=closed&labels=a&labels=b"
    delivery = f"d-{uuid.uuid4().hex}"
    async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as sender:
        def headers() -> dict[str, str]:
            return {**sign_conduit(SECRET.encode(), int(time.time()), body), "X-Conduit-Delivery": delivery,
                    "Content-Type": "application/x-www-form-urlencoded", "Cookie": "sid=private"}

        first = await sender.post("/api/endpoints/e2e_hook_signed?repo=conduit", content=body, headers=headers())
        again = await sender.post("/api/endpoints/e2e_hook_signed?repo=conduit", content=body, headers=headers())
        tampered = await sender.post("/api/endpoints/e2e_hook_signed", content=body + b"&x=1", headers=headers())
        wrong_method = await sender.delete("/api/endpoints/e2e_hook_signed", headers=headers())
    # Then it ran once with the merged input and the request, without the cookie and the signature
    assert first.status_code == 200, first.text
    result = first.json()
    assert result["status"] == "Success"
    assert result["output_data"]["fields"] == {"repo": "conduit", "action": "closed", "labels": ["a", "b"]}
    trigger = result["output_data"]["trigger"]
    assert trigger["body"] == body.decode() and trigger["delivery_id"] == delivery
    assert trigger["client_address"] == "127.0.0.1"  # the peer, as devhost passes it on
    assert "cookie" not in trigger["headers"] and "x-conduit-signature" not in trigger["headers"]
    # And the redelivery answered with the same execution; a changed body and a wrong method were refused
    assert again.status_code == 200 and again.json()["execution_id"] == result["execution_id"]
    assert again.json()["duplicate"] is True
    assert tampered.status_code == 401 and tampered.json()["error"]["details"]["failed"] == "mismatch"
    assert wrong_method.status_code == 405 and wrong_method.headers["Allow"] == "OPTIONS, POST, PUT"


async def test_a_public_endpoint_limits_each_client_address(host: ConduitHost) -> None:
    # Given a limit of 3 a minute per address; this client claims other addresses in X-Forwarded-For each time
    async with httpx.AsyncClient(base_url=host.base_url, timeout=30) as anonymous:
        answers = [
            await anonymous.post("/api/endpoints/e2e_hook_public", json={},
                                 headers={"X-Forwarded-For": f"10.0.0.{n}"})
            for n in range(4)
        ]
    # Then it ran anonymous, known by its real address, and the fourth request was refused with Retry-After
    assert [a.status_code for a in answers] == [200, 200, 200, 429]
    assert answers[0].json()["output_data"] == {"caller": "anonymous", "address": "127.0.0.1"}
    assert int(answers[3].headers["Retry-After"]) >= 1
