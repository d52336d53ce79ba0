"""Who is calling, for the route table: the bootstrap admin key first (it needs no storage, so it works while the
runtime cannot start), then this loop's `Authenticator` (shared.identity.authenticator)."""

from __future__ import annotations

import azure.functions as func

from shared.errors import ForbiddenError, UnauthorizedError
from shared.identity import auth
from shared.identity.settings import AuthSettings
from shared.models import Caller
from shared.runtime import get_authenticator


async def authenticate(request: func.HttpRequest) -> Caller:
    """The request's caller; 401 / 403 saying what is wrong."""
    credential = auth.presented_key(request.headers)
    if credential is not None and auth.is_admin_key(credential, AuthSettings.from_env().admin_key):
        return auth.admin_caller(request.headers)
    authenticator = await get_authenticator()
    return await authenticator.authenticate(request.headers, client_address(request))


async def optional_caller(request: func.HttpRequest) -> Caller | None:
    """The caller when the request carries valid credentials, else None (public routes that show admins more).
    A request without any credentials never touches storage."""
    try:
        if not _carries_credentials(request):
            return None
        return await authenticate(request)
    except (UnauthorizedError, ForbiddenError):
        return None


def _carries_credentials(request: func.HttpRequest) -> bool:
    headers = request.headers
    return bool(headers.get("authorization") or headers.get("x-api-key") or headers.get("x-ms-client-principal"))


def client_address(request: func.HttpRequest) -> str | None:
    """The client's address as the front end reports it (the first X-Forwarded-For entry), if any."""
    forwarded = request.headers.get("x-forwarded-for") or ""
    first = forwarded.split(",")[0].strip()
    return first or None
