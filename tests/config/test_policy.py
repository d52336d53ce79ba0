"""Who may manage config: platform admins in every scope, an organization's admins in their own only (policy)."""

from __future__ import annotations

import pytest

from shared.errors import ForbiddenError
from shared.identity import policy
from shared.models import GLOBAL_SCOPE, ORG_ADMIN, ORG_USER, PLATFORM_ADMIN, Caller

PLATFORM = Caller(user_id="p", is_platform_admin=True, roles=frozenset({PLATFORM_ADMIN}), kind="user")
ADMIN_KEY = Caller(user_id="admin", is_platform_admin=True)  # the bootstrap admin key
ORG_A_ADMIN = Caller(user_id="a", scope="org-a", organization_id="org-a", roles=frozenset({ORG_ADMIN}), kind="user")
ORG_A_USER = Caller(user_id="u", scope="org-a", organization_id="org-a", roles=frozenset({ORG_USER}), kind="user")
ORG_A_KEY = Caller(user_id="key", scope="org-a", organization_id="org-a", kind="api_key", key_id="k1")
ANONYMOUS = Caller(user_id="anonymous", kind="anonymous")
ADMIN_ROLE_NO_ORG = Caller(user_id="x", roles=frozenset({ORG_ADMIN}), kind="user")  # an OrgAdmin of no organization


@pytest.mark.parametrize(("caller", "scope", "allowed"), [
    (PLATFORM, GLOBAL_SCOPE, True),
    (PLATFORM, "org-a", True),
    (ADMIN_KEY, "org-b", True),
    (ORG_A_ADMIN, "org-a", True),
    (ORG_A_ADMIN, "org-b", False),
    (ORG_A_ADMIN, GLOBAL_SCOPE, False),
    (ORG_A_USER, "org-a", False),
    (ORG_A_KEY, "org-a", False),
    (ANONYMOUS, GLOBAL_SCOPE, False),
    (ADMIN_ROLE_NO_ORG, GLOBAL_SCOPE, False),
])
def test_check_config_admin(caller: Caller, scope: str, allowed: bool) -> None:
    if allowed:
        policy.check_config_admin(caller, scope)
    else:
        with pytest.raises(ForbiddenError, match="Only admins may manage config"):
            policy.check_config_admin(caller, scope)


def test_listing_shows_a_platform_admin_the_global_fallbacks_and_an_org_admin_its_own_only() -> None:
    in_org = Caller(user_id="p", is_platform_admin=True, scope="org-a")
    assert policy.config_list_scopes(in_org) == ("org-a", GLOBAL_SCOPE)
    assert policy.config_list_scopes(PLATFORM) == (GLOBAL_SCOPE,)
    assert policy.config_list_scopes(ORG_A_ADMIN) == ("org-a",)
    with pytest.raises(ForbiddenError):
        policy.config_list_scopes(ORG_A_USER)
