"""Signature schemes against the senders' own documented examples and formats, without HTTP."""

from __future__ import annotations

import hashlib
import hmac

import pytest

from shared.errors import SignatureError
from shared.identity.signatures import Check, sign_conduit, verify


def check(headers: dict[str, str], body: bytes, secret: bytes = b"It's a Secret to Everybody", now: float = 0,
          window: int = 300) -> Check:
    return Check(secret, {k.lower(): v for k, v in headers.items()}, body, now, window)


def test_githubs_documented_example_verifies() -> None:
    # Given GitHub's documented test values (docs: "Validating webhook deliveries")
    body = b"Hello, World!"
    header = "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17"
    # Then it verifies, and an upper-case digest does too (hex is case-insensitive)
    assert verify("github", check({"X-Hub-Signature-256": header}, body)).scheme == "github"
    assert verify("github", check({"X-Hub-Signature-256": "sha256=" + header[7:].upper()}, body))


def test_stripe_accepts_any_of_several_v1_signatures_within_the_window() -> None:
    secret, body, t = b"whsec_test", b'{"id":"evt_1"}', 1_700_000_000
    good = hmac.new(secret, f"{t}.".encode() + body, hashlib.sha256).hexdigest()
    header = f"t={t},v1={'0' * 64},v1={good},v0={'1' * 64}"  # during a secret roll Stripe sends one per secret
    verified = verify("stripe", check({"Stripe-Signature": header}, body, secret, now=t + 299))
    assert (verified.scheme, verified.timestamp) == ("stripe", t)
    with pytest.raises(SignatureError, match="301 s old"):
        verify("stripe", check({"Stripe-Signature": header}, body, secret, now=t + 301))


def test_slack_signs_the_version_the_timestamp_and_the_body() -> None:
    secret, body, ts = b"8f742231b10e8888abcd99yyyzzz85a5", b"token=xyz&team_id=T1", "1531420618"
    digest = hmac.new(secret, f"v0:{ts}:".encode() + body, hashlib.sha256).hexdigest()
    headers = {"X-Slack-Signature": f"v0={digest}", "X-Slack-Request-Timestamp": ts}
    assert verify("slack", check(headers, body, secret, now=int(ts) + 10)).timestamp == int(ts)
    with pytest.raises(SignatureError) as refused:  # the timestamp is part of what is signed
        verify("slack", check({**headers, "X-Slack-Request-Timestamp": str(int(ts) + 1)}, body, secret,
                              now=int(ts) + 10))
    assert refused.value.details["failed"] == "mismatch"


def test_conduits_scheme_round_trips_and_every_failure_names_what_failed() -> None:
    secret, body = b"s3cret", b'{"a":1}'
    headers = sign_conduit(secret, 1_000, body)
    assert verify("conduit", check(headers, body, secret, now=1_000)).timestamp == 1_000
    cases = {
        "missing_header": ({"X-Conduit-Signature": headers["X-Conduit-Signature"]}, body),
        "bad_format": ({**headers, "X-Conduit-Timestamp": "soon"}, body),
        "mismatch": (headers, b'{"a":2}'),
    }
    for failed, (sent, sent_body) in cases.items():
        with pytest.raises(SignatureError) as refused:
            verify("conduit", check(sent, sent_body, secret, now=1_000))
        assert refused.value.details["failed"] == failed
        assert headers["X-Conduit-Signature"][3:] not in refused.value.message


def test_the_openssl_recipe_in_the_readme_signs_what_conduit_verifies() -> None:
    # Given the README's shell recipe: printf '%s.%s' "$ts" "$body" | openssl dgst -sha256 -hmac "$secret"
    import shutil
    import subprocess

    if shutil.which("openssl") is None:
        pytest.fail("openssl is needed to check the README's recipe")
    secret, ts, body = "s3cret", "1700000000", '{"event":"build.finished","id":42}'
    out = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", secret], input=f"{ts}.{body}".encode(),
                         capture_output=True, check=True).stdout.decode()
    digest = out.strip().split()[-1]
    headers = {"X-Conduit-Timestamp": ts, "X-Conduit-Signature": f"v1={digest}"}
    assert verify("conduit", check(headers, body.encode(), secret.encode(), now=int(ts))).scheme == "conduit"
