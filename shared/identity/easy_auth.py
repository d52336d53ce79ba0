"""App Service authentication ("Easy Auth"): the front end signs the user in and passes who it is in
`X-MS-CLIENT-PRINCIPAL` (base64 JSON: `auth_typ`, `claims` [{typ, val}], `name_typ`, `role_typ`).

Anyone can send that header to an app that is not behind App Service authentication, so it is read only when
`CONDUIT_TRUST_EASY_AUTH=true` says the front end strips and sets it; otherwise it is ignored.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping
from typing import Any

from shared.errors import UnauthorizedError
from shared.identity.settings import ClaimNames
from shared.identity.tokens import Identity, identity_from_claims

PRINCIPAL_HEADER = "x-ms-client-principal"
PRINCIPAL_ID_HEADER = "x-ms-client-principal-id"
# What Entra ID puts in the principal's claims for the tenant and object ids (App Service's long claim names).
_LONG_NAMES = {
    "tid": "http://schemas.microsoft.com/identity/claims/tenantid",
    "oid": "http://schemas.microsoft.com/identity/claims/objectidentifier",
}


def principal_identity(headers: Mapping[str, str], names: ClaimNames) -> Identity | None:
    """The user App Service signed in, or None when the request carries no principal."""
    raw = headers.get(PRINCIPAL_HEADER)
    if not raw:
        return None
    try:
        principal = json.loads(base64.b64decode(raw, validate=False))
    except (binascii.Error, ValueError):
        raise UnauthorizedError("Invalid X-MS-CLIENT-PRINCIPAL: it is not base64 JSON.") from None
    if not isinstance(principal, dict):
        raise UnauthorizedError("Invalid X-MS-CLIENT-PRINCIPAL: it is not a JSON object.")
    claims = _claims(principal)
    if names.user_id not in claims and headers.get(PRINCIPAL_ID_HEADER):
        claims[names.user_id] = headers[PRINCIPAL_ID_HEADER]
    return identity_from_claims(claims, names)


def _claims(principal: dict[str, Any]) -> dict[str, Any]:
    """{claim type: value, or [values] when repeated}; the principal's role claims also under `roles`, and Entra's
    long claim names also under their short ones."""
    found: dict[str, Any] = {}
    role_type = principal.get("role_typ") or "roles"
    for claim in principal.get("claims") or []:
        if not isinstance(claim, dict) or not isinstance(claim.get("typ"), str):
            continue
        kind, value = claim["typ"], claim.get("val")
        for name in {kind, "roles" if kind == role_type else kind}:
            _add(found, name, value)
    for short, long in _LONG_NAMES.items():
        if short not in found and long in found:
            found[short] = found[long]
    return found


def _add(found: dict[str, Any], name: str, value: Any) -> None:
    if name not in found:
        found[name] = [value] if name == "roles" else value
    elif isinstance(found[name], list):
        found[name].append(value)
    else:
        found[name] = [found[name], value]
