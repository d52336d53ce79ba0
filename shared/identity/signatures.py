"""Signed webhooks: the request is accepted only when its sender's HMAC-SHA256 over the RAW body verifies.

One verifier per scheme, each the sender's own documented format:

| scheme | headers | signed text | replay window |
|---|---|---|---|
| github | `X-Hub-Signature-256: sha256=<hex>` | `<body>` | none (GitHub signs no time; use its delivery id) |
| stripe | `Stripe-Signature: t=<ts>,v1=<hex>[,v1=<hex>...]` | `<t>.<body>` | yes |
| slack | `X-Slack-Request-Timestamp: <ts>`, `X-Slack-Signature: v0=<hex>` | `v0:<ts>:<body>` | yes |
| conduit | `X-Conduit-Timestamp: <ts>`, `X-Conduit-Signature: v1=<hex>[,v1=<hex>...]` | `<ts>.<body>` | yes |

Every comparison is `hmac.compare_digest`, so the time taken says nothing about how much of a signature matched.
A failure is a `SignatureError` (401) saying WHAT failed (missing header, bad format, outside the window, mismatch);
it never carries the expected signature, nor the secret's setting. Timestamps are Unix seconds; one further than
the window from now, in the past or the future, is refused (a clock that runs ahead is no licence to replay later).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from shared.errors import SignatureError

_HEX64 = re.compile(r"^[0-9a-fA-F]{64}$")
_TIMESTAMP = re.compile(r"^[0-9]{1,12}$")

# The header carrying the sender's delivery id, per scheme: the same id on a redelivery runs nothing again.
# Stripe and Slack put it in the JSON body instead (`id` of a Stripe event, `event_id` of a Slack event).
DELIVERY_HEADERS = {"github": "x-github-delivery", "conduit": "x-conduit-delivery"}
DELIVERY_BODY_FIELDS = {"stripe": "id", "slack": "event_id"}
# Headers that carry a signature: verified here, then kept from the workflow and from storage (within the window
# they would let whoever reads them deliver the same request again).
SIGNATURE_HEADERS = frozenset({"x-hub-signature-256", "x-hub-signature", "stripe-signature", "x-slack-signature",
                               "x-conduit-signature"})


@dataclass(frozen=True)
class Verified:
    """A request whose signature verified: its scheme and, for timestamped schemes, the signed time."""

    scheme: str
    timestamp: int | None = None


@dataclass(frozen=True)
class Check:
    """What to verify: the secret, the request's headers (lower-case names) and raw body, the clock and window."""

    secret: bytes
    headers: Mapping[str, str]
    body: bytes
    now: float
    window_seconds: int

    def header(self, name: str) -> str:
        value = (self.headers.get(name.lower()) or "").strip()
        if not value:
            raise SignatureError(f"Missing signature header {name}.", details={"failed": "missing_header",
                                                                               "header": name})
        return value

    def timestamp(self, name: str, text: str) -> int:
        if not _TIMESTAMP.match(text):
            raise _bad_format(name, "the timestamp must be Unix seconds")
        stamp = int(text)
        age = self.now - stamp
        if abs(age) > self.window_seconds:
            when = f"{int(age)} s old" if age > 0 else f"{int(-age)} s in the future"
            raise SignatureError(
                f"The request's timestamp ({name}) is {when}; requests are accepted within {self.window_seconds} s "
                f"of being signed (replayed or sent from a clock that is off).",
                details={"failed": "outside_replay_window", "header": name, "window_seconds": self.window_seconds},
            )
        return stamp

    def match(self, name: str, signed: bytes, candidates: list[str]) -> None:
        """One of `candidates` (hex) is the HMAC-SHA256 of `signed`; each compared in constant time."""
        expected = hmac.new(self.secret, signed, hashlib.sha256).hexdigest()
        matched = False
        for candidate in candidates:
            matched |= hmac.compare_digest(candidate.lower().encode(), expected.encode())
        if not matched:
            raise SignatureError(
                f"The signature in {name} does not match the request (wrong secret, or a body changed on the way).",
                details={"failed": "mismatch", "header": name},
            )


def verify(scheme: str, check: Check) -> Verified:
    """Verify a request by `scheme`'s rules; SignatureError naming what failed."""
    return _VERIFIERS[scheme](check)


def _github(check: Check) -> Verified:
    name = "X-Hub-Signature-256"
    value = check.header(name)
    prefix, _, digest = value.partition("=")
    if prefix != "sha256" or not _HEX64.match(digest):
        raise _bad_format(name, "expected sha256=<64 hex digits>")
    check.match(name, check.body, [digest])
    return Verified("github")


def _stripe(check: Check) -> Verified:
    name = "Stripe-Signature"
    pairs = [item.strip().partition("=") for item in check.header(name).split(",")]
    stamps = [value for key, _, value in pairs if key == "t"]
    digests = [value for key, _, value in pairs if key == "v1"]
    if len(stamps) != 1 or not digests or not all(_HEX64.match(d) for d in digests):
        raise _bad_format(name, "expected t=<timestamp>,v1=<64 hex digits>[,v1=...]")
    stamp = check.timestamp(name, stamps[0])
    check.match(name, f"{stamps[0]}.".encode() + check.body, digests)
    return Verified("stripe", stamp)


def _slack(check: Check) -> Verified:
    name, time_name = "X-Slack-Signature", "X-Slack-Request-Timestamp"
    value, stamp_text = check.header(name), check.header(time_name)
    prefix, _, digest = value.partition("=")
    if prefix != "v0" or not _HEX64.match(digest):
        raise _bad_format(name, "expected v0=<64 hex digits>")
    stamp = check.timestamp(time_name, stamp_text)
    check.match(name, f"v0:{stamp_text}:".encode() + check.body, [digest])
    return Verified("slack", stamp)


def _conduit(check: Check) -> Verified:
    name, time_name = "X-Conduit-Signature", "X-Conduit-Timestamp"
    value, stamp_text = check.header(name), check.header(time_name)
    pairs = [item.strip().partition("=") for item in value.split(",")]
    if not all(key == "v1" and _HEX64.match(digest) for key, _, digest in pairs):
        raise _bad_format(name, "expected v1=<64 hex digits>[,v1=...]")
    stamp = check.timestamp(time_name, stamp_text)
    check.match(name, f"{stamp_text}.".encode() + check.body, [digest for _, _, digest in pairs])
    return Verified("conduit", stamp)


def sign_conduit(secret: bytes, timestamp: int, body: bytes) -> dict[str, str]:
    """The headers a sender adds to sign `body` with Conduit's scheme (for senders written in Python, and tests)."""
    digest = hmac.new(secret, f"{timestamp}.".encode() + body, hashlib.sha256).hexdigest()
    return {"X-Conduit-Timestamp": str(timestamp), "X-Conduit-Signature": f"v1={digest}"}


def _bad_format(name: str, expected: str) -> SignatureError:
    return SignatureError(f"The signature header {name} is malformed: {expected}.",
                          details={"failed": "bad_format", "header": name})


_VERIFIERS: dict[str, Callable[[Check], Verified]] = {
    "github": _github,
    "stripe": _stripe,
    "slack": _slack,
    "conduit": _conduit,
}
