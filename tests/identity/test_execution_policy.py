"""Who may cancel an execution or deliver an event to a waiting one: the policy's rule, with constructed callers.

The event route (`POST .../executions/{id}/events/{name}`) arrives with DAG executions; its rule is decided now, the
same as cancel's, so that the route cannot be added with another one."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from shared.errors import ExecutionNotFoundError
from shared.identity import policy
from shared.models import ORG_ADMIN, ORG_USER, PLATFORM_ADMIN, Caller, ExecutionRecord, ExecutionStatus

RECORD = ExecutionRecord("e-1", "org-a", "wf", ExecutionStatus.RUNNING, caller={"user_id": "alice", "kind": "user"})


def user(user_id: str, org: str, role: str = ORG_USER) -> Caller:
    return Caller(user_id=user_id, scope=org, organization_id=org, kind="user", roles=frozenset({role}))


PLATFORM = Caller(user_id="root", is_platform_admin=True, scope="org-a", roles=frozenset({PLATFORM_ADMIN}),
                  kind="user")


@pytest.mark.parametrize("rule", [policy.check_may_cancel, policy.check_may_deliver_event])
@pytest.mark.parametrize(("caller", "allowed"), [
    (user("alice", "org-a"), True),  # its own
    (user("albert", "org-a"), False),  # another user of the organization
    (user("ann", "org-a", ORG_ADMIN), True),  # the organization's admin: all its executions
    (PLATFORM, True),
    (Caller(user_id="key:abc", scope="org-a", organization_id="org-a", kind="api_key",
            roles=frozenset({ORG_USER})), False),  # an organization's API key: its own executions only
])
def test_own_user_org_admins_and_platform_admins_only(
    rule: Callable[[Caller, ExecutionRecord], None], caller: Caller, allowed: bool
) -> None:
    # Given an execution of alice in org-a, When the caller asks to act on it, Then the rule allows or answers 404
    if allowed:
        rule(caller, RECORD)
    else:
        with pytest.raises(ExecutionNotFoundError) as refused:
            rule(caller, RECORD)
        assert refused.value.code == "execution_not_found"  # exactly a missing execution's answer


def test_an_admin_of_another_scope_gets_404() -> None:
    # Given alice's execution in org-a, When org-b's admin (or a platform admin acting in org-b) asks to act on
    # it, Then it is missing for them: the rule checks the scope, not only the partition it was read from
    for caller in (user("bea", "org-b", ORG_ADMIN), Caller(user_id="root", is_platform_admin=True, scope="org-b")):
        for rule in (policy.check_sees_execution, policy.check_may_cancel, policy.check_may_deliver_event):
            with pytest.raises(ExecutionNotFoundError):
                rule(caller, RECORD)


def test_debug_detail_is_for_admins() -> None:
    assert policy.sees_debug_detail(PLATFORM) and policy.sees_debug_detail(user("ann", "org-a", ORG_ADMIN))
    assert not policy.sees_debug_detail(user("alice", "org-a")) and not policy.sees_debug_detail(None)


def test_a_user_id_shared_by_two_kinds_of_caller_owns_nothing_of_the_other() -> None:
    # Given an execution of organization A started with the bootstrap admin key (user id "admin")
    from shared.models import ExecutionRecord, ExecutionStatus

    admin_key = Caller(user_id="admin", is_platform_admin=True, scope="org-a")
    record = ExecutionRecord(id="e1", scope="org-a", workflow_name="w", status=ExecutionStatus.SUCCESS,
                             caller=admin_key.to_dict())
    # And a user of A whose token's sub happens to be "admin"
    user = Caller(user_id="admin", kind="user", roles=frozenset({"OrgUser"}), organization_id="org-a",
                  scope="org-a")
    # Then the user does not own it: reading it is a 404, and its listing filter names the user's kind
    with pytest.raises(ExecutionNotFoundError):
        policy.check_sees_execution(user, record)
    assert policy.execution_owner_filter(user) == "user:admin" != record.owner_id
