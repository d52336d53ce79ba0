"""Mint a development JWT (HS256) for a running `make run`: `make token ARGS="--user alice --org org-a"`.

    .venv/bin/python scripts/mint_token.py --user alice [--org org-a] [--role OrgAdmin ...] [--minutes 60]

The token is signed with CONDUIT_JWT_SECRET from the environment, else from local.settings.json. When neither has one,
a fresh secret is written to local.settings.json (restart `make run` so Conduit reads it). The token carries the
issuer and audience Conduit checks (CONDUIT_JWT_ISSUER / CONDUIT_JWT_AUDIENCE, when set) and the claim names it reads
(CONDUIT_JWT_CLAIM_*). For development only: production tokens come from your identity provider.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import sys
import time
from pathlib import Path
from typing import Any

import jwt

ROOT = Path(__file__).resolve().parents[1]
SETTINGS = ROOT / "local.settings.json"
SECRET = "CONDUIT_JWT_SECRET"
ROLES = ("PlatformAdmin", "OrgAdmin", "OrgUser")


def settings() -> dict[str, str]:
    """local.settings.json's Values under the environment (as devhost reads them)."""
    values: dict[str, str] = {}
    if SETTINGS.is_file():
        values = dict(json.loads(SETTINGS.read_text(encoding="utf-8-sig")).get("Values", {}))
    return values | {name: value for name, value in os.environ.items() if name.startswith("CONDUIT_")}


def ensure_secret(values: dict[str, str]) -> tuple[str, bool]:
    """The signing secret, and whether it was just created (then written to local.settings.json)."""
    if values.get(SECRET):
        return values[SECRET], False
    if not SETTINGS.is_file():
        raise SystemExit(f"No {SECRET}: set it, or start Conduit once with `make run` (which writes {SETTINGS.name}).")
    document = json.loads(SETTINGS.read_text(encoding="utf-8-sig"))
    secret = secrets.token_urlsafe(48)
    document.setdefault("Values", {})[SECRET] = secret
    SETTINGS.write_text(json.dumps(document, indent=2) + "\n", encoding="utf-8")
    return secret, True


def claims(args: argparse.Namespace, values: dict[str, str]) -> dict[str, Any]:
    def name(setting: str, default: str) -> str:
        return values.get(f"CONDUIT_JWT_CLAIM_{setting}") or default

    now = int(time.time())
    body: dict[str, Any] = {name("USER_ID", "sub"): args.user, "iat": now, "nbf": now,
                            "exp": now + int(args.minutes * 60), name("ROLES", "roles"): args.role or []}
    body[name("EMAIL", "email")] = args.email or f"{args.user}@example.com"
    body[name("NAME", "name")] = args.name or args.user
    if args.org:
        body[name("ORG", "org_id")] = args.org
    for claim, setting in (("iss", "CONDUIT_JWT_ISSUER"), ("aud", "CONDUIT_JWT_AUDIENCE")):
        if values.get(setting):
            body[claim] = values[setting]
    return body


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--user", required=True, help="the user id (claim sub)")
    parser.add_argument("--org", help="the user's organization (claim org_id); none for a PlatformAdmin")
    parser.add_argument("--role", action="append", choices=ROLES, help="a role; repeat for several (default OrgUser)")
    parser.add_argument("--email")
    parser.add_argument("--name")
    parser.add_argument("--minutes", type=float, default=60, help="lifetime (default 60)")
    parser.add_argument("--url", default=f"http://localhost:{os.environ.get('PORT', '7071')}")
    args = parser.parse_args(argv)
    if not args.org and "PlatformAdmin" not in (args.role or []):
        parser.error("--org is required unless --role PlatformAdmin: users act in their organization")
    values = settings()
    secret, created = ensure_secret(values)
    token = jwt.encode(claims(args, values), secret, algorithm="HS256")
    if created:
        print(f"Wrote a new {SECRET} to {SETTINGS.name}; restart `make run` so Conduit accepts tokens.",
              file=sys.stderr)
    print(token)
    print(f"curl -s {args.url}/api/workflows/executions -H \"Authorization: Bearer {token}\"", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
