"""Who sees and runs a form: the policy's rules, and the service applying them to users who are not admins."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from shared.errors import ForbiddenError, FormNotFoundError
from shared.forms.model import Form
from shared.forms.service import FormService
from shared.identity import policy
from shared.models import GLOBAL_SCOPE, Caller

ADMIN = Caller(user_id="admin", is_platform_admin=True)


def user(scope: str, *roles: str) -> Caller:
    return Caller(user_id=f"user-{uuid.uuid4().hex[:4]}", scope=scope, roles=frozenset(roles))


def form(**changes: Any) -> Form:
    document = {
        "id": f"f-{uuid.uuid4().hex[:8]}", "name": "Trip", "linked_workflow": "form_book_trip", "fields": [
            {"name": "traveller", "type": "text", "required": True},
            {"name": "region", "type": "select", "required": True, "data_provider": "form_regions"},
            {"name": "town", "type": "select", "required": True, "data_provider": "form_towns",
             "data_provider_inputs": {"region": {"mode": "field_ref", "field": "region"}}},
        ],
    }
    return Form.model_validate(document | changes)


@pytest.mark.parametrize(("caller", "owner", "active", "access", "roles", "sees"), [
    (user("org-a"), "org-a", True, "authenticated", (), True),
    (user("org-a"), GLOBAL_SCOPE, True, "authenticated", (), True),  # global forms: every organization's users
    (user("org-b"), "org-a", True, "authenticated", (), False),  # another organization's form does not exist
    (user("org-a"), "org-a", False, "authenticated", (), False),  # inactive: 404 to all but admins
    (Caller("admin", is_platform_admin=True, scope="org-a"), "org-a", False, "authenticated", (), True),
    (user("org-a", "hr"), "org-a", True, "roles", ("hr", "it"), True),
    (user("org-a", "sales"), "org-a", True, "roles", ("hr", "it"), False),
    (user("org-a", "hr"), GLOBAL_SCOPE, True, "roles", ("hr",), True),
])
def test_who_sees_a_form(caller: Caller, owner: str, active: bool, access: Any, roles: tuple[str, ...],
                         sees: bool) -> None:
    # Given a form owned by `owner`, When the policy is asked, Then it answers as the issue says
    assert policy.sees_form(caller, owner, is_active=active, access_level=access, roles=frozenset(roles)) is sees


def test_forms_run_in_the_submitters_scope_when_global() -> None:
    assert policy.form_run_scope(user("org-a"), GLOBAL_SCOPE) == "org-a"
    assert policy.form_run_scope(user("org-a"), "org-a") == "org-a"


async def test_only_admins_create_change_or_delete(form_service: FormService) -> None:
    # Given a user who is not an admin, When they try to manage forms, Then each is refused
    someone = user("org-a")
    with pytest.raises(ForbiddenError):
        await form_service.create(someone, form())
    with pytest.raises(ForbiddenError):
        await form_service.update(someone, "x", form(), "*")
    with pytest.raises(ForbiddenError):
        await form_service.delete(someone, "x")


async def test_an_inactive_form_is_not_found_for_users_but_is_for_admins(form_service: FormService) -> None:
    # Given an inactive form of organization org-a
    org_admin = Caller("admin", is_platform_admin=True, scope="org-a")
    created = await form_service.create(org_admin, form(is_active=False))
    form_id = created.form.id
    # When a user of org-a reads, lists or submits it, Then it does not exist for them
    member = user("org-a")
    with pytest.raises(FormNotFoundError):
        await form_service.get(member, form_id)
    assert form_id not in [f.form.id for f in await form_service.list(member)]
    with pytest.raises(FormNotFoundError):
        await form_service.submit(member, form_id, {"traveller": "Ada", "region": "de", "town": "berlin"})
    # But the admin sees it
    assert (await form_service.get(org_admin, form_id)).form.is_active is False


async def test_a_roles_form_is_for_holders_of_a_role_of_its_organization(form_service: FormService) -> None:
    # Given a roles form of org-a for role hr
    created = await form_service.create(Caller("admin", is_platform_admin=True, scope="org-a"),
                                        form(access_level="roles", roles=["hr"]))
    form_id = created.form.id
    # Then an hr user of org-a gets it, others (another role, another organization) do not
    assert (await form_service.get(user("org-a", "hr"), form_id)).form.id == form_id
    for outsider in (user("org-a", "sales"), user("org-b", "hr")):
        with pytest.raises(FormNotFoundError):
            await form_service.get(outsider, form_id)


async def test_a_user_submits_a_global_form_and_it_runs_in_their_organization(form_service: FormService) -> None:
    # Given a global form
    created = await form_service.create(ADMIN, form())
    member = user("org-c")
    # When a user of org-c submits it
    submission = await form_service.submit(member, created.form.id, {"traveller": "Ada", "region": "de",
                                                                      "town": "hamburg"})
    # Then it ran in org-c, and is recorded there as this form's execution
    assert submission.result is not None and submission.result.result["scope"] == "org-c"
    record = await form_service.services.store.get("org-c", submission.execution_id)
    assert record is not None and record.trigger == {"kind": "form", "form_id": created.form.id}
    assert record.caller["user_id"] == member.user_id
