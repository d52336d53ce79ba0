"""The address a request came from, for limits on anonymous callers.

A Python function never sees the TCP peer: the Functions host hands over the method, URL, headers and body only.
Azure's front end puts the peer it saw into `X-Forwarded-For` (appending it to whatever the client sent), and
devhost does the same, so the address is read from that header — from its RIGHT end: the entries on the left were
written by the client, who could send a new one with every request and so escape any per-address limit. The entry
CONDUIT_PROXY_HOPS places from the right is the client (default 1: the front end's own entry); set 2 when another
proxy that appends its peer, such as Azure Front Door or Application Gateway, stands in front of the app.

Ports are dropped (`203.0.113.7:51234` -> `203.0.113.7`, `[2001:db8::1]:443` -> `2001:db8::1`). A request without
the header (a direct call to the function object) is `unknown`, and all such share one address.
"""

from __future__ import annotations

import ipaddress
import os
from collections.abc import Mapping

HOPS_SETTING = "CONDUIT_PROXY_HOPS"
UNKNOWN = "unknown"


def client_address(headers: Mapping[str, str]) -> str:
    """The client's address as the trusted proxies saw it; `unknown` without X-Forwarded-For."""
    entries = [entry.strip() for entry in (headers.get("x-forwarded-for") or "").split(",") if entry.strip()]
    if not entries:
        return UNKNOWN
    hops = _hops()
    entry = entries[-hops] if len(entries) >= hops else entries[0]
    return _without_port(entry)


def _hops() -> int:
    try:
        return max(1, int(os.environ.get(HOPS_SETTING, "1")))
    except ValueError:
        return 1


def _without_port(entry: str) -> str:
    if entry.startswith("["):  # [v6]:port
        return entry[1:].partition("]")[0] or UNKNOWN
    for candidate in (entry, entry.rpartition(":")[0]):
        try:
            return str(ipaddress.ip_address(candidate))
        except ValueError:
            continue
    return entry[:64]  # not an address (a proxy's obfuscated name): still a stable bucket name
