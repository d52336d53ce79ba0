"""Who is calling, for the route table: the bootstrap admin key first (it needs no storage, so it works while the
runtime cannot start), then this loop's `Authenticator` (shared.identity.authenticator). An API key's request is
counted against its rate limit here, once, whichever route it calls."""

from __future__ import annotations

import azure.functions as func

from shared.errors import ForbiddenError, UnauthorizedError
from shared.identity import auth, policy, rate_limits
from shared.identity.settings import AuthSettings
from shared.models import Caller
from shared.runtime import get_authenticator


async def authenticate(request: func.HttpRequest) -> Caller:
    """The request's caller; 401 / 403 saying what is wrong, 429 (with Retry-After) when an API key has spent its
    limit — counted here, on every route, in process (shared.identity.rate_limits: no storage request)."""
    credential = auth.presented_key(request.headers)
    if credential is not None and auth.is_admin_key(credential, AuthSettings.from_env().admin_key):
        return auth.admin_caller(request.headers)
    authenticator = await get_authenticator()
    caller = await authenticator.authenticate(request.headers, client_address(request))
    limit = policy.request_rate_limit(caller)
    if limit is not None:
        rate_limits.check(*limit)
    return caller


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
