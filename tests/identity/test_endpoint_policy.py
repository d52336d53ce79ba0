"""Who may call a webhook endpoint, decided with the Callers the caller contract describes (API keys limited to
workflows, organization keys, global keys, the bootstrap admin key, users) before their authentication exists."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from shared.errors import ForbiddenError, UnauthorizedError
from shared.identity.policy import check_endpoint_access, rate_limit_name, request_rate_limit
from shared.models import GLOBAL_SCOPE, ORG_USER, Caller


@dataclass(frozen=True)
class Endpoint:
    name: str = "sync_tickets"
    public_endpoint: bool = False
    disable_global_key: bool = False
    webhook_signature: str | None = None


ADMIN = Caller(user_id="admin", is_platform_admin=True)  # kind "admin_key", the bootstrap key
GLOBAL_KEY = Caller(user_id="key:ci", kind="api_key", key_id="k-global")
ORG_KEY = Caller(user_id="key:acme", kind="api_key", key_id="k-acme", organization_id="acme", scope="acme")
SCOPED = Caller(user_id="key:tickets", kind="api_key", key_id="k-t", workflows=frozenset({"sync_tickets"}),
                organization_id="acme", scope="acme")
OTHER = Caller(user_id="key:other", kind="api_key", key_id="k-o", workflows=frozenset({"send_mail"}))
USER = Caller(user_id="u-1", kind="user", organization_id="acme", scope="acme", roles=frozenset({ORG_USER}))


def test_keys_that_may_call_an_ordinary_endpoint_run_as_themselves_in_their_scope() -> None:
    # Given an endpoint with no special rules
    # Then a key limited to it, an organization's key, a global key and the admin key may call it, each as itself
    for caller in (SCOPED, ORG_KEY, GLOBAL_KEY, ADMIN):
        assert check_endpoint_access(caller, Endpoint()) is caller
    assert check_endpoint_access(ORG_KEY, Endpoint()).scope == "acme"


def test_a_key_limited_to_other_workflows_is_refused() -> None:
    with pytest.raises(ForbiddenError, match="limited to other workflows"):
        check_endpoint_access(OTHER, Endpoint())


def test_disable_global_key_admits_only_keys_limited_to_the_workflow() -> None:
    locked = Endpoint(disable_global_key=True)
    assert check_endpoint_access(SCOPED, locked) is SCOPED
    for caller in (ORG_KEY, GLOBAL_KEY, ADMIN):
        with pytest.raises(ForbiddenError, match="disable_global_key"):
            check_endpoint_access(caller, locked)
    with pytest.raises(ForbiddenError):
        check_endpoint_access(OTHER, locked)


def test_a_users_token_is_no_api_key() -> None:
    with pytest.raises(ForbiddenError, match="takes an API key"):
        check_endpoint_access(USER, Endpoint())


def test_without_a_caller_the_answer_says_whether_a_key_was_missing_or_wrong() -> None:
    with pytest.raises(UnauthorizedError, match="Missing API key"):
        check_endpoint_access(None, Endpoint())
    with pytest.raises(UnauthorizedError, match="Invalid API key"):
        check_endpoint_access(None, Endpoint(), key_presented=True)


def test_public_and_signed_endpoints_run_anonymous_in_global_whatever_key_is_sent() -> None:
    for endpoint in (Endpoint(public_endpoint=True), Endpoint(webhook_signature="github"),
                     Endpoint(public_endpoint=True, webhook_signature="stripe", disable_global_key=True)):
        for caller in (None, ORG_KEY, OTHER):
            runs_as = check_endpoint_access(caller, endpoint)
            assert (runs_as.kind, runs_as.scope, runs_as.is_platform_admin) == ("anonymous", GLOBAL_SCOPE, False)


def test_each_request_counts_against_the_limit_of_its_key_its_signed_endpoint_or_its_address() -> None:
    # An API key counts once per request on every route (when authenticated), so the endpoint adds no second count
    assert request_rate_limit(ORG_KEY) == ("key", "key:k-acme")
    assert rate_limit_name(ORG_KEY, Endpoint(), "203.0.113.1") is None
    # The admin key is limited on endpoints only; people with tokens are not limited per request
    assert request_rate_limit(ADMIN) is None and request_rate_limit(Caller(user_id="ada", kind="user")) is None
    assert rate_limit_name(ADMIN, Endpoint(), "203.0.113.1") == ("key", "key:admin")
    signed = Endpoint(webhook_signature="slack")
    assert rate_limit_name(check_endpoint_access(None, signed), signed, "x") == ("key", "endpoint:sync_tickets")
    public = Endpoint(public_endpoint=True)
    assert rate_limit_name(check_endpoint_access(None, public), public, "203.0.113.1") == (
        "public", "address:203.0.113.1")
